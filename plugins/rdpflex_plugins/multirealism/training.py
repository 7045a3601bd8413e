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
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdpflex.codecs import Codec
from rdpflex.images import psnr_from_mse
from rdpflex.metrics import mean_rows
from rdpflex.train.codec_stage import (
    aux_optimizer,
    ddp_ignore_quantiles,
    snapshot_codec,
    split_quantiles,
    trainable_codec,
)
from rdpflex.train.recipe import Recipe
from rdpflex.train.stage import StepContext, make_optimizer, unwrapped
from rdpflex_plugins.multirealism.discriminator import ConditionalPatchDiscriminator
from rdpflex_plugins.multirealism.generator import MultiRealismGenerator
from rdpflex_plugins.multirealism.hooks import JOINT, TRAINER
from rdpflex_plugins.multirealism.losses import LossWeights, discriminator_loss_from_logits, generator_loss, sample_beta
from rdpflex_plugins.multirealism.plugin import MultiRealismDecoder
from rdpflex_plugins.multirealism.settings import JointConfig, MultiRealismSettings, joint_problems

log = logging.getLogger("rdpflex.train")


def build_gan(
    settings: MultiRealismSettings, codec: Codec
) -> tuple[MultiRealismDecoder, ConditionalPatchDiscriminator]:
    """A fresh G (the decoder) and HiFiC's D (training only) for ``codec``, on the codec's device."""
    decoder = MultiRealismDecoder.for_codec(codec, settings)
    d = settings.discriminator
    disc = ConditionalPatchDiscriminator(
        codec.latent_channels, d.channels, latent_features=d.latent_features, input_scale=d.input_scale
    )
    return decoder, disc.to(next(decoder.parameters()).device)


def warm_start(decoder: MultiRealismDecoder, system_dir: str) -> None:
    """Copy the unconditional weights of the multirealism G in ``system_dir`` into ``decoder``'s G and zero
    its conditioning's output projections (G then equals the initial G at every beta)."""
    from rdpflex.errors import RdpflexError
    from rdpflex.system import System

    loaded = System.load(system_dir).decoder("multirealism")
    if not isinstance(loaded, MultiRealismDecoder):
        raise RdpflexError(f"multirealism init {system_dir}: its multirealism decoder is a {type(loaded).__name__}")
    source = loaded.generator
    gen = decoder.generator
    own = gen.state_dict()
    body = {k: v for k, v in source.state_dict().items() if not k.startswith("embedding.") and not _projection(k)}
    wrong = [k for k, v in body.items() if k not in own or own[k].shape != v.shape]
    if wrong:
        raise RdpflexError(
            f"multirealism init {system_dir}: its generator does not fit these generator settings "
            f"({len(wrong)} tensors differ, e.g. {wrong[0]}); use the same N and blocks"
        )
    gen.load_state_dict(own | body)
    with torch.no_grad():
        for off in gen.conditional_offsets():
            for name in ("proj", "gain"):
                layer = getattr(off, name, None)
                if layer is not None:
                    layer.weight.zero_()


def _projection(key: str) -> bool:
    """A FourierCond output projection's tensor (the offsets' ``proj`` or ``gain``), not G's body."""
    return ".proj." in key or ".gain." in key


def conditioning_split(generator: MultiRealismGenerator) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """G's parameters as (beta conditioning: the embedding and every conditional offset, the rest)."""
    cond_modules = [generator.embedding, *generator.conditional_offsets()]
    cond_ids = {id(p) for m in cond_modules for p in m.parameters()}
    cond = [p for p in generator.parameters() if id(p) in cond_ids]
    return cond, [p for p in generator.parameters() if id(p) not in cond_ids]


def perceptual_fn(settings: MultiRealismSettings) -> Any:
    """The C_P term's distance (LPIPS or ST-LPIPS) per example, or None. Never a randomly initialised backbone."""
    from rdpflex.train.perceptual import perceptual_loss

    return perceptual_loss(settings.perceptual, settings.lpips_weights)


class GanSteps:
    """The alternating G/D update (Eq. 4 then Eq. 3) that ``joint`` and the frozen-codec trainer both hold.

    Everything it needs is passed in: the settings and the perceptual loss (``None``: no LPIPS term).
    """

    def __init__(self, settings: MultiRealismSettings, perceptual: Any) -> None:
        self.settings, self.perceptual = settings, perceptual
        self.collapse = CollapseWatch()

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
            d = s.discriminator
            ctx.backward_step("disc", d_terms["total"], clip=d.clip_grad_norm is not None, max_norm=d.clip_grad_norm)
            out.update(
                d_loss=float(d_terms["total"].detach()),
                d_real=float(d_terms["real"].detach()),
                d_fake=float(d_terms["fake"].detach()),
                **discriminator_diagnostics(logits[:n].detach().float(), logits[n:].detach().float()),
            )
            self.collapse.update(out["d_logit_spread"], ctx.step)
        out["psnr_G"] = psnr_from_mse(max(out.get("mse", 1e-10), 1e-10))
        return out

    def generator_psnrs(self, generator: nn.Module, codec: Any, x: Tensor) -> dict[str, float]:
        """PSNR and ST-LPIPS of G at beta = 0 and beta_max on one held-out image (entropy-coded latent), and
        the fraction of FourierCond units active anywhere on [0, beta_max] (``cond_active``)."""
        from rdpflex.metrics.stlpips import STLPIPS
        from rdpflex.pipeline import psnr

        xp = codec.pad(x)
        y_hat = codec.compress(xp)["y_hat"]
        H, W = x.shape[-2:]
        s = self.settings
        betas = {"beta0": 0.0, "beta_max": s.beta_max} if s.fixed_beta is None else {"beta_fixed": s.fixed_beta}
        metric = STLPIPS("alex")
        out: dict[str, float] = {}
        with torch.no_grad():
            for k, b in betas.items():
                x_hat = generator(y_hat, b)[..., :H, :W].clamp(0, 1)
                out[f"psnr_G_{k}"] = psnr(x, x_hat)
                out[f"stlpips_G_{k}"] = metric.compute(x, x_hat)
            active = conditioning_active_fraction(generator, s.beta_max)
        return out | ({"cond_active": active} if active is not None else {})

    def optimizers(
        self,
        decoder: MultiRealismDecoder,
        discriminator: ConditionalPatchDiscriminator,
        optim: Any,
        extra_main: Sequence[Tensor] = (),
    ) -> dict[str, torch.optim.Optimizer]:
        """``main`` (G, plus ``extra_main`` parameters) and ``disc`` (D, at ``discriminator.lr`` when set)."""
        s = self.settings
        d = s.discriminator
        cond, body = conditioning_split(decoder.generator)
        main = [*extra_main, *(body if s.train_body else [])]
        groups: list[dict[str, Any]] = [{"params": main}] if extra_main or s.train_body else []
        if cond:
            groups.append({"params": cond, "lr": optim.lr * s.cond_lr_factor})
        if not s.train_body:
            for p in body:
                p.requires_grad_(False)
        return {
            "main": make_optimizer(groups, optim),
            "disc": make_optimizer(discriminator.parameters(), optim, lr=d.lr, betas=tuple(d.betas)),
        }


def discriminator_diagnostics(real_logits: Tensor, fake_logits: Tensor) -> dict[str, float]:
    """HiFiC's D monitors: mean D(real) and D(fake) probabilities over patches, and the spread (standard
    deviation) of D's logits over the batch's images and patches. A spread near 0 means D's output no
    longer depends on its input (D collapsed; its loss then sits at ln 4)."""
    both = torch.cat([real_logits.flatten(), fake_logits.flatten()])
    return {
        "d_prob_real": float(torch.sigmoid(real_logits).mean()),
        "d_prob_fake": float(torch.sigmoid(fake_logits).mean()),
        "d_logit_spread": float(both.std()) if both.numel() > 1 else 0.0,
    }


class CollapseWatch:
    """Warns once in the training log when D's logit spread stays below ``threshold`` for ``patience``
    consecutive D steps (the collapse measured on the toy D: spread 1.9 -> 0.004 within ~25 steps)."""

    def __init__(self, threshold: float = 0.01, patience: int = 50) -> None:
        self.threshold, self.patience = threshold, patience
        self.low_since: int | None = None
        self.warned = False

    def update(self, spread: float, step: int) -> bool:
        """Record one D step; True (and a warning) the first time the collapse is established."""
        if spread >= self.threshold:
            self.low_since = None
            return False
        if self.low_since is None:
            self.low_since = step
        if not self.warned and step - self.low_since + 1 >= self.patience:
            self.warned = True
            log.warning(
                "discriminator collapsed at step %d: its logits vary by %.2g over the batch (below %.2g for %d "
                "steps), so its loss sits at ln 4 and the GAN term carries no signal; try discriminator.lr, "
                "discriminator.betas or discriminator.input_scale",
                step,
                spread,
                self.threshold,
                self.patience,
            )
            return True
        return False


def conditioning_active_fraction(generator: nn.Module, beta_max: float, points: int = 65) -> float | None:
    """Fraction of FourierCond's second-layer units whose output changes with beta on [0, beta_max] (a dead
    ReLU unit is 0 everywhere); None for other conditionings. A G whose units all die ignores beta."""
    from rdpflex_plugins.multirealism.conditioning import FourierCond

    emb = getattr(generator, "embedding", None)
    if not isinstance(emb, FourierCond):
        return None
    device = next(emb.parameters()).device
    with torch.no_grad():
        units = emb(torch.linspace(0, beta_max, points, device=device))
    return float(((units.amax(dim=0) - units.amin(dim=0)) > 1e-4).float().mean())


class JointStage:
    """``stage: joint`` — E + entropy model + beta-conditional G + D from scratch (Agustsson, Minnen, Toderici,
    Mentzer 2023, "Multi-Realism Image Compression with a Conditional Generator", CVPR 2023, arXiv:2212.13824)."""

    name: ClassVar[str] = JOINT.name
    description: ClassVar[str] = JOINT.description
    Config = JointConfig

    def __init__(self, recipe: Recipe, config: JointConfig, accelerator: Any) -> None:
        self.recipe, self.config, self.accelerator = recipe, config, accelerator
        self.codec = trainable_codec(config.codec, accelerator)
        assert isinstance(self.codec, Codec)  # a bare codec (built or loaded), not yet prepared
        self.decoder, self.discriminator = build_gan(config.multirealism, self.codec)
        self.decoder.train()
        self.gan = GanSteps(config.multirealism, perceptual_fn(config.multirealism))

    @classmethod
    def check_recipe(cls, recipe: Recipe, config: JointConfig) -> list[tuple[str, str]]:
        return joint_problems(recipe, config)

    def modules(self) -> dict[str, nn.Module]:
        return {
            "codec": ddp_ignore_quantiles(self.codec),
            "generator": self.decoder.generator,
            "discriminator": self.discriminator,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        main, aux = split_quantiles(self.codec)
        return self.gan.optimizers(self.decoder, self.discriminator, self.recipe.optim, extra_main=main) | {
            "aux": aux_optimizer(aux, self.config.codec.aux_lr)
        }

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, float]:
        out = ctx.modules["codec"](batch, detach_synthesis=True)
        ref_mse = F.mse_loss(out["x_hat"].float(), batch) * 255**2 / 100  # g_s: distortion term of Eq. 4 only
        logs = self.gan.step(ctx, batch, out["y_hat"], out["likelihoods"], self.config.lmbda, extra_loss=ref_mse)
        codec = ctx.unwrap("codec")
        assert isinstance(codec, Codec)
        aux = codec.aux_loss()
        ctx.backward_step("aux", aux, clip=False, reduce=True)
        logs.update(aux=float(aux.detach()), psnr_mse=psnr_from_mse(max(float(ref_mse.detach()) * 100, 1e-10)))
        return logs

    def _snapshot(self, device: Any) -> tuple[Any, MultiRealismDecoder]:
        codec = snapshot_codec(unwrapped(self.accelerator, self.codec), device)
        gen = copy.deepcopy(unwrapped(self.accelerator, self.decoder.generator))
        dec = MultiRealismDecoder(gen.float().eval(), beta_max=self.decoder.beta_max)
        return codec, dec.to(device)

    def validate(self, images: list[Tensor], ctx: StepContext) -> dict[str, float]:
        from rdpflex.train.evaluate import codec_metrics

        codec, dec = self._snapshot(ctx.device)
        return mean_rows([codec_metrics(codec, x) | self.gan.generator_psnrs(dec.generator, codec, x) for x in images])

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
        self.decoder, self.discriminator = build_gan(settings, codec)
        if settings.init is not None:
            warm_start(self.decoder, settings.init)
        self.decoder.train()
        self.gan = GanSteps(settings, perceptual_fn(settings))

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.decoder.generator, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.gan.optimizers(self.decoder, self.discriminator, self.recipe.optim)

    def train_step(self, x: Tensor, y_hat: Tensor, ctx: StepContext) -> dict[str, float]:
        return self.gan.step(ctx, x, y_hat, None, None)

    def export_decoder(self) -> MultiRealismDecoder:
        gen = copy.deepcopy(unwrapped(self.accelerator, self.decoder.generator))
        return MultiRealismDecoder(gen.float().cpu().eval(), beta_max=self.decoder.beta_max)

    def validate(self, images: list[Tensor], codec: Any, ctx: StepContext) -> dict[str, float]:
        dec = self.export_decoder().to(ctx.device)
        return mean_rows([self.gan.generator_psnrs(dec.generator, codec, x) for x in images])
