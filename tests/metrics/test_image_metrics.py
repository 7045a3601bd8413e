"""PSNR, MS-SSIM and LPIPS against direct computations with the underlying libraries."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from rdpflex.metrics import (
    PSNR_CAP_DB,
    MetricValue,
    compute_image_metrics,
    get_metric,
    quantize,
)

from .helpers import distort, to_tensor, u8_image


@pytest.fixture(scope="module")
def pair():
    a = u8_image(176, 200, seed=1)
    b = distort(a, seed=2)
    return a, b


def test_psnr_matches_numpy_formula(pair):
    a, b = pair
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    expected = 10 * np.log10(255.0**2 / mse)
    got = get_metric("psnr").compute(to_tensor(a), to_tensor(b))
    assert got == pytest.approx(expected, rel=1e-12)


def test_psnr_quantises_to_8_bits_first():
    x = torch.full((1, 3, 8, 8), 100 / 255)
    x_hat = x + 0.3 / 255  # rounds back to 100
    assert get_metric("psnr").compute(x, x_hat) == PSNR_CAP_DB
    assert torch.equal(
        quantize(torch.tensor([0.5 / 255, 1.49 / 255, -1.0, 2.0])), torch.tensor([1, 1, 0, 255], dtype=torch.uint8)
    )


def test_psnr_of_identical_images_is_capped_with_a_note(pair):
    x = to_tensor(pair[0])
    res = compute_image_metrics(x, x.clone(), ["psnr"])["psnr"]
    assert res.value == PSNR_CAP_DB and math.isfinite(res.value)
    assert any("MSE 0" in n for n in res.notes)


def test_ms_ssim_matches_pytorch_msssim(pair):
    from pytorch_msssim import ms_ssim

    a, b = pair
    ta = torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).float()
    tb = torch.from_numpy(b).permute(2, 0, 1).unsqueeze(0).float()
    expected = float(ms_ssim(ta, tb, data_range=255, size_average=True))
    got = get_metric("ms_ssim").compute(to_tensor(a), to_tensor(b))
    assert got == pytest.approx(expected, abs=1e-7)
    assert 0.5 < got < 1.0


@pytest.mark.parametrize("size", [(160, 400), (400, 160), (64, 64)])
def test_ms_ssim_small_image_is_nan_with_a_note(size):
    a = u8_image(*size, seed=3)
    b = distort(a, seed=4)
    raw = get_metric("ms_ssim").compute(to_tensor(a), to_tensor(b))
    assert isinstance(raw, MetricValue) and math.isnan(raw) and "160" in raw.notes[0]
    res = compute_image_metrics(to_tensor(a), to_tensor(b), ["psnr", "ms_ssim"])
    assert res["ms_ssim"].skipped and "shorter side" in res["ms_ssim"].notes[0]
    assert math.isfinite(res["psnr"].value)
    assert res["ms_ssim"].to_dict()["value"] is None


def test_ms_ssim_just_above_the_limit_is_computed():
    a = u8_image(161, 170, seed=5)
    assert math.isfinite(get_metric("ms_ssim").compute(to_tensor(a), to_tensor(distort(a, 6))))


def _direct_lpips(alexnet_path):
    """lpips.LPIPS(net='alex', pnet_rand=True) with the AlexNet file loaded by hand (independent mapping)."""
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    sd = torch.load(alexnet_path, map_location="cpu", weights_only=True)
    target = model.net.state_dict()
    mapped = {}
    for key in target:  # "slice2.3.weight" <- "features.3.weight"
        _, idx, pname = key.split(".")
        mapped[key] = sd[f"features.{idx}.{pname}"]
    model.net.load_state_dict(mapped, strict=True)
    return model.eval()


def test_lpips_equals_direct_lpips_with_the_same_alexnet(stand_in_home, pair):
    from rdpflex.metrics.weights import ALEXNET

    a, b = pair
    x, x_hat = to_tensor(a), to_tensor(b)
    direct = _direct_lpips(ALEXNET.default_path())
    with torch.no_grad():
        expected = float(direct(x, x_hat, normalize=True))  # [0,1] -> [-1,1] inside lpips
    res = compute_image_metrics(x, x_hat, ["lpips"])["lpips"]
    assert res.value == expected
    assert res.value > 0
    assert compute_image_metrics(x, x.clone(), ["lpips"])["lpips"].value == pytest.approx(0.0, abs=1e-7)
    # stand-in weights are labelled as such
    assert res.stand_in is True and res.label == "LPIPS (stand-in weights)"


def test_lpips_weights_argument_overrides_the_cache(stand_in_dir, empty_home, pair):
    from rdpflex.metrics.weights import ALEXNET

    path = stand_in_dir / "hub" / "checkpoints" / ALEXNET.file_name
    x, x_hat = to_tensor(pair[0]), to_tensor(pair[1])
    res = compute_image_metrics(x, x_hat, ["lpips"], alexnet_weights=path)["lpips"]
    assert res.value > 0 and res.stand_in


def test_shape_errors_are_clear(pair):
    x = to_tensor(pair[0])
    with pytest.raises(ValueError, match="differ in size"):
        get_metric("psnr").compute(x, x[..., :-1])
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        get_metric("psnr").compute(x[:, :1], x[:, :1])


def test_image_and_set_metrics_are_not_mixed_up(pair):
    from rdpflex.errors import RdpflexError

    x = to_tensor(pair[0])
    with pytest.raises(RdpflexError, match="compute_set_metrics"):
        compute_image_metrics(x, x, ["psnr", "fid"])


def test_detail_ratio_blur_below_one_and_identity_one():
    import torch.nn.functional as F

    from rdpflex.metrics.image import DetailRatio

    torch.manual_seed(0)
    x = F.avg_pool2d(torch.rand(1, 3, 64, 64), 3, 1, 1)
    blurred = F.avg_pool2d(x, 5, 1, 2)
    m = DetailRatio()
    assert m.compute(x, x) == 1.0
    assert m.compute(x, blurred) < 0.7
    assert m.compute(x, (x + 0.1 * torch.randn_like(x)).clamp(0, 1)) > 1.2
    assert math.isnan(m.compute(torch.full_like(x, 0.5), x))
