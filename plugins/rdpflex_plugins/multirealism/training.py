"""Training of the multi-realism decoder: the ``joint`` stage and the frozen-codec trainer.

``joint`` (Agustsson et al. 2023, Sec. 3.2 and 4.5): E, the entropy model, G and D trained together
from scratch, alternating one G step (Eq. 4, beta ~ U(0, beta_train_max) per example) and one D
step (Eq. 3). It produces the shared encoder the other decoder families reuse. The codec's own
synthesis g_s is trained alongside on the same (detached) latent with the distortion term only, so
the ``mse`` decoder of the exported system is the minimal-distortion reading of that latent::

    x ─E─► y ─entropy model─► y_hat, r(y_hat)
    G step: λ' r + MSE/100 + β(−log D(y_hat, G(y_hat, β)) + C_P·LPIPS) + MSE(g_s(sg(y_hat)))/100
    D step: −log D(y_hat, x) − log(1 − D(y_hat, sg(G(y_hat, β))))

:class:`MultiRealismTrainer` does the same on a frozen codec for the generic ``decoder`` stage
(``rdpflex.train.decoder_stage``): no rate term, y_hat from the codec's real quantisation.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdpflex.images import psnr_from_mse
from rdpflex.train.codec_stage import (
    aux_optimizer,
    ddp_ignore_quantiles,
    snapshot_codec,
    split_quantiles,
    trainable_codec,
)
from rdpflex.train.recipe import Recipe
from rdpflex.train.stage import StepContext, make_optimizer
from rdpflex_plugins.multirealism.hooks import JOINT, TRAINER
from rdpflex_plugins.multirealism.losses import LossWeights, discriminator_loss_from_logits, generator_loss, sample_beta
from rdpflex_plugins.multirealism.plugin import MultiRealismDecoder
from rdpflex_plugins.multirealism.settings import JointConfig, MultiRealismSettings


def build_decoder(settings: MultiRealismSettings, codec: Any) -> MultiRealismDecoder:
    """A fresh G, and HiFiC's D for training, for ``codec`` from the settings."""
    g, d = settings.generator, settings.discriminator
    return MultiRealismDecoder.for_codec(
        codec,
        N=g.N,
        blocks=g.blocks,
        cond=g.cond,
        cond_hidden=g.cond_hidden,
        table_bins=g.table_bins,
        beta_train_max=settings.beta_train_max,
        beta_max=settings.fixed_beta if settings.fixed_beta is not None else settings.beta_max,
        discriminator=True,
        disc_channels=d.channels,
        disc_latent_features=d.latent_features,
        disc_input_scale=d.input_scale,
    )


def perceptual_fn(settings: MultiRealismSettings) -> Any:
    """LPIPS(x, x_hat) per example, or None. Never a randomly initialised backbone."""
    from rdpflex.train.perceptual import lpips_loss

    return None if settings.perceptual == "none" else lpips_loss(settings.lpips_weights)


class GanSteps:
    """The alternating G/D update (Eq. 4 then Eq. 3) that ``joint`` and the frozen-codec trainer both hold.

    Everything it needs is passed in: the settings and the perceptual loss (``None``: no LPIPS term).
    """

    def __init__(self, settings: MultiRealismSettings, perceptual: Any) -> None:
        self.settings, self.perceptual = settings, perceptual

    def betas(self, n: int, device: Any) -> Tensor:
        """beta ~ U(0, beta_train_max) per example, or the GAN baseline's fixed beta."""
        s = self.settings
        if s.fixed_beta is not None:
            return torch.full((n,), s.fixed_beta, device=device)
        return sample_beta(n, beta_max=s.beta_train_max, device=device)

    def step(
        self,
        ctx: StepContext,
        x: Tensor,
        y_hat: Tensor,
        likelihoods: Any,
        lmbda: float | None,
        extra_loss: Tensor | None = None,
        main: str = "main",
    ) -> dict[str, float]:
        """One G step (optimiser ``main``) then one D step (optimiser ``disc``); returns the logged floats.

        Before ``gan_start`` G's loss has no GAN term; D steps from ``gan_start - discriminator.warmup``.
        """
        s = self.settings
        G, D = ctx.modules["generator"], ctx.modules["discriminator"]
        D_bare = ctx.unwrap("discriminator")
        beta = self.betas(x.shape[0], x.device)
        D_bare.requires_grad_(False)
        x_hat = G(y_hat, beta)
        weights = LossWeights(lmbda=(lmbda or 0.01) * ctx.lambda_scale, c_p=s.c_p, decoupled_c_p=s.decoupled_c_p)
        terms = generator_loss(
            x,
            x_hat.float(),
            beta,
            likelihoods=likelihoods if lmbda else None,
            y_hat=y_hat,
            discriminator=D_bare if ctx.step >= s.gan_start else None,
            perceptual=self.perceptual,
            weights=weights,
        )
        loss = terms["total"] + (extra_loss if extra_loss is not None else 0.0)
        ctx.backward_step(main, loss)
        D_bare.requires_grad_(True)
        out = {k: float(v.detach()) for k, v in terms.items()}
        if ctx.step >= s.gan_start - s.discriminator.warmup:
            n = x.shape[0]
            y_sg = y_hat.detach()
            logits = D(torch.cat([y_sg, y_sg]), torch.cat([x, x_hat.detach().to(x.dtype)]))
            d_terms = discriminator_loss_from_logits(logits[:n].float(), logits[n:].float())
            ctx.backward_step("disc", d_terms["total"])
            out.update(
                d_loss=float(d_terms["total"].detach()),
                d_real=float(d_terms["real"].detach()),
                d_fake=float(d_terms["fake"].detach()),
            )
        out["psnr_G"] = psnr_from_mse(max(out.get("mse", 1e-10), 1e-10))
        return out

    def generator_psnrs(self, generator: nn.Module, codec: Any, x: Tensor) -> dict[str, float]:
        """PSNR of G at beta = 0 and beta_max on one held-out image (entropy-coded latent)."""
        from rdpflex.pipeline import psnr

        xp = codec.pad(x)
        y_hat = codec.compress(xp)["y_hat"]
        H, W = x.shape[-2:]
        s = self.settings
        betas = {"beta0": 0.0, "beta_max": s.beta_max} if s.fixed_beta is None else {"beta_fixed": s.fixed_beta}
        return {f"psnr_G_{k}": psnr(x, generator(y_hat, b)[..., :H, :W].clamp(0, 1)) for k, b in betas.items()}

    def optimizers(
        self, decoder: MultiRealismDecoder, optim: Any, extra_main: list[Any] = ()
    ) -> dict[str, torch.optim.Optimizer]:
        """``main`` (G, plus ``extra_main`` parameters) and ``disc`` (D, at ``discriminator.lr`` when set)."""
        d_lr = self.settings.discriminator.lr or optim.lr
        return {
            "main": make_optimizer([*extra_main, *decoder.generator.parameters()], optim),
            "disc": make_optimizer(decoder.discriminator.parameters(), optim, lr=d_lr),
        }


def _unwrapped(accelerator: Any, module: nn.Module) -> nn.Module:
    return accelerator.unwrap_model(module) if accelerator is not None else module


def _mean_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]} if rows else {}


class JointStage:
    """``stage: joint`` — E + entropy model + beta-conditional G + D from scratch (Agustsson, Minnen, Toderici,
    Mentzer 2023, "Multi-Realism Image Compression with a Conditional Generator", CVPR 2023, arXiv:2212.13824)."""

    name: ClassVar[str] = JOINT.name
    description: ClassVar[str] = JOINT.description
    Config = JointConfig

    def __init__(self, recipe: Recipe, config: JointConfig, accelerator: Any) -> None:
        self.recipe, self.config, self.accelerator = recipe, config, accelerator
        self.codec = trainable_codec(config.codec, accelerator)
        self.decoder = build_decoder(config.multirealism, self.codec).train()
        self.gan = GanSteps(config.multirealism, perceptual_fn(config.multirealism))

    @classmethod
    def check_recipe(cls, recipe: Recipe, config: JointConfig) -> list[tuple[str, str]]:
        return JOINT.check_recipe(recipe, config)

    def modules(self) -> dict[str, nn.Module]:
        return {
            "codec": ddp_ignore_quantiles(self.codec),
            "generator": self.decoder.generator,
            "discriminator": self.decoder.discriminator,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        main, aux = split_quantiles(self.codec)
        return self.gan.optimizers(self.decoder, self.recipe.optim, extra_main=main) | {
            "aux": aux_optimizer(aux, self.config.codec.aux_lr)
        }

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, float]:
        out = ctx.modules["codec"](batch, detach_synthesis=True)
        ref_mse = F.mse_loss(out["x_hat"].float(), batch) * 255**2 / 100  # g_s: distortion term of Eq. 4 only
        logs = self.gan.step(ctx, batch, out["y_hat"], out["likelihoods"], self.config.lmbda, extra_loss=ref_mse)
        aux = ctx.unwrap("codec").aux_loss()
        ctx.backward_step("aux", aux, clip=False, reduce=True)
        logs.update(aux=float(aux.detach()), psnr_mse=psnr_from_mse(max(float(ref_mse.detach()) * 100, 1e-10)))
        return logs

    def _snapshot(self, device: Any) -> tuple[Any, MultiRealismDecoder]:
        codec = snapshot_codec(_unwrapped(self.accelerator, self.codec), device)
        gen = copy.deepcopy(_unwrapped(self.accelerator, self.decoder.generator))
        dec = MultiRealismDecoder(gen.float().eval(), beta_max=self.decoder.beta_max)
        return codec, dec.to(device)

    def validate(self, images: list[Tensor], ctx: StepContext) -> dict[str, float]:
        from rdpflex.train.evaluate import codec_metrics

        codec, dec = self._snapshot(ctx.device)
        return _mean_rows([codec_metrics(codec, x) | self.gan.generator_psnrs(dec.generator, codec, x) for x in images])

    def export(self, output_dir: Path) -> Path:
        from rdpflex.system import System

        codec, dec = self._snapshot("cpu")
        info = {
            "trained_with": {
                "stage": self.name,
                "steps": self.recipe.train.steps,
                "lambda": self.config.lmbda,
                "perceptual": self.config.multirealism.perceptual,
            }
        }
        system = System(codec, info=info)
        root = system.save(Path(output_dir) / "system")
        system.add_decoder(dec)
        return root


class MultiRealismTrainer:
    """G and D on a frozen codec (the generic ``decoder`` stage with ``family: multirealism``)."""

    family: ClassVar[str] = TRAINER.family
    Config = MultiRealismSettings

    def __init__(self, recipe: Recipe, settings: MultiRealismSettings, accelerator: Any, codec: Any) -> None:
        self.recipe, self.settings, self.accelerator = recipe, settings, accelerator
        self.decoder = build_decoder(settings, codec).train()
        self.gan = GanSteps(settings, perceptual_fn(settings))

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.decoder.generator, "discriminator": self.decoder.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.gan.optimizers(self.decoder, self.recipe.optim)

    def train_step(self, x: Tensor, y_hat: Tensor, ctx: StepContext) -> dict[str, float]:
        return self.gan.step(ctx, x, y_hat, None, None)

    def export_decoder(self) -> MultiRealismDecoder:
        gen = copy.deepcopy(_unwrapped(self.accelerator, self.decoder.generator))
        return MultiRealismDecoder(gen.float().cpu().eval(), beta_max=self.decoder.beta_max)

    def validate(self, images: list[Tensor], codec: Any, ctx: StepContext) -> dict[str, float]:
        dec = self.export_decoder().to(ctx.device)
        return _mean_rows([self.gan.generator_psnrs(dec.generator, codec, x) for x in images])
