"""``rdpflex compare`` and ``rdpflex demo`` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rdpflex.cli import main
from tests.evaluation.conftest import ROOT, subprocess_env


def test_missing_weights_is_a_one_line_error(eval_image_dir, eval_system_dir, tmp_path):
    home = tmp_path / "no_weights"
    home.mkdir()
    out = tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rdpflex.cli",
            "compare",
            str(eval_image_dir),
            "-o",
            str(out),
            "--system",
            str(eval_system_dir),
            "--metrics",
            "lpips",
        ],
        cwd=ROOT,
        env=subprocess_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "alexnet-owt-7be5be79.pth" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists()  # nothing written before the check


def test_compare_command_json(eval_image_dir, eval_system_dir, tmp_path, capsys, empty_home):
    out = tmp_path / "report"
    main(
        [
            "compare",
            str(eval_image_dir),
            "-o",
            str(out),
            "--system",
            str(eval_system_dir),
            "--decoder",
            "mse",
            "--decoder",
            "noisy:sigma=0,0.1",
            "--no-baselines",
            "--json",
            "--seed",
            "7",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert [(s["decoder"], s["setting"]) for s in data["settings"]] == [
        ("mse", "default"),
        ("noisy", "sigma=0"),
        ("noisy", "sigma=0.1"),
    ]
    assert data["report"] == str(out / "report.html") and (out / "report.html").is_file()
    assert {r["decoder"] for r in data["rows"]} == {"mse", "noisy"}
    assert {"psnr", "ms_ssim"} <= set(data["metrics"])  # auto without weights: no network metric
    assert not set(data["metrics"]) & {"lpips", "fid", "kid", "fid256", "kid256"}
    assert any("lpips" in n and "skipped" in n for n in data["notes"])
    assert data["seed"] == 7


@pytest.mark.parametrize(
    "args, message",
    [
        (["--decoder", "nosuch"], "unknown decoder 'nosuch'"),
        (["--decoder", "noisy:sigma=2"], "invalid options for decoder 'noisy'"),
        (["--metrics", "psnr,auto"], "'auto' cannot be combined"),
        (["--metrics", "nope"], "unknown metric 'nope'"),
        (["--quality", "5,x"], "--quality expects integers"),
    ],
)
def test_compare_bad_input(eval_image_dir, eval_system_dir, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(eval_image_dir), "-o", str(tmp_path / "r"), "--system", str(eval_system_dir), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err


def test_compare_empty_dir(tmp_path, eval_system_dir, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        main(["compare", str(tmp_path / "empty"), "-o", str(tmp_path / "r"), "--system", str(eval_system_dir)])
    assert "holds no images" in capsys.readouterr().err


def test_demo_runs(eval_system_dir, tmp_path, capsys, empty_home):
    out = tmp_path / "demo"
    main(["demo", "--system", str(eval_system_dir), "-o", str(out)])
    text = capsys.readouterr().out
    assert (
        "report: " in text and (out / "report" / "report.html").is_file() and (out / "report" / "crops.png").is_file()
    )
    assert sorted(p.name for p in (out / "images").iterdir()) == ["astronaut.png", "chelsea.png", "coffee.png"]
    for line in ("mse", "noisy    sigma=0.1", "noisy    sigma=0.3"):
        assert line in text, text
    data = json.loads((out / "report" / "metrics.json").read_text())
    assert {r["decoder"] for r in data["summary"]} == {"mse", "noisy", "jpeg", "webp"}
    assert max(max(im["height"], im["width"]) for im in data["images"]) <= 512


def test_compare_batch_size_changes_no_figure(tmp_path, eval_system_dir, capsys, empty_home):
    """`compare --batch-size 1` and `--batch-size 3` on three distinct same-size images (one batch of 3, or
    three of 1) give the same per-image rows and the same set figures."""
    from PIL import Image

    from tests.conftest import smooth_image

    images = tmp_path / "same-size"
    images.mkdir()
    for i in range(3):
        Image.fromarray(smooth_image(64, 80, 30 + i)).save(images / f"im{i}.png")
    runs = {}
    for batch in (1, 3):
        argv = ["compare", str(images), "--system", str(eval_system_dir), "--decoder", "mse", "--no-baselines"]
        argv += ["-o", str(tmp_path / f"report{batch}"), "--metrics", "psnr,ms_ssim", "--json", "--no-reencode"]
        main([*argv, "--batch-size", str(batch)])
        runs[batch] = json.loads(capsys.readouterr().out)
    one, three = runs[1], runs[3]
    key = lambda r: (r["decoder"], r["setting"], r["image"])  # noqa: E731
    assert len(one["rows"]) == len(three["rows"]) == 3
    for a, b in zip(sorted(one["rows"], key=key), sorted(three["rows"], key=key), strict=True):
        assert key(a) == key(b)
        assert a["psnr"] == pytest.approx(b["psnr"], abs=1e-4) and a["ms_ssim"] == pytest.approx(b["ms_ssim"], abs=1e-6)
