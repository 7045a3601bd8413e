"""``compare`` through the library API: identical decoders, FID of a set against itself, the report files."""

from __future__ import annotations

import csv
import json
import math
import re

import pytest

from rdpflex.evaluation import compare, load_image_set
from rdpflex.evaluation.report import columns
from rdpflex.images import find_images

TIMING = {"decode_ms_per_mp"}


def decoded_values(row: dict) -> dict:
    """A row without what legitimately differs between two decoders giving the same images."""
    return {k: v for k, v in row.items() if k not in TIMING | {"decoder", "options"}}


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def test_identical_decoders_give_identical_rows(eval_image_dir, eval_system_dir):
    res = compare(
        eval_image_dir,
        eval_system_dir,
        decoders=["mse", "mse_alias", "mse", "noisy:sigma=0"],
        metrics="psnr",
        baselines=False,
        progress=False,
    )
    assert [s.key for s in res.settings] == ["mse[default]", "mse_alias[default]", "noisy[sigma=0]"]
    assert any("more than once" in n for n in res.notes)
    by = {name: res.rows_for(name) for name in ("mse", "mse_alias", "noisy")}
    assert len(by["mse"]) == len(find_images(eval_image_dir)) == 3
    for a, b, c in zip(by["mse"], by["mse_alias"], by["noisy"]):
        da, db, dc = decoded_values(a), decoded_values(b), decoded_values(c)
        dc["setting"] = da["setting"]
        assert da.keys() == db.keys() == dc.keys()
        assert all(same(da[k], db[k]) and same(da[k], dc[k]) for k in da), (da, db, dc)
    s_mse, s_alias = res.summary_for("mse")[0], res.summary_for("mse_alias")[0]
    assert s_mse["psnr"] == s_alias["psnr"] and s_mse["bpp"] == s_alias["bpp"]


def test_stochastic_decoder_is_seeded(eval_image_dir, eval_system_dir):
    kw = dict(decoders=["noisy:sigma=0.2"], metrics="psnr", baselines=False, progress=False)
    a = compare(eval_image_dir, eval_system_dir, seed=3, **kw)
    b = compare(eval_image_dir, eval_system_dir, seed=3, **kw)
    c = compare(eval_image_dir, eval_system_dir, seed=4, **kw)
    assert [r["psnr"] for r in a.rows] == [r["psnr"] for r in b.rows]
    assert [r["psnr"] for r in a.rows] != [r["psnr"] for r in c.rows]


def test_end_to_end_report(eval_image_dir, eval_system_dir, stand_in_home, tmp_path):
    """Two decoders: ``oracle`` (returns the originals: FID of the set against itself) and ``noisy``."""
    from tests.evaluation.plugin_decoders import OracleDecoder

    OracleDecoder.ORIGINALS = dict(load_image_set(eval_image_dir))
    out = tmp_path / "report"
    res = compare(
        eval_image_dir,
        eval_system_dir,
        decoders=["oracle", "noisy:sigma=0.2"],
        metrics="auto",
        out_dir=out,
        qualities=(10, 50, 90),
        progress=False,
    )
    for name in (
        "bitstream.rdp",
        "metrics.csv",
        "metrics.json",
        "rate_distortion.png",
        "distortion_realism.png",
        "report.html",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert res.report == out / "report.html"

    # every src= of the HTML points to an existing file (relative to the report)
    html = (out / "report.html").read_text()
    assert "re-encoding: latent agreement" in html and "re-encoding: identical bitstream" in html
    srcs = re.findall(r"src=['\"]([^'\"]+)['\"]", html)
    assert len(srcs) == 2 + 3 * (1 + 2 + 2)  # plots + per image: original, 2 settings, jpeg, webp
    for src in srcs:
        assert not src.startswith(("/", "http")), src
        assert (out / src).is_file(), src
    assert "stand-in" in html.lower()

    # CSV: bpp from the file's bytes; per-image bpp from record bytes
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == columns(res)
    pixels = sum(h * w for h, w in (tuple(im.shape[-2:]) for _, im in load_image_set(eval_image_dir)))
    file_bytes = (out / "bitstream.rdp").stat().st_size
    learned = [r for r in rows if r["level"] == "set" and r["decoder"] in ("oracle", "noisy")]
    assert len(learned) == 2
    for r in learned:
        assert float(r["bpp"]) == pytest.approx(8 * file_bytes / pixels, rel=1e-12)
        assert int(r["bytes"]) == file_bytes
        assert float(r["bpp_estimated"]) > 0
    per_image = [r for r in rows if r["level"] == "image" and r["decoder"] == "noisy"]
    header = file_bytes - sum(int(r["bytes"]) for r in per_image)
    assert 49 <= header < 49 + 64  # the .rdp header (49 + arch bytes)
    for r in per_image:
        assert float(r["bpp"]) == pytest.approx(8 * int(r["bytes"]) / (int(r["height"]) * int(r["width"])))

    # stand-in labelling in the CSV
    for r in per_image:
        assert r["stand_in"] == "True" and "lpips" in r["stand_in_metrics"].split(";")
    assert all(r["stand_in"] == "False" for r in rows if r["decoder"] in ("jpeg", "webp"))

    # baselines: rows present, bpp increasing with quality
    for codec in ("jpeg", "webp"):
        agg = sorted(
            (int(r["quality"]), float(r["bpp"]), float(r["psnr"]))
            for r in rows
            if r["decoder"] == codec and r["level"] == "set"
        )
        assert [q for q, _, _ in agg] == [10, 50, 90]
        assert agg[0][1] < agg[1][1] < agg[2][1], agg
        assert agg[0][2] < agg[2][2]
        assert len([r for r in rows if r["decoder"] == codec and r["level"] == "image"]) == 3 * 3

    # JSON: same rows, metric labels, realism axis
    data = json.loads((out / "metrics.json").read_text())
    assert len(data["rows"]) == len(res.rows) and len(data["summary"]) == len(res.summary)
    assert data["metrics"]["lpips"]["stand_in"] is True
    assert data["metrics"]["lpips"]["label"] == "LPIPS (stand-in weights)"
    assert data["bitstream"]["bytes"] == file_bytes
    assert data["realism_metric"] == "fid"  # 64-96 px images give no 256-px patches: FID/256 unavailable
    oracle, noisy = data["summary"][:2]
    assert (oracle["decoder"], noisy["decoder"], noisy["setting"]) == ("oracle", "noisy", "sigma=0.2")
    # FID of the set against itself, through compare's whole path (decode, gather, set metrics)
    assert abs(oracle["fid"]) < 1e-3 and oracle["fid_images"] == 3
    assert oracle["psnr"] == 100.0  # identical images: the PSNR cap
    assert noisy["fid"] > 1.0 and noisy["psnr"] < 40
    assert (
        "fid" in oracle["stand_in_metrics"].split(";") and data["metrics"]["fid"]["label"] == "FID (stand-in weights)"
    )
    assert noisy["fid256"] is None and noisy["fid256_patches"] == 0
    assert oracle["swd"] == 0.0 and noisy["swd"] > 1.0 and noisy["swd_levels"] >= 2  # weight-free, always computed
    assert noisy["ms_ssim"] is None  # images too small for MS-SSIM: NaN -> null
    assert noisy["decode_ms_per_mp"] > 0
    # re-encoding consistency: the oracle's output is the original, so it re-encodes to the very file
    assert oracle["reencode_agreement"] == 1.0 and oracle["reencode_identical"] == 1.0
    # the random test codec's latent is too coarse for sigma-0.2 noise to move a symbol: the noisy output re-encodes
    # to the same latent (a trained codec's agreement falls with noise: tests/evaluation/test_reencode.py)
    assert noisy["reencode_agreement"] == 1.0 and noisy["reencode_mse_psnr"] is None  # inf: null in JSON
    assert any("STAND-IN" in n for n in data["notes"])


def test_mixed_precision_bf16(eval_image_dir, eval_system_dir):
    kw = dict(decoders=["mse"], metrics="psnr", baselines=False, progress=False)
    full = compare(eval_image_dir, eval_system_dir, **kw)
    half = compare(eval_image_dir, eval_system_dir, mixed_precision="bf16", **kw)
    assert half.info["mixed_precision"] == "bf16"
    for a, b in zip(full.rows, half.rows):
        assert b["psnr"] == pytest.approx(a["psnr"], abs=0.5)
    compare(eval_image_dir, eval_system_dir, **kw)  # back to full precision in the same process


def test_in_memory_images_and_no_output(eval_system_dir):
    import torch

    imgs = [("one", torch.rand(1, 3, 40, 56)), ("two", torch.rand(1, 3, 33, 17))]
    res = compare(imgs, eval_system_dir, decoders=["mse"], metrics="psnr", qualities=(50,), progress=False)
    assert res.files == {} and res.out_dir is None
    assert [r["image"] for r in res.rows_for("mse")] == ["one", "two"]
    assert {r["decoder"] for r in res.rows} == {"mse", "jpeg", "webp"}


def test_compare_leaves_the_callers_system_alone(eval_image_dir, eval_system_dir):
    """compare() decodes in eval mode and hands the System back on its own device, dtype and train/eval mode."""
    import torch

    from rdpflex.system import System

    system = System.load(eval_system_dir)
    noisy = system.decoder("noisy")
    system.codec.train()
    system.codec.g_s.eval()  # a mixed state: each sub-module must get its own flag back
    before = [(m, m.training) for m in system.codec.modules()]
    seen: list[bool] = []
    hook = system.codec.g_a.register_forward_pre_hook(lambda m, args: seen.append(m.training))
    try:
        compare(eval_image_dir, system, decoders=["mse", "noisy"], metrics="psnr", baselines=False, progress=False)
    finally:
        hook.remove()
    assert seen and not any(seen)  # encoded in eval mode (train mode would add noise to the rate estimate)
    assert [(m, m.training) for m in system.codec.modules()] == before
    assert {p.device for p in system.codec.parameters()} == {torch.device("cpu")}
    assert {p.dtype for p in system.codec.parameters()} == {torch.float32}
    assert system.decoder("noisy") is noisy


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a GPU: compare moves the system there")
def test_compare_hands_a_gpu_system_back_on_the_gpu(eval_image_dir, eval_system_dir):

    from rdpflex.system import System

    system = System.load(eval_system_dir).to("cuda")
    compare(eval_image_dir, system, decoders=["mse"], metrics="psnr", baselines=False, progress=False)
    assert {p.device.type for p in system.codec.parameters()} == {"cuda"}
    system.to("cpu")
    compare(eval_image_dir, system, decoders=["mse"], metrics="psnr", baselines=False, progress=False)
    assert {p.device.type for p in system.codec.parameters()} == {"cpu"}  # not left on the GPU it ran on
