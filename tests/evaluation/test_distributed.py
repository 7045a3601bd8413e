"""``torchrun --nproc_per_node 2 -m rdpflex.cli compare`` gives the report of a single process."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from tests.evaluation.conftest import ROOT, bin_path, subprocess_env

TIMING = ("decode_ms_per_mp",)


def read_rows(path):
    with open(path) as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def same_value(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return float(a) == pytest.approx(float(b), rel=1e-6, abs=1e-9)
    except ValueError:
        return False


def test_two_processes_match_one(eval_image_dir, eval_system_dir, stand_in_dir, tmp_path):
    args = [
        "compare",
        str(eval_image_dir),
        "--system",
        str(eval_system_dir),
        "--decoder",
        "mse",
        "--decoder",
        "noisy:sigma=0.1",
        "--metrics",
        "psnr,fid",
        "--quality",
        "50",
        "--seed",
        "5",
    ]
    env = subprocess_env(stand_in_dir)
    one = subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", *args, "-o", str(tmp_path / "one")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        [
            bin_path("torchrun"),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "rdpflex.cli",
            *args,
            "-o",
            str(tmp_path / "two"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 process(es)" in two.stdout and "1 process(es)" in one.stdout
    assert two.stdout.count("report: ") == 1  # only the main process prints

    assert (tmp_path / "one" / "bitstream.rdp").read_bytes() == (tmp_path / "two" / "bitstream.rdp").read_bytes()
    rows1, rows2 = read_rows(tmp_path / "one" / "metrics.csv"), read_rows(tmp_path / "two" / "metrics.csv")
    assert len(rows1) == len(rows2) == 3 * (2 + 2) + (2 + 2)
    for a, b in zip(rows1, rows2):
        assert a.keys() == b.keys()
        diff = {k: (a[k], b[k]) for k in a if not same_value(a[k], b[k])}
        assert not diff, (a["decoder"], a["setting"], a["image"], diff)
    fid = [r for r in rows2 if r["level"] == "set" and r["decoder"] == "mse"][0]
    assert float(fid["fid"]) > 0 and fid["fid_images"] == "3"  # set metric over the gathered images
    for name in ("report.html", "rate_distortion.png", "distortion_realism.png", "metrics.json"):
        assert (tmp_path / "two" / name).is_file()
