"""The realism signal of multi-realism training: D that learns and says when it collapses, a beta path
that lives (normalised Fourier features, warm start, conditioning-only training), ST-LPIPS as C_P term."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from accelerate import Accelerator

from rdpflex.system import System
from rdpflex.train.recipe import RECIPES_DIR, load_recipe
from rdpflex.train.stage import StepContext
from rdpflex_plugins.multirealism.conditioning import fourier_features
from rdpflex_plugins.multirealism.losses import discriminator_loss_from_logits
from rdpflex_plugins.multirealism.settings import MultiRealismSettings
from rdpflex_plugins.multirealism.training import (
    CollapseWatch,
    GanSteps,
    MultiRealismTrainer,
    conditioning_active_fraction,
    conditioning_split,
    discriminator_diagnostics,
)

TINY_G = {"N": 8, "blocks": 1, "cond_hidden": 16}
TINY_D = {"channels": [8, 16, 16, 16], "latent_features": 4}


def textures(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Images with texture at every scale (a blurring codec loses the fine part)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 3, size // 8, size // 8), generator=g)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (0.7 * x + 0.3 * torch.rand((n, 3, size, size), generator=g)).clamp(0, 1)


def trainer_for(settings: MultiRealismSettings, codec) -> tuple[MultiRealismTrainer, StepContext]:
    recipe = load_recipe(RECIPES_DIR / "tiny" / "joint.yaml").recipe
    trainer = MultiRealismTrainer(recipe, settings, None, codec)
    ctx = StepContext(
        accelerator=Accelerator(cpu=True), modules=trainer.modules(), optimizers=trainer.optimizers(), total_steps=1
    )
    return trainer, ctx


def test_discriminator_diagnostics_are_hifics_monitors():
    real, fake = torch.full((2, 1, 4, 4), 2.0), torch.full((2, 1, 4, 4), -2.0)
    d = discriminator_diagnostics(real, fake)
    assert d["d_prob_real"] == pytest.approx(1 / (1 + math.exp(-2)))
    assert d["d_prob_fake"] == pytest.approx(1 / (1 + math.exp(2)))
    assert d["d_logit_spread"] == pytest.approx(float(torch.cat([real.flatten(), fake.flatten()]).std()))
    assert discriminator_diagnostics(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4))["d_logit_spread"] == 0.0


def test_a_collapsed_discriminator_is_reported_once(caplog):
    watch = CollapseWatch(threshold=0.01, patience=3)
    with caplog.at_level(logging.WARNING, logger="rdpflex.train"):
        flags = [watch.update(s, step) for step, s in enumerate([0.5, 0.001, 0.002, 0.5, 0.001, 0.001, 0.001, 0.001])]
    assert flags == [False, False, False, False, False, False, True, False]
    (record,) = caplog.records
    assert "discriminator collapsed at step 6" in record.getMessage()


def test_the_discriminator_alone_learns_below_ln4():
    """HiFiC's D optimiser (the settings' defaults) on a frozen codec's reconstructions: the loss falls
    clearly below ln 4 (the old demo optimiser, Adam 2e-3 with betas (0.9, 0.999), sat at ln 4)."""
    torch.manual_seed(0)
    settings = MultiRealismSettings(generator=TINY_G, discriminator=TINY_D | {"input_scale": 4.0}, perceptual="none")
    assert settings.discriminator.lr == 1e-4 and settings.discriminator.betas == (0.5, 0.9)
    codec = System.tiny().codec.eval()
    trainer, ctx = trainer_for(settings, codec)
    D, opt = trainer.discriminator, ctx.optimizers["disc"]
    assert opt.param_groups[0]["betas"] == (0.5, 0.9)
    for g in opt.param_groups:
        g["lr"] = 1e-3  # the test's budget is 80 steps, not thousands
    losses = []
    for step in range(80):
        x = textures(4, seed=step)
        with torch.no_grad():
            out = codec(x)
        y, x_hat = out["y_hat"], out["x_hat"].clamp(0, 1)
        logits = D(torch.cat([y, y]), torch.cat([x, x_hat]))
        loss = discriminator_loss_from_logits(logits[:4], logits[4:])["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert sum(losses[-10:]) / 10 < math.log(4) - 0.3


def test_fourier_features_encode_normalised_beta():
    beta = torch.tensor([0.0, 2.56, 5.12])
    raw, normalised = fourier_features(beta), fourier_features(beta, scale=1 / 5.12)
    assert torch.equal(normalised[:, 0], torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(normalised[2, 1:3], torch.tensor([0.0, -1.0]), atol=1e-5)  # sin(pi), cos(pi)
    assert torch.equal(raw[:, 0], beta)
    # the training build normalises by default
    settings = MultiRealismSettings(generator=TINY_G, discriminator=TINY_D, perceptual="none")
    trainer, _ = trainer_for(settings, System.tiny().codec)
    assert trainer.decoder.generator.config["fourier_scale"] == pytest.approx(1 / 5.12)


@pytest.mark.parametrize("gain", [False, True])
def test_warm_start_keeps_the_body_and_zeroes_the_conditioning(tmp_path, gain):
    system = System.tiny()
    source = MultiRealismTrainer(
        load_recipe(RECIPES_DIR / "tiny" / "joint.yaml").recipe,
        MultiRealismSettings(generator=TINY_G, discriminator=TINY_D, perceptual="none"),
        None,
        system.codec,
    ).export_decoder()
    root = system.save(tmp_path / "sys")
    System.load(root).add_decoder(source)
    generator = TINY_G | {"cond_anchor": gain, "cond_gain": gain}
    settings = MultiRealismSettings(generator=generator, discriminator=TINY_D, perceptual="none", init=str(root))
    trainer, _ = trainer_for(settings, system.codec)
    gen = trainer.decoder.generator.eval()
    cond, body = conditioning_split(gen)
    src_cond, src_body = conditioning_split(source.generator)
    assert all(torch.equal(a, b) for a, b in zip(body, src_body))
    assert len(cond) == len(src_cond) + (len(gen.conditional_offsets()) if gain else 0)  # + the gain projections
    y = system.codec(textures(1))["y_hat"]
    with torch.no_grad():
        assert torch.equal(gen(y, 0.0), gen(y, 2.56))  # zero projections: the same G at every beta

    with pytest.raises(ValueError, match="set init"):
        MultiRealismSettings(generator=TINY_G, perceptual="none", train_body=False)


@pytest.mark.parametrize("anchored", [False, True])
def test_a_beta_path_lives_with_the_realism_terms_on(tmp_path, anchored):
    """Warm-started (identical outputs at every beta), conditioning-only, ST-LPIPS as C_P term: after a
    few dozen steps G(y, 0) and G(y, beta_max) differ, the body has not moved, and units stay active.
    Anchored with a gain (the demo recipe's conditioning): G(y, 0) is still exactly the warm-start G."""
    torch.manual_seed(0)
    system = System.tiny()
    root = system.save(tmp_path / "sys")
    loaded = System.load(root)
    loaded.add_decoder(
        MultiRealismTrainer(
            load_recipe(RECIPES_DIR / "tiny" / "joint.yaml").recipe,
            MultiRealismSettings(generator=TINY_G, discriminator=TINY_D, perceptual="none"),
            None,
            system.codec,
        ).export_decoder()
    )
    settings = MultiRealismSettings(
        generator=TINY_G | ({"cond_anchor": True, "cond_gain": True} if anchored else {}),
        discriminator=TINY_D,
        perceptual="st-lpips",
        init=str(root),
        train_body=False,
        cond_lr_factor=30.0,
    )
    codec = system.codec.eval()
    trainer, ctx = trainer_for(settings, codec)
    gen = trainer.decoder.generator
    _, body = conditioning_split(gen)
    body_before = [p.detach().clone() for p in body]
    probe = codec(textures(2, seed=99))["y_hat"].detach()
    with torch.no_grad():
        start = gen.eval()(probe, 0.0)
    gen.train()
    gan = GanSteps(settings, trainer.gan.perceptual)
    for step in range(40):
        ctx.step = step
        x = textures(4, seed=step)
        with torch.no_grad():
            y = codec(x)["y_hat"]
        gan.step(ctx, x, y, None, None)
    gen.eval()
    with torch.no_grad():
        rms = float((gen(probe, 0.0) - gen(probe, 2.56)).pow(2).mean().sqrt())
        assert torch.equal(gen(probe, 0.0), start) == anchored
    assert rms > 1e-3
    assert all(torch.equal(a, b) for a, b in zip(body, body_before))
    assert conditioning_active_fraction(gen, 2.56) > 0.2
