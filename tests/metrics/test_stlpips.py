"""ST-LPIPS: the offline perceptual metric and loss (weights from the stlpips-pytorch wheel)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rdpflex.errors import WeightsMissingError
from rdpflex.metrics import compute_image_metrics
from rdpflex.metrics.stlpips import STLPIPS, build_stlpips, stlpips_loss
from rdpflex.metrics.weights import STLPIPS_ALEX, sha256_of


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    from skimage import data

    img = torch.from_numpy(data.astronaut()[128:256, 160:288].copy()).permute(2, 0, 1)[None]
    return img.float() / 255.0


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = 4
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k, groups=3)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.transpose(2, 3), groups=3)


def noisy(x: torch.Tensor, std: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (x + std * torch.randn(x.shape, generator=g)).clamp(0, 1)


def test_the_shipped_file_is_the_official_one_and_found_offline(empty_home):
    path = STLPIPS_ALEX.resolve()
    assert path.name == "alex_shift_tolerant.pth" and "stlpips_pytorch" in str(path)
    assert sha256_of(path) == STLPIPS_ALEX.sha256
    assert STLPIPS().stand_in is False


def test_identical_images_give_zero_and_blur_and_noise_raise_it(empty_home, photo):
    res = compute_image_metrics(photo, photo.clone(), ["st-lpips"])["st-lpips"]
    assert res.value == pytest.approx(0.0, abs=1e-7) and res.label == "ST-LPIPS" and not res.stand_in
    m = STLPIPS()
    mild, strong = m.compute(photo, blur(photo, 0.8)), m.compute(photo, blur(photo, 1.5))
    assert 0.01 < mild < strong
    assert 0.005 < m.compute(photo, noisy(photo, 0.02)) < m.compute(photo, noisy(photo, 0.05))


def test_equals_the_packages_own_class(empty_home, photo):
    from stlpips_pytorch import stlpips

    state = torch.load(STLPIPS_ALEX.resolve(), map_location="cpu", weights_only=True)
    ref = stlpips.LPIPS(net="alex", variant="shift_tolerant", pretrained=False, verbose=False)
    ref.load_state_dict(state, strict=False)
    ref.eval()
    x_hat = blur(photo, 1.0)
    q = lambda t: torch.floor(t * 255 + 0.5).clamp(0, 255) / 255  # noqa: E731 - the metric's 8-bit step
    with torch.no_grad():
        expected = float(ref(q(photo), q(x_hat), normalize=True))
    assert STLPIPS().compute(photo, x_hat) == pytest.approx(expected, rel=1e-5)


def test_the_loss_is_differentiable_per_example(photo):
    loss = stlpips_loss()
    x_hat = blur(photo, 1.0).repeat(2, 1, 1, 1).requires_grad_(True)
    d = loss(photo.repeat(2, 1, 1, 1), x_hat)
    assert d.shape == (2,) and bool((d > 0).all())
    d.sum().backward()
    assert x_hat.grad is not None and float(x_hat.grad.abs().sum()) > 0


def test_a_missing_or_foreign_weight_file_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RDPFLEX_STLPIPS_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsMissingError, match="missing.pth") as info:
        build_stlpips()
    assert "\n" not in str(info.value)
    other = tmp_path / "other.pth"
    state = torch.load(STLPIPS_ALEX.default_path(), map_location="cpu", weights_only=True)
    torch.save({k: v + 0.01 for k, v in state.items()}, other)
    monkeypatch.setenv("RDPFLEX_STLPIPS_WEIGHTS", str(other))
    res = compute_image_metrics(photo_like(), photo_like() * 0.9, ["st-lpips"])["st-lpips"]
    assert res.stand_in and res.label == "ST-LPIPS (stand-in weights)" and not math.isnan(res.value)


def photo_like() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand((1, 3, 64, 64), generator=g)
