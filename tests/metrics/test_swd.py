"""The weight-free multi-scale sliced Wasserstein distance (Karras et al. 2018, arXiv:1710.10196)."""

from __future__ import annotations

import math

import pytest
import torch

from rdpflex.evaluation.compare import CompareResult
from rdpflex.evaluation.report import realism_axis
from rdpflex.evaluation.selection import select_metrics
from rdpflex.evaluation.specs import DecoderSetting
from rdpflex.metrics import DEFAULT_SET_METRICS, compute_image_metrics, compute_set_metrics, get_metric
from rdpflex.metrics.swd import laplacian_pyramid, level_count, pyr_down, pyr_up, swd_scores

from .helpers import distort, u8_image

FAST = dict(patches_per_image=32, directions=64)


def _set(n: int = 4, size: int = 48, seed: int = 0) -> list[torch.Tensor]:
    return [torch.from_numpy(u8_image(size, size + 8 * k, seed + k)).permute(2, 0, 1) for k in range(n)]


def _noisy(images, sigma: float, seed: int = 100):
    return [
        torch.from_numpy(distort(x.permute(1, 2, 0).numpy(), seed + k, sigma)).permute(2, 0, 1)
        for k, x in enumerate(images)
    ]


def _blurred(images):
    return [pyr_up(pyr_down(x.float()), x.shape[-2:]).round().clamp(0, 255).to(torch.uint8) for x in images]


def test_pyramid_levels_and_reconstruction():
    assert [level_count(*s) for s in [(15, 100), (16, 16), (31, 40), (30, 32), (512, 768)]] == [0, 1, 2, 1, 6]
    img = torch.rand(3, 37, 50) * 255
    pyr = laplacian_pyramid(img, 3)
    assert [tuple(p.shape[-2:]) for p in pyr] == [(37, 50), (19, 25), (10, 13)]
    rec = pyr[-1]
    for band in reversed(pyr[:-1]):  # collapsing the pyramid gives the image back
        rec = band + pyr_up(rec, band.shape[-2:])
    torch.testing.assert_close(rec, img, atol=1e-3, rtol=0)
    flat = torch.full((3, 20, 20), 7.0)
    torch.testing.assert_close(pyr_down(flat), torch.full((3, 10, 10), 7.0))
    torch.testing.assert_close(pyr_up(flat, (40, 40)), torch.full((3, 40, 40), 7.0))


def test_identical_sets_give_zero():
    a = _set()
    r = swd_scores(a, [x.clone() for x in a], **FAST)
    assert r["swd"] == 0.0 and r["swd_levels"] == 2 and r["swd_patches"] == 4 * 32
    assert r["swd_l0"] == 0.0 and r["swd_l1"] == 0.0 and not r["swd"].notes


def test_blur_and_invented_noise_are_both_punished():
    a = _set(n=6, size=64)
    light, noisy, blurred = _noisy(a, 1.0), _noisy(a, 16.0), _blurred(a)
    d_light, d_noisy, d_blur = (float(swd_scores(a, s, **FAST)["swd"]) for s in (light, noisy, blurred))
    assert 0 < d_light < d_noisy and d_light < d_blur, (d_light, d_noisy, d_blur)
    # unlike the detail ratio, which rewards the noise as "more detail than the original"
    ratio = compute_image_metrics(a[0].unsqueeze(0).float() / 255, noisy[0].unsqueeze(0).float() / 255, ["detail"])
    assert ratio["detail"].value > 1.2


def test_joint_normalisation_keeps_the_contrast_loss_of_blur():
    a = _set(n=6, size=64)
    blurred = _blurred(a)
    joint = float(swd_scores(a, blurred, **FAST)["swd"])
    separate = float(swd_scores(a, blurred, normalize="separate", **FAST)["swd"])
    assert joint > separate > 0
    with pytest.raises(ValueError, match="normalize"):
        swd_scores(a, blurred, normalize="both")


def test_deterministic_and_symmetric():
    a, b = _set(), _noisy(_set(), 12.0)
    first = swd_scores(a, b, **FAST)
    assert swd_scores(a, b, **FAST) == first
    assert float(swd_scores(b, a, **FAST)["swd"]) == float(first["swd"])
    assert swd_scores(a, b, seed=1, **FAST)["swd"] != first["swd"]  # the seed drives positions and directions


def test_independent_of_the_thread_count():
    a = _set(n=3, size=96)
    b = _noisy(a, 10.0)
    before = torch.get_num_threads()
    try:
        values = []
        for n in (1, 2, 4):  # enough patches (3 x 256 x 147 values) for torch to split work across threads
            torch.set_num_threads(n)
            values.append(swd_scores(a, b, patches_per_image=256, directions=256))
    finally:
        torch.set_num_threads(before)
    assert values[0] == values[1] == values[2] and math.isfinite(values[0]["swd"])


def test_small_images_nan_with_note_or_levels_skipped():
    tiny = [torch.zeros(3, 12, 40, dtype=torch.uint8), torch.zeros(3, 15, 15, dtype=torch.uint8)]
    r = swd_scores(tiny, tiny, **FAST)
    assert math.isnan(r["swd"]) and r["swd_levels"] == 0
    assert "shorter side is < 16 px" in r["swd"].notes[0]

    mixed = [
        torch.from_numpy(u8_image(20, 20, 0)).permute(2, 0, 1),
        torch.from_numpy(u8_image(64, 70, 1)).permute(2, 0, 1),
    ]
    r = swd_scores(mixed, _noisy(mixed, 8.0), **FAST)
    assert r["swd_levels"] == 3 and all(math.isfinite(r[f"swd_l{k}"]) for k in range(3))
    notes = " ".join(r["swd"].notes)
    assert "level 1 (1/2 resolution)" in notes and "1 of 2 originals" in notes
    assert "level 0" not in notes  # every image has the full-resolution level


def test_batches_and_sets_of_different_sizes():
    a = _set(n=3, size=40)
    batch = torch.stack([x[:, :40, :40] for x in a])  # (3, 3, 40, 40) uint8
    listed = [x[:, :40, :40] for x in a]
    assert swd_scores(batch, listed, **FAST)["swd"] == 0.0  # a batch is the list of its images
    more = _noisy(_set(n=5, size=40, seed=7), 4.0)
    r = swd_scores(batch, more, **FAST)  # 3 vs 5 images: the larger set is subsampled to 3 x 32 patches
    assert math.isfinite(r["swd"]) and r["swd"] > 0 and r["swd_patches"] == 3 * 32
    assert float(swd_scores(more, batch, **FAST)["swd"]) == float(r["swd"])
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        swd_scores(torch.zeros(2, 1, 32, 32), batch)


def test_registered_set_metric_weight_free_and_selected_by_default():
    m = get_metric("swd")
    assert (m.kind, m.higher_is_better, m.stand_in, m.title) == ("set", False, False, "SWD")
    assert "swd" in DEFAULT_SET_METRICS and "swd" in select_metrics("auto").set
    a = [x.unsqueeze(0).float() / 255 for x in _set(n=2, size=32)]
    res = compute_set_metrics(a, [x.clone() for x in a], ["swd"])["swd"]
    assert res.value == 0.0 and res.label == "SWD" and not res.stand_in
    assert res.extra["swd_levels"] == 2 and set(res.extra) == {"swd_l0", "swd_l1", "swd_levels", "swd_patches"}
    with pytest.raises(ValueError, match="reconstruction 0"):
        m.compute_set(a, [a[1], a[0]])  # a set metric of paired reconstructions: sizes must match


def test_swd_is_the_realism_axis_without_fid():
    meta = {"label": "x", "kind": "set", "stand_in": False, "higher_is_better": False, "description": ""}
    summary = [{"decoder": "mse", "setting": "default", "psnr": 30.0, "swd": 12.0, "lpips": 0.2, "fid": math.nan}]
    result = CompareResult(
        rows=[],
        summary=summary,
        metrics={n: meta for n in ("psnr", "fid", "swd", "lpips")},
        settings=[DecoderSetting("mse")],
    )
    assert realism_axis(result) == ("swd", " (FID/256, FID, ST-LPIPS unavailable)")
    summary[0]["st-lpips"] = 0.1
    result.metrics["st-lpips"] = meta
    assert realism_axis(result) == ("st-lpips", " (FID/256, FID unavailable)")  # the offline perceptual axis first


def test_the_realism_plot_puts_swd_beside_st_lpips(tmp_path):
    from PIL import Image

    from rdpflex.evaluation.report import plot_distortion_realism, second_axis

    meta = {"label": "x", "kind": "image", "stand_in": False, "higher_is_better": False, "description": ""}
    settings = [DecoderSetting("multirealism", {"beta": b}) for b in (0.0, 1.28, 2.56)]
    rows = [
        {"decoder": s.decoder, "setting": s.label, "psnr": 30.0 - b, "st-lpips": 0.1 - b / 50, "swd": 9 - b}
        for s, b in zip(settings, (0.0, 1.28, 2.56))
    ]
    result = CompareResult(
        rows=[], summary=rows, metrics={n: meta for n in ("psnr", "st-lpips", "swd")}, settings=settings
    )
    assert second_axis(result, "st-lpips") == "swd" and second_axis(result, "swd") is None
    path, name, _ = plot_distortion_realism(result, tmp_path / "two.png")
    two = Image.open(path).size
    for r in rows:
        r["swd"] = math.nan  # no SWD values: one panel
    path, _, _ = plot_distortion_realism(result, tmp_path / "one.png")
    one = Image.open(path).size
    assert name == "st-lpips" and two[1] == one[1] and two[0] > 1.7 * one[0]
