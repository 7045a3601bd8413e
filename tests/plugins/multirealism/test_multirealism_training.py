"""The `joint` stage and the frozen-codec `decoder` stage of the multirealism family."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from PIL import Image

from rdpflex.errors import RecipeError
from rdpflex.system import System
from rdpflex.train.recipe import RECIPES_DIR, load_recipe, validate_recipe
from rdpflex.train.stage import StepContext
from rdpflex_plugins.multirealism.training import JointStage
from tests.conftest import run_two_processes

TINY = {
    "perceptual": "none",
    "generator": {"N": 8, "blocks": 1, "cond_hidden": 16},
    "discriminator": {"channels": [8, 8, 8, 8], "latent_features": 4},
}


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", *map(str, args)], capture_output=True, text=True, env=os.environ
    )


def test_joint_steps_reduce_the_loss():
    torch.manual_seed(0)
    loaded = load_recipe(RECIPES_DIR / "tiny" / "joint.yaml")
    stage = JointStage(loaded.recipe, loaded.config, None)
    acc = Accelerator(cpu=True)
    ctx = StepContext(accelerator=acc, modules=stage.modules(), optimizers=stage.optimizers(), total_steps=40)
    x = torch.rand(2, 3, 64, 64)
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2)
    first = None
    for step in range(40):
        ctx.step = step
        logs = stage.train_step(x, ctx)
        first = first if first is not None else logs["distortion"] + logs["rate"]
    assert set(logs) >= {"rate", "distortion", "gan", "d_loss", "total", "aux"}
    assert logs["distortion"] + logs["rate"] < 0.7 * first


def test_joint_recipe_trains_and_decodes_at_beta(tmp_path, image_paths):
    out = tmp_path / "run"
    r = run("train", RECIPES_DIR / "tiny" / "joint.yaml", "--output", out)
    assert r.returncode == 0, r.stderr
    system = out / "system"
    assert (system / "decoders" / "multirealism" / "model.safetensors").is_file()
    r = run("compress", *image_paths, "-o", tmp_path / "s.rdp", "--system", system)
    assert r.returncode == 0, r.stderr
    for beta in ("0", "2.56"):
        r = run(
            "decompress",
            tmp_path / "s.rdp",
            "-o",
            tmp_path / f"b{beta}",
            "--system",
            system,
            "--decoder",
            "multirealism",
            "--set",
            f"beta={beta}",
        )
        assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "b2.56").glob("*.png"))) == len(image_paths)
    # the knob reaches the pixels: beta 0 and beta_max decode the same file differently
    low, high = ({p.name: np.asarray(Image.open(p)) for p in (tmp_path / b).glob("*.png")} for b in ("b0", "b2.56"))
    assert low.keys() == high.keys() and any(not np.array_equal(low[k], high[k]) for k in low)
    r = run(
        "decompress",
        tmp_path / "s.rdp",
        "-o",
        tmp_path / "x",
        "--system",
        system,
        "--decoder",
        "multirealism",
        "--set",
        "beta=9",
    )
    assert r.returncode == 2 and "0 <= beta <= 2.56" in r.stderr


def test_decoder_stage_on_frozen_codec(tmp_path, tiny_system_dir, image_paths):
    from rdpflex.pipeline import compress_images, decode_images
    from rdpflex.train.trainer import train

    raw = load_recipe(RECIPES_DIR / "tiny" / "joint.yaml").raw
    raw = {k: v for k, v in raw.items() if k != "joint"} | {
        "stage": "decoder",
        "decoder": {"system": str(tiny_system_dir), "family": "multirealism", "settings": TINY},
    }
    root = train(validate_recipe(raw, "test"), output=tmp_path / "dec")
    system = System.load(root)
    frozen = System.load(tiny_system_dir)
    assert system.fingerprint == frozen.fingerprint  # the codec did not move
    rdp = compress_images(image_paths, frozen).rdp
    out = dict(decode_images(rdp, system, "multirealism", {"beta": 1.28}))
    assert all(
        v.shape[-2:] == (int(h), int(w)) for v, (h, w) in zip(out.values(), (im.image_size for im in rdp.images))
    )


def test_decoder_stage_errors_name_the_field(tiny_system_dir):
    raw = load_recipe(RECIPES_DIR / "tiny" / "joint.yaml").raw
    raw = {k: v for k, v in raw.items() if k != "joint"} | {
        "stage": "decoder",
        "decoder": {"system": str(tiny_system_dir), "family": "mse", "settings": {}},
    }
    with pytest.raises(
        RecipeError, match="decoder.family: 'mse' has no trainer; trainable decoder families: cdiff, multirealism"
    ):
        validate_recipe(raw)
    raw["decoder"] = {
        "system": str(tiny_system_dir),
        "family": "multirealism",
        "settings": {"beta_max": -1, "bogus": 1},
    }
    with pytest.raises(RecipeError) as err:
        validate_recipe(raw)
    assert "decoder.settings.beta_max" in str(err.value) and "decoder.settings.bogus" in str(err.value)


def test_gan_baseline_settings_validate():
    from rdpflex_plugins.multirealism.settings import MultiRealismSettings
    from rdpflex_plugins.multirealism.training import build_gan

    with pytest.raises(ValueError, match="fixed_beta"):
        MultiRealismSettings(generator={"cond": "none"})
    s = MultiRealismSettings(generator={"cond": "none", "N": 8, "blocks": 1}, fixed_beta=2.56, perceptual="none")
    dec, _ = build_gan(s, System.tiny().codec)
    assert dec.beta_min == dec.beta_max == 2.56


def test_gan_start_and_discriminator_warmup_schedule():
    """Before gan_start - warmup only G trains (no GAN term); then D alone; from gan_start both."""
    from rdpflex_plugins.multirealism.settings import MultiRealismSettings
    from rdpflex_plugins.multirealism.training import GanSteps, MultiRealismTrainer

    with pytest.raises(ValueError, match="warmup"):
        MultiRealismSettings(**TINY | {"discriminator": {"warmup": 5}}, gan_start=2)
    settings = MultiRealismSettings(
        **TINY | {"discriminator": {"channels": [8, 8, 8, 8], "latent_features": 4, "warmup": 2, "input_scale": 4.0}},
        gan_start=3,
    )
    loaded = load_recipe(RECIPES_DIR / "tiny" / "joint.yaml")
    codec = System.tiny().codec
    trainer = MultiRealismTrainer(loaded.recipe, settings, None, codec)
    assert trainer.discriminator.input_scale == 4.0
    ctx = StepContext(
        accelerator=Accelerator(cpu=True), modules=trainer.modules(), optimizers=trainer.optimizers(), total_steps=5
    )
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64)
    y_hat = codec(x)["y_hat"].detach()
    gan = GanSteps(settings, None)
    d_params = lambda: [p.detach().clone() for p in trainer.discriminator.parameters()]  # noqa: E731
    seen = []
    for step in range(5):
        ctx.step = step
        before = d_params()
        logs = gan.step(ctx, x, y_hat, None, None)
        d_moved = any(not torch.equal(a, b) for a, b in zip(before, d_params()))
        seen.append((logs["gan"] > 0, "d_loss" in logs, d_moved))
    assert seen == [(False, False, False)] + [(False, True, True)] * 2 + [(True, True, True)] * 2


def test_lpips_without_weights_is_a_clear_error(monkeypatch, tmp_path):
    from rdpflex.errors import WeightsMissingError
    from rdpflex_plugins.multirealism.settings import MultiRealismSettings
    from rdpflex_plugins.multirealism.training import perceptual_fn

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("RDPFLEX_ALEXNET_WEIGHTS", raising=False)
    with pytest.raises(WeightsMissingError, match="alexnet-owt-7be5be79.pth"):
        perceptual_fn(MultiRealismSettings(perceptual="lpips"))


def test_joint_two_process_torchrun(tmp_path):
    """G, D and the codec under DDP (gloo, 2 CPU processes): one system, identical weights everywhere."""
    out = tmp_path / "ddp"
    proc = run_two_processes([str(RECIPES_DIR / "tiny" / "joint.yaml"), "--output", str(out)], tmp_path)
    stdout, stderr = proc.stdout, proc.stderr
    assert proc.returncode == 0, stderr[-3000:]
    assert "2 process(es) on cpu" in stdout + stderr
    assert (out / "system" / "decoders" / "multirealism" / "model.safetensors").is_file()
    System.load(out / "system").decoder("multirealism")
