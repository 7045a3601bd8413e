"""FID/KID through torch-fidelity, and the patches of FID/256 (stand-in Inception weights, CPU)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from rdpflex.metrics import compute_set_metrics, extract_patches, patch_count
from rdpflex.metrics.weights import INCEPTION

from .helpers import distort, to_tensor, u8_image

pytestmark = pytest.mark.usefixtures("one_thread")


def reference_patches(img: torch.Tensor, size: int = 256) -> list[torch.Tensor]:
    """Independent re-implementation: explicit loops over patch indices (CHW image)."""
    _, h, w = img.shape
    out = []
    for i in range(h // size):
        for j in range(w // size):
            out.append(img[:, i * size : (i + 1) * size, j * size : (j + 1) * size])
    if h >= 384 and w >= 384:  # HiFiC: also the image shifted by half a patch
        shifted = img[:, 128:, 128:]
        for i in range(shifted.shape[1] // size):
            for j in range(shifted.shape[2] // size):
                out.append(shifted[:, i * size : (i + 1) * size, j * size : (j + 1) * size])
    return out


@pytest.mark.parametrize(
    "h, w, expected",
    [
        (512, 640, 4 + 2),  # 2x2 patches, shifted 384x512 -> 1x2
        (640, 512, 4 + 2),
        (768, 512, 6 + 2),  # Kodak portrait: 3x2, shifted 640x384 -> 2x1
        (383, 1000, 3),  # shorter side < 384: no shifted set
        (384, 384, 1 + 1),
        (300, 300, 1),
        (255, 1000, 0),
        (1024, 1024, 16 + 9),
    ],
)
def test_patch_extraction_matches_reference(h, w, expected):
    img = torch.arange(3 * h * w, dtype=torch.int64).reshape(3, h, w)
    ref = reference_patches(img)
    got = extract_patches(img.unsqueeze(0))
    assert len(ref) == expected == patch_count(h, w) == got.shape[0]
    assert got.shape[1:] == (3, 256, 256)
    for k, r in enumerate(ref):
        assert torch.equal(got[k], r), k


def test_patch_extraction_other_sizes():
    img = torch.rand(3, 100, 130)
    assert extract_patches(img, size=32).shape == (3 * 4 + 2 * 3, 3, 32, 32)  # shift 16: 84x114 -> 2x3


class U8Dataset(Dataset):
    def __init__(self, arrays):
        self.items = [torch.from_numpy(a).permute(2, 0, 1).contiguous() for a in arrays]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def direct_fidelity(originals_u8, recons_u8, *, fid=True, kid=True):
    """torch_fidelity.calculate_metrics called directly on uint8 HWC arrays, as rdpflex documents it."""
    import torch_fidelity

    n = len(originals_u8)
    return torch_fidelity.calculate_metrics(
        input1=U8Dataset(recons_u8),
        input2=U8Dataset(originals_u8),
        fid=fid,
        kid=kid,
        kid_subset_size=min(1000, n),
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(INCEPTION.default_path()),
        cuda=False,
        batch_size=64,
        cache=False,
        save_cpu_ram=True,
        verbose=False,
    )


@pytest.fixture(scope="module")
def small_set():
    originals = [u8_image(64, 64, seed=10 + i) for i in range(4)]
    recons = [distort(a, seed=20 + i, sigma=20) for i, a in enumerate(originals)]
    return originals, recons


def test_fid_kid_equal_direct_torch_fidelity(stand_in_home, small_set):
    originals, recons = small_set
    got = compute_set_metrics(
        [to_tensor(a) for a in originals], [to_tensor(b) for b in recons], ["fid", "kid"], batch_size=64
    )
    direct = direct_fidelity(originals, recons)
    assert got["fid"].value == pytest.approx(direct["frechet_inception_distance"], rel=1e-9, abs=1e-9)
    assert got["kid"].value == pytest.approx(direct["kernel_inception_distance_mean"], rel=1e-9, abs=1e-12)
    assert got["kid"].extra["kid_std"] == pytest.approx(direct["kernel_inception_distance_std"], rel=1e-9, abs=1e-12)
    assert got["fid"].value > 1e-3
    assert got["fid"].extra["fid_images"] == 4
    # stand-in weights: flagged, labelled, and the small-sample caveat is noted
    assert got["fid"].stand_in and got["fid"].label == "FID (stand-in weights)"
    assert got["kid"].label == "KID (stand-in weights)"
    assert any("2048" in n for n in got["fid"].notes)
    d = got["fid"].to_dict()
    assert d["stand_in"] is True and d["fid_images"] == 4 and "stand-in" in d["label"]


def test_fid_of_a_set_against_itself_is_zero(stand_in_home, small_set):
    originals, _ = small_set
    xs = [to_tensor(a) for a in originals]
    got = compute_set_metrics(xs, [x.clone() for x in xs], ["fid"])
    assert abs(got["fid"].value) < 1e-3


def test_patched_kid_equals_torch_fidelity_on_reference_patches(stand_in_home):
    # 384x400 -> 1 patch + 1 shifted patch per image; 300x520 -> 2 patches, no shift.
    # KID only: it checks the same patch pipeline as FID/256 without FID's slow 2048x2048 eigvals.
    originals = [u8_image(384, 400, seed=30), u8_image(300, 520, seed=31)]
    recons = [distort(a, seed=40 + i, sigma=25) for i, a in enumerate(originals)]
    got = compute_set_metrics([to_tensor(a) for a in originals], [to_tensor(b) for b in recons], ["kid256"])
    patches = lambda arrs: [  # noqa: E731
        p.permute(1, 2, 0).numpy() for a in arrs for p in reference_patches(torch.from_numpy(a).permute(2, 0, 1))
    ]
    po, pr = patches(originals), patches(recons)
    assert len(po) == len(pr) == 4
    direct = direct_fidelity(po, pr, fid=False)
    assert got["kid256"].extra["kid256_patches"] == 4
    assert got["kid256"].value == pytest.approx(direct["kernel_inception_distance_mean"], rel=1e-9, abs=1e-12)
    assert got["kid256"].value != 0
    assert got["kid256"].label == "KID/256 (stand-in weights)"


def test_fewer_than_two_patches_is_nan_with_a_note(stand_in_home):
    a = u8_image(300, 260, seed=50)  # exactly one patch
    tiny = u8_image(100, 100, seed=51)  # none
    x = [to_tensor(a), to_tensor(tiny)]
    got = compute_set_metrics(x, [t.clone() for t in x], ["fid256", "kid256"])
    for name in ("fid256", "kid256"):
        assert math.isnan(got[name].value) and got[name].skipped
        assert any("at least 2" in n for n in got[name].notes)
        assert any("smaller than 256" in n for n in got[name].notes)
        assert got[name].extra[f"{name}_patches"] == 1
        assert got[name].label == f"{name[:3].upper()}/256 (stand-in weights)"
    one = compute_set_metrics(x[:1], x[:1], ["fid"])
    assert one["fid"].skipped and "at least 2 images" in one["fid"].notes[0]


def test_set_inputs_are_checked(stand_in_home):
    x = to_tensor(u8_image(64, 64, 1))
    with pytest.raises(ValueError, match="2 originals but 1"):
        compute_set_metrics([x, x], [x], ["fid"])
    with pytest.raises(ValueError, match="reconstruction 0"):
        compute_set_metrics([x], [x[..., :32]], ["fid"])


def test_images_of_different_sizes_are_accepted(stand_in_home):
    arrs = [u8_image(64, 64, 60), u8_image(48, 80, 61), u8_image(70, 50, 62)]
    xs = [to_tensor(a) for a in arrs]
    got = compute_set_metrics(xs, [distort_t(x) for x in xs], ["kid"])
    assert np.isfinite(got["kid"].value) and got["kid"].extra["kid_images"] == 3


def distort_t(x: torch.Tensor) -> torch.Tensor:
    return (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
