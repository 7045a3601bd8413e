"""Long checks (``make test-slow``): real quick-recipe training and the bundled demo system."""

import os
import subprocess
import sys

import pytest

from rdpflex.train.recipe import RECIPES_DIR

pytestmark = pytest.mark.slow


def rdpflex(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rdpflex.cli", *map(str, args)], capture_output=True, text=True, env=os.environ, cwd=cwd)


def test_quick_codec_recipe_learns(tmp_path):
    """60 steps of recipes/quick/codec.yaml already beat the untrained codec on held-out images."""
    import json

    r = rdpflex("train", RECIPES_DIR / "quick" / "codec.yaml", "--output", tmp_path / "run",
                "--set", "train.steps=60", "--set", "validation.every=60", "--set", "checkpoint.every=60")
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [row for row in rows if row.get("split") == "val"]
    assert val[0]["step"] == 0 and val[-1]["step"] == 60
    assert val[-1]["psnr"] > val[0]["psnr"] + 5


def test_bundled_demo_system_beta_trades_psnr(tmp_path):
    """The claim in docs/benchmarks.md: on held-out photographs, beta=2.56 costs PSNR vs beta=0, under 3.01 dB."""
    import torch

    from rdpflex.images import pil_to_tensor
    from rdpflex.metrics.image import PSNR
    from rdpflex.pipeline import compress_images, decode_images
    from rdpflex.system import System
    from rdpflex.samples import sample_array as _sample_array

    from PIL import Image

    system = System.load(None)
    images = [(n, pil_to_tensor(Image.fromarray(_sample_array(n).copy()))) for n in ("astronaut", "coffee")]
    rdp = compress_images(images, system).rdp
    orig = dict(images)

    def mean_psnr(beta):
        out = dict(decode_images(rdp, system, "multirealism", {"beta": beta}))
        return sum(PSNR().compute(orig[k], v) for k, v in out.items()) / len(out)

    with torch.no_grad():
        p0, p256 = mean_psnr(0.0), mean_psnr(2.56)
    assert 0 < p0 - p256 < 3.01


def test_make_demo_runs_on_the_bundled_system(tmp_path):
    r = rdpflex("demo", "-o", tmp_path / "demo")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "demo" / "report" / "report.html").is_file()
    assert "multirealism" in r.stdout
