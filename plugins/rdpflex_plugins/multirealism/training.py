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
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from rdpflex.images import psnr_from_mse
from rdpflex.metrics import mean_rows
from rdpflex.train.codec_stage import CodecSource, aux_optimizer, ddp_ignore_quantiles, snapshot_codec, split_quantiles
from rdpflex.train.recipe import Recipe, Strict
from rdpflex.train.stage import StepContext, make_optimizer
from rdpflex_plugins.multirealism.losses import LossWeights, discriminator_loss_from_logits, generator_loss, sample_beta
from rdpflex_plugins.multirealism.plugin import MultiRealismDecoder


class GeneratorSettings(Strict):
    N: int = Field(256, ge=4, description="Generator width (paper: 256).")
    blocks: int = Field(3, ge=1, description="Residual blocks per scale (ELIC: 3).")
    cond: Literal["fourier", "table", "none"] = Field("fourier", description="beta conditioning: FourierCond, TableCond, or none (fixed-beta GAN baseline).")
    cond_hidden: int = Field(512, ge=8, description="FourierCond MLP width (paper: 512).")
    table_bins: int = Field(64, ge=2, description="TableCond: beta bins.")


class DiscriminatorSettings(Strict):
    channels: list[int] = Field([64, 128, 256, 512], min_length=2, description="HiFiC widths: three stride-2 convs and one stride-1 conv.")
    latent_features: int = Field(12, ge=1, description="Channels of the y_hat branch (HiFiC: 12).")
    lr: float | None = Field(None, gt=0, description="D's learning rate (default: optim.lr).")


class MultiRealismSettings(Strict):
    """Generator, discriminator and Eq. 4 settings (shared by ``joint`` and ``decoder`` training)."""

    generator: GeneratorSettings = Field(default_factory=GeneratorSettings)
    discriminator: DiscriminatorSettings = Field(default_factory=DiscriminatorSettings)
    beta_train_max: float = Field(5.12, gt=0, description="beta ~ U(0, beta_train_max) per example in training (paper: 5.12).")
    beta_max: float = Field(2.56, ge=0, description="Largest beta offered at decode time, stored with the weights (paper: 2.56).")
    fixed_beta: float | None = Field(None, ge=0, description="GAN baseline: train at this beta only (use with generator.cond: none).")
    c_p: float = Field(4.26, ge=0, description="C_P, LPIPS weight relative to the GAN term (HiFiC's 4.26).")
    decoupled_c_p: float | None = Field(None, ge=0, description="Ablation: LPIPS weighted by this C'_P instead of beta * C_P.")
    perceptual: Literal["lpips", "none"] = Field(
        "lpips", description="`lpips`: LPIPS(alex) — needs the AlexNet weights in $TORCH_HOME/hub/checkpoints or `lpips_weights`; `none`: no perceptual term (C_P effectively 0)."
    )
    lpips_weights: str | None = Field(None, description="Path of alexnet-owt-7be5be79.pth (default: the torch hub cache).")

    @model_validator(mode="after")
    def _consistent(self) -> "MultiRealismSettings":
        if self.generator.cond == "none" and self.fixed_beta is None:
            raise ValueError("generator.cond 'none' (GAN baseline) needs fixed_beta")
        if self.fixed_beta is not None and self.generator.cond != "none":
            raise ValueError("fixed_beta is the GAN baseline: set generator.cond to 'none'")
        if self.fixed_beta is None and self.beta_max > self.beta_train_max:
            raise ValueError(f"beta_max ({self.beta_max}) exceeds beta_train_max ({self.beta_train_max})")
        return self

    def build_decoder(self, codec) -> MultiRealismDecoder:
        g, d = self.generator, self.discriminator
        return MultiRealismDecoder.for_codec(
            codec, N=g.N, blocks=g.blocks, cond=g.cond, cond_hidden=g.cond_hidden, table_bins=g.table_bins,
            beta_train_max=self.beta_train_max, beta_max=self.fixed_beta if self.fixed_beta is not None else self.beta_max,
            discriminator=True, disc_channels=d.channels, disc_latent_features=d.latent_features,
        )

    def perceptual_fn(self):
        """LPIPS(x, x_hat) per example, or None. Never a randomly initialised backbone."""
        from rdpflex.train.perceptual import lpips_loss

        return None if self.perceptual == "none" else lpips_loss(self.lpips_weights)


class JointConfig(MultiRealismSettings, CodecSource):
    """The ``joint:`` section: the codec to train (``arch``/``config`` or ``init``, ``aux_lr``) plus G, D and Eq. 4."""

    arch: str = Field("elic", description="Codec architecture of E and the entropy model (paper: elic = ELIC + Charm).")
    lmbda: float = Field(0.01, gt=0, alias="lambda", description="Eq. 4's lambda: rate weight lambda' = 100 lambda (0.01: Eq. 1 with lambda = 1/100).")


class _GanSteps:
    """The alternating G/D update shared by ``joint`` and the frozen-codec trainer."""

    settings: MultiRealismSettings

    def _betas(self, n: int, device) -> Tensor:
        s = self.settings
        if s.fixed_beta is not None:
            return torch.full((n,), s.fixed_beta, device=device)
        return sample_beta(n, beta_max=s.beta_train_max, device=device)

    def gan_step(self, ctx: StepContext, x: Tensor, y_hat: Tensor, likelihoods: Any, lmbda: float | None,
                 extra_loss: Tensor | None = None, main: str = "main") -> dict[str, float]:
        s = self.settings
        G, D = ctx.modules["generator"], ctx.modules["discriminator"]
        D_bare = ctx.unwrap("discriminator")
        beta = self._betas(x.shape[0], x.device)
        D_bare.requires_grad_(False)
        x_hat = G(y_hat, beta)
        weights = LossWeights(lmbda=(lmbda or 0.01) * ctx.lambda_scale, c_p=s.c_p, decoupled_c_p=s.decoupled_c_p)
        terms = generator_loss(x, x_hat.float(), beta, likelihoods=likelihoods if lmbda else None, y_hat=y_hat,
                               discriminator=D_bare, perceptual=self.perceptual, weights=weights)
        loss = terms["total"] + (extra_loss if extra_loss is not None else 0.0)
        ctx.backward_step(main, loss)
        D_bare.requires_grad_(True)
        n = x.shape[0]
        y_sg = y_hat.detach()
        logits = D(torch.cat([y_sg, y_sg]), torch.cat([x, x_hat.detach().to(x.dtype)]))
        d_terms = discriminator_loss_from_logits(logits[:n].float(), logits[n:].float())
        ctx.backward_step("disc", d_terms["total"])
        out = {k: float(v.detach()) for k, v in terms.items()}
        out.update(d_loss=float(d_terms["total"].detach()), d_real=float(d_terms["real"].detach()), d_fake=float(d_terms["fake"].detach()))
        out["psnr_G"] = psnr_from_mse(max(out.get("mse", 1e-10), 1e-10))
        return out

    def generator_psnrs(self, generator: nn.Module, codec, x: Tensor) -> dict[str, float]:
        """PSNR of G at beta = 0 and beta_max on one held-out image (entropy-coded latent)."""
        from rdpflex.pipeline import psnr

        xp = codec.pad(x)
        y_hat = codec.compress(xp)["y_hat"]
        H, W = x.shape[-2:]
        betas = {"beta0": 0.0, "beta_max": self.settings.beta_max} if self.settings.fixed_beta is None else {"beta_fixed": self.settings.fixed_beta}
        return {f"psnr_G_{k}": psnr(x, generator(y_hat, b)[..., :H, :W].clamp(0, 1)) for k, b in betas.items()}


class JointStage(_GanSteps):
    """``stage: joint`` — E + entropy model + beta-conditional G + D from scratch (Agustsson et al. 2023, "Multi-Realism Image Compression with a Conditional Generator", CVPR 2023, arXiv:2212.13824)."""

    name: ClassVar[str] = "joint"
    description: ClassVar[str] = "multi-realism joint training: encoder + entropy model + beta-conditional generator + discriminator (Eq. 3, 4), alternating G/D steps"
    Config = JointConfig

    def __init__(self, recipe: Recipe, config: JointConfig, accelerator: Any) -> None:
        self.recipe, self.settings, self.accelerator = recipe, config, accelerator
        self.codec = config.build(accelerator)
        self.decoder = config.build_decoder(self.codec).train()
        self.perceptual = config.perceptual_fn()

    @classmethod
    def check_recipe(cls, recipe: Recipe, config: JointConfig) -> list[tuple[str, str]]:
        return config.crop_problems(recipe)

    def modules(self) -> dict[str, nn.Module]:
        return {"codec": ddp_ignore_quantiles(self.codec), "generator": self.decoder.generator, "discriminator": self.decoder.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        main, aux = split_quantiles(self.codec)
        d_lr = self.settings.discriminator.lr or self.recipe.optim.lr
        return {
            "main": make_optimizer(main + list(self.decoder.generator.parameters()), self.recipe.optim),
            "aux": aux_optimizer(aux, self.settings.aux_lr),
            "disc": make_optimizer(self.decoder.discriminator.parameters(), self.recipe.optim, lr=d_lr),
        }

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, float]:
        out = ctx.modules["codec"](batch, detach_synthesis=True)
        ref_mse = F.mse_loss(out["x_hat"].float(), batch) * 255**2 / 100  # g_s: distortion term of Eq. 4 only
        logs = self.gan_step(ctx, batch, out["y_hat"], out["likelihoods"], self.settings.lmbda, extra_loss=ref_mse)
        aux = ctx.unwrap("codec").aux_loss()
        ctx.backward_step("aux", aux, clip=False, reduce=True)
        logs.update(aux=float(aux.detach()), psnr_mse=psnr_from_mse(max(float(ref_mse.detach()) * 100, 1e-10)))
        return logs

    def _snapshot(self, device) -> tuple[Any, MultiRealismDecoder]:
        src = self.accelerator.unwrap_model(self.codec) if self.accelerator is not None else self.codec
        codec = snapshot_codec(src, device)
        gen = copy.deepcopy(self.accelerator.unwrap_model(self.decoder.generator) if self.accelerator is not None else self.decoder.generator)
        dec = MultiRealismDecoder(gen.float().eval(), beta_max=self.decoder.beta_max)
        return codec, dec.to(device)

    def validate(self, images: list[Tensor], ctx: StepContext) -> dict[str, float]:
        from rdpflex.train.evaluate import codec_metrics

        codec, dec = self._snapshot(ctx.device)
        rows = [codec_metrics(codec, x) | self.generator_psnrs(dec.generator, codec, x) for x in images]
        return mean_rows(rows)

    def export(self, output_dir: Path) -> Path:
        from rdpflex.system import System

        codec, dec = self._snapshot("cpu")
        info = {"trained_with": {"stage": self.name, "steps": self.recipe.train.steps, "lambda": self.settings.lmbda,
                                 "perceptual": self.settings.perceptual}}
        system = System(codec, info=info)
        root = system.save(Path(output_dir) / "system")
        system.add_decoder(dec)
        return root


class MultiRealismTrainer(_GanSteps):
    """G and D on a frozen codec (the generic ``decoder`` stage with ``family: multirealism``)."""

    Config = MultiRealismSettings

    def __init__(self, recipe: Recipe, settings: MultiRealismSettings, accelerator: Any, codec) -> None:
        self.recipe, self.settings, self.accelerator = recipe, settings, accelerator
        self.decoder = settings.build_decoder(codec).train()
        self.perceptual = settings.perceptual_fn()

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.decoder.generator, "discriminator": self.decoder.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        d_lr = self.settings.discriminator.lr or self.recipe.optim.lr
        return {"main": make_optimizer(self.decoder.generator.parameters(), self.recipe.optim),
                "disc": make_optimizer(self.decoder.discriminator.parameters(), self.recipe.optim, lr=d_lr)}

    def train_step(self, x: Tensor, y_hat: Tensor, ctx: StepContext) -> dict[str, float]:
        return self.gan_step(ctx, x, y_hat, None, None)

    def export_decoder(self) -> MultiRealismDecoder:
        gen = copy.deepcopy(self.accelerator.unwrap_model(self.decoder.generator) if self.accelerator is not None else self.decoder.generator)
        return MultiRealismDecoder(gen.float().cpu().eval(), beta_max=self.decoder.beta_max)

    def validate(self, images: list[Tensor], codec, ctx: StepContext) -> dict[str, float]:
        dec = self.export_decoder().to(ctx.device)
        rows = [self.generator_psnrs(dec.generator, codec, x) for x in images]
        return mean_rows(rows)


