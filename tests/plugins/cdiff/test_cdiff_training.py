"""Training cdiff on a frozen codec: the loss falls, EMA is checkpointed and exported, settings are validated."""

import math

import pytest
import torch

from rdpflex.errors import RecipeError
from rdpflex.system import System
from rdpflex.train.recipe import RECIPES_DIR, load_recipe, validate_recipe
from rdpflex_plugins.cdiff.schedules import alpha_bar_at, scheduler_config, shifted_cosine_betas
from rdpflex_plugins.cdiff.settings import CDiffSettings
from rdpflex_plugins.cdiff.training import CDiffTrainer, predicted_x0

from .cdiff_helpers import losses_on_a_fixed_cycle


def tiny_recipe(system_dir, **settings):
    raw = load_recipe(RECIPES_DIR / "tiny" / "cdiff-decoder.yaml", [f"decoder.system={system_dir}"]).raw
    raw["decoder"]["settings"] |= settings
    return validate_recipe(raw, "test")


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_a_few_training_steps_reduce_the_loss(tiny_system_dir, prediction_type):
    torch.manual_seed(0)
    loaded = tiny_recipe(tiny_system_dir, noise={"num_train_timesteps": 100, "prediction_type": prediction_type})
    codec = System.load(tiny_system_dir).codec.requires_grad_(False)
    trainer = CDiffTrainer(loaded.recipe, CDiffSettings.model_validate(loaded.config.settings), None, codec)
    losses = losses_on_a_fixed_cycle(trainer, codec, "diffusion")[0]
    assert sum(losses[-3:]) < 0.85 * sum(losses[:3])  # at least 15% lower on the same draws
    assert trainer.ema.optimization_step == 30
    dec = trainer.export_decoder()  # the EMA weights, not the raw ones
    ema_first = trainer.ema.shadow_params[0]
    assert torch.allclose(next(dec.denoiser.parameters()), ema_first)


def test_predicted_x0_inverts_the_forward_process():
    x0, eps = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    ab = torch.tensor([0.3, 0.9]).view(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    v = ab.sqrt() * eps - (1 - ab).sqrt() * x0
    assert torch.allclose(predicted_x0(eps, x_t, ab, "epsilon"), x0, atol=1e-5)
    assert torch.allclose(predicted_x0(v, x_t, ab, "v_prediction"), x0, atol=1e-5)


def test_recipe_trains_checkpoints_ema_and_exports(tmp_path, tiny_system_dir, image_paths):
    from rdpflex.pipeline import compress_images, decode_images
    from rdpflex.train.trainer import train

    root = train(tiny_recipe(tiny_system_dir), output=tmp_path / "run")
    ckpt = sorted((tmp_path / "run" / "checkpoints").glob("step-*"))[-1]
    assert list(ckpt.glob("custom_checkpoint_*"))  # the EMA state is part of every checkpoint
    system = System.load(root)
    assert system.fingerprint == System.load(tiny_system_dir).fingerprint
    rdp = compress_images(image_paths, system).rdp
    out = dict(decode_images(rdp, system, "cdiff", {"steps": 2}))
    assert {k: v.shape[-2:] for k, v in out.items()} == {im.stem: torch.Size(im.image_size) for im in rdp.images}
    resumed = train(tiny_recipe(tiny_system_dir), output=tmp_path / "run", resume=True)
    assert resumed is not None


def test_settings_errors_name_the_field(tiny_system_dir):
    raw = load_recipe(RECIPES_DIR / "tiny" / "cdiff-decoder.yaml", [f"decoder.system={tiny_system_dir}"]).raw
    raw["decoder"]["settings"] |= {
        "unet": {"block_out_channels": [12, 16], "norm_num_groups": 8},
        "perceptual": "lpips",
    }
    with pytest.raises(RecipeError) as exc:
        validate_recipe(raw)
    assert "decoder.settings.unet" in str(exc.value) and "does not divide" in str(exc.value)


def test_shifted_schedule_moves_toward_less_noise():
    plain = alpha_bar_at(scheduler_config("shifted_cosine", shift=0.0))
    shifted = alpha_bar_at(scheduler_config("shifted_cosine", shift=2 * math.log(2)))
    assert abs(plain[0.5] - 0.5) < 0.01 and abs(shifted[0.5] - 0.8) < 0.01  # the docs' numbers: SNR x 4
    assert all(shifted[f] > plain[f] for f in plain)
    betas = shifted_cosine_betas(1000, 1.0)
    assert len(betas) == 1000 and all(0 < b <= 0.999 for b in betas)
