"""``rdpflex bench rd``: real files, real Pillow baselines, BD-rate over a curve of two systems."""

from __future__ import annotations

import json

import numpy as np

from rdpflex.bench.rd import bench_rd, heldout_images
from rdpflex.cli import main


def test_bench_rd_points_baselines_and_bd_rate(tiny_system_dir, other_system_dir):
    tables = bench_rd(
        [tiny_system_dir, other_system_dir], ("astronaut", "coffee"), max_side=64, qualities=(5, 30, 60, 90)
    )
    assert [im["name"] for im in tables["images"]] == ["astronaut", "coffee"]
    assert max(max(im["height"], im["width"]) for im in tables["images"]) == 64
    assert len(tables["points"]) == 2 and all(p["bpp"] > 0 for p in tables["points"])
    jpeg = [r for r in tables["baselines"] if r["codec"] == "jpeg"]
    assert [r["quality"] for r in jpeg] == [5, 30, 60, 90]
    assert all(a["bpp"] < b["bpp"] and a["psnr"] < b["psnr"] for a, b in zip(jpeg, jpeg[1:]))  # a real sweep
    assert {row["anchor"] for row in tables["bd_rate"]} == {"jpeg", "webp"}
    # untrained codecs reconstruct at ~6 dB, below every baseline quality: no overlap, and the table says why
    assert all(p["psnr"] < 10 and "outside its PSNR range" in p["vs jpeg at equal PSNR (%)"] for p in tables["points"])
    for row in tables["bd_rate"]:
        assert row["BD-rate (%)"] == "undefined (needs two points overlapping the anchor's PSNR range)"


def test_heldout_images_and_the_command(tmp_path, tiny_system_dir, capsys):
    ((_, img),) = heldout_images(("chelsea",), 32)
    assert img.dtype == np.uint8 and max(img.shape[:2]) == 32
    main(
        ["bench", "rd", str(tiny_system_dir), "--quick", "--samples", "astronaut", "--json", str(tmp_path / "rd.json")]
    )
    out = capsys.readouterr().out
    assert "Bjøntegaard delta rate" in out and "vs jpeg at equal PSNR" in out
    data = json.loads((tmp_path / "rd.json").read_text())
    assert (
        data["bench"] == "rd"
        and len(data["tables"]["Codec operating points (mse synthesis; rate difference vs the baseline at equal PSNR)"])
        == 1
    )


def test_the_bundled_codec_beats_jpeg_on_the_held_out_photographs():
    """The README's claim, measured: at the bundled codec's PSNR, Pillow JPEG needs more bits (file bytes)."""
    from rdpflex.bench.rd import baseline_curve, codec_point
    from rdpflex.metrics.bdrate import rate_saving
    from rdpflex.samples import HELDOUT
    from rdpflex.system import System

    images = heldout_images(HELDOUT, 512)
    point = codec_point(System.load(None), images)
    jpeg = [(p["bpp"], p["psnr"]) for p in baseline_curve("jpeg", images, (5, 10, 15, 20, 25, 30, 40))]
    saving = rate_saving((point["bpp"], point["psnr"]), jpeg)
    # docs/benchmarks.md: -15.1 % at the bundled point (measured 2026-12-07: -15.3 %); a regression of a few
    # points fails, not only a loss to JPEG
    assert saving is not None and saving < -12, (saving, point, jpeg)
