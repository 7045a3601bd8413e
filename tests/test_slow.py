"""Long checks (``make test-slow``): real quick-recipe training and the bundled demo system."""

import os
import subprocess
import sys

import pytest

from rdpflex.train.recipe import RECIPES_DIR

pytestmark = pytest.mark.slow


def rdpflex(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", *map(str, args)], capture_output=True, text=True, env=os.environ, cwd=cwd
    )


def test_quick_codec_recipe_learns(tmp_path):
    """60 steps of recipes/quick/codec.yaml already beat the untrained codec on held-out images."""
    import json

    r = rdpflex(
        "train",
        RECIPES_DIR / "quick" / "codec.yaml",
        "--output",
        tmp_path / "run",
        "--set",
        "train.steps=60",
        "--set",
        "validation.every=60",
        "--set",
        "checkpoint.every=60",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [row for row in rows if row.get("split") == "val"]
    assert val[0]["step"] == 0 and val[-1]["step"] == 60
    assert val[-1]["psnr"] > val[0]["psnr"] + 5


def test_bundled_demo_system_idempotence_zeta_chain():
    """The claims in docs/decoders/idempotence.md: on a held-out photograph, the defaults re-encode at least
    as closely as ``mse``'s own output; with the projections off, stronger guidance (zeta 20 vs 5) re-encodes
    closer to the file's latent; every family decodes the same file."""
    import torch

    from rdpflex.evaluation.reencode import reencode
    from rdpflex.images import from_uint8
    from rdpflex.pipeline import compress_images, decode_images, latents
    from rdpflex.samples import sample_array
    from rdpflex.system import System

    system = System.load(None)
    x = from_uint8(sample_array("coffee")[:256, :256])
    rdp = compress_images([("coffee", x)], system).rdp
    (lat,) = latents(rdp, system)

    def agreement(name, opts):
        ((_, x_hat),) = decode_images(rdp, system, name, opts)
        return reencode(x_hat, lat, rdp.images[0], system.codec)

    ours, theirs = agreement("idempotence", None), agreement("mse", None)
    assert ours.latent_agreement >= theirs.latent_agreement and ours.mse_psnr >= theirs.mse_psnr, (ours, theirs)
    agree = {
        zeta: agreement("idempotence", {"zeta": zeta, "strength": 0.3, "consistency": 0, "project": 0})
        for zeta in (5.0, 20.0)
    }
    assert agree[20.0].latent_agreement > agree[5.0].latent_agreement + 0.01, agree
    assert agree[20.0].mse_psnr > agree[5.0].mse_psnr + 0.5, agree
    with torch.no_grad():
        for name, opts in (("mse", None), ("multirealism", {"beta": 2.56}), ("cdiff", {"steps": 4})):
            ((_, out),) = decode_images(rdp, system, name, opts)
            assert out.shape == x.shape and torch.isfinite(out).all()


def test_make_demo_runs_on_the_bundled_system(tmp_path):
    r = rdpflex("demo", "-o", tmp_path / "demo")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "demo" / "report" / "report.html").is_file()
    assert "multirealism" in r.stdout
