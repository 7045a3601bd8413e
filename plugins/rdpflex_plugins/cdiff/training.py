"""Training the ``cdiff`` denoiser on a frozen codec (the generic ``decoder`` stage, ``family: cdiff``).

::

    x ─frozen codec─► y_hat, x_mse = g_s(y_hat)           (no gradient: the codec is frozen)
    x_0 = 2x − 1  or  2(x − x_mse)  (target: image | residual)
    ε ~ N(0, I); x_t, t, target from the objective (:mod:`.objectives`):
        diffusion  t ~ U{0..T−1}, x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε,  target ε | v | x_0  (prediction_type)
        flow       σ ~ U(0, 1),   x_t = (1 − σ) x_0 + σ ε,  t = σ·T,       target v = ε − x_0
    loss = || f(x_t, t; y_hat, x_mse) − target ||²
         + lpips_weight · LPIPS(x, image(x̂_0))        optional, on the predicted clean image
    EMA of the weights (diffusers EMAModel) after every optimiser step: saved in checkpoints,
    exported as the decoder's weights and used for sampling.

The diffusion loss is Ho et al. 2020 ("Denoising Diffusion Probabilistic Models", arXiv 2006.11239,
Eq. 14) with diffusers' prediction types (v: Salimans & Ho 2022, arXiv 2202.00512, Sec. 4); the flow
loss is the rectified flow of Liu, Gong, Liu 2023 ("Flow Straight and Fast", arXiv 2209.03003, Eq. 1).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdpflex.codecs import Codec
from rdpflex.metrics import mean_rows
from rdpflex.train.recipe import Recipe
from rdpflex.train.stage import StepContext, make_optimizer, unwrapped
from rdpflex_plugins.cdiff.hooks import TRAINER
from rdpflex_plugins.cdiff.model import ConditionalDenoiser
from rdpflex_plugins.cdiff.objectives import make_objective, predicted_x0
from rdpflex_plugins.cdiff.plugin import CDiffDecoder
from rdpflex_plugins.cdiff.schedules import flow_scheduler_config, scheduler_config
from rdpflex_plugins.cdiff.settings import CDiffSettings

__all__ = ["CDiffTrainer", "build_denoiser", "predicted_x0", "training_scheduler_config"]


def build_denoiser(settings: CDiffSettings, latent_channels: int) -> ConditionalDenoiser:
    """The adapter + UNet described by the settings."""
    u, a = settings.unet, settings.adapter
    return ConditionalDenoiser.build(
        latent_channels,
        block_out_channels=tuple(u.block_out_channels),
        layers_per_block=u.layers_per_block,
        attention_levels=u.attention_levels,
        norm_num_groups=u.norm_num_groups,
        adapter_hidden=a.hidden,
        cond_channels=a.cond_channels,
        condition_on_mse=settings.condition_on_mse,
        target=settings.target,
    )


def training_scheduler_config(settings: CDiffSettings) -> dict[str, Any]:
    """The scheduler config of the settings, stored with the weights: the DDPM noise schedule, or (flow) T."""
    n = settings.noise
    if settings.objective == "flow":
        return flow_scheduler_config(n.num_train_timesteps)
    return scheduler_config(n.schedule, n.shift, n.num_train_timesteps, n.prediction_type)


class CDiffTrainer:
    """The denoiser on a frozen codec, with EMA (see the module docstring)."""

    family: ClassVar[str] = TRAINER.family
    Config = CDiffSettings

    def __init__(self, recipe: Recipe, settings: CDiffSettings, accelerator: Any, codec: Codec) -> None:
        from diffusers.training_utils import EMAModel

        self.recipe, self.settings, self.accelerator, self.codec = recipe, settings, accelerator, codec
        self.denoiser = build_denoiser(settings, codec.latent_channels).train()
        self.scheduler_config = training_scheduler_config(settings)
        self.objective = make_objective(settings.objective, self.scheduler_config)
        e = settings.ema
        self.ema = EMAModel(
            self.denoiser.parameters(),
            decay=e.decay,
            use_ema_warmup=e.use_warmup,
            power=e.power,
            update_after_step=e.update_after_step,
        )
        from rdpflex.train.perceptual import perceptual_loss

        self.perceptual = perceptual_loss(settings.perceptual, settings.lpips_weights)

    def modules(self) -> dict[str, nn.Module]:
        return {"denoiser": self.denoiser}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": make_optimizer(self.denoiser.parameters(), self.recipe.optim)}

    def checkpoint_objects(self) -> dict[str, Any]:
        return {"ema": self.ema}

    def train_step(self, x: Tensor, y_hat: Tensor, ctx: StepContext) -> dict[str, float]:
        net, bare = ctx.modules["denoiser"], ctx.unwrap("denoiser")
        assert isinstance(bare, ConditionalDenoiser)
        with torch.no_grad():
            x_mse = self.codec.synthesize(y_hat).clamp(0, 1) if bare.needs_mse else None
        x0 = bare.to_x0(x, x_mse)
        draw = self.objective.noised(x0, torch.randn_like(x0))
        pred = net(draw.x_t, draw.t, y_hat=y_hat, x_mse=x_mse).float()
        regression = F.mse_loss(pred, draw.target)
        loss = regression
        logs: dict[str, float] = {}
        if self.perceptual is not None:
            image = bare.to_image(self.objective.predicted_x0(pred, draw), x_mse)
            lp = self.perceptual(x, image.clamp(0, 1)).mean()
            loss = loss + self.settings.lpips_weight * lp
            logs[self.settings.perceptual] = float(lp.detach())
        ctx.backward_step("main", loss)
        if ctx.sync_gradients:
            self.ema.to(x.device)
            self.ema.step(bare.parameters())
        # the regression term is logged under the objective's name ("diffusion" or "flow")
        return logs | {"loss": float(loss.detach()), self.objective.name: regression.item()}

    def export_decoder(self) -> CDiffDecoder:
        """A decoder with the EMA weights (what sampling uses), on the CPU."""
        bare = unwrapped(self.accelerator, self.denoiser)
        denoiser = copy.deepcopy(bare).float().cpu().eval()
        self.ema.copy_to(denoiser.parameters())
        return CDiffDecoder(denoiser, self.scheduler_config, self.settings.objective).eval()

    def validate(self, images: list[Tensor], codec: Codec, ctx: StepContext) -> dict[str, float]:
        """PSNR of the EMA decoder (validation sampler, seed 0) and of g_s on the held-out images."""
        from rdpflex.latent import Latent
        from rdpflex.pipeline import psnr

        dec = self.export_decoder().to(ctx.device)
        opts = dec.resolve({"scheduler": self.settings.validation_scheduler, "steps": self.settings.validation.steps})
        rows = []
        for x in images:
            H, W = x.shape[-2:]
            xp = codec.pad(x)
            y_hat = codec.compress(xp)["y_hat"]
            lat = Latent(y_hat, (H, W), (xp.shape[-2], xp.shape[-1]))
            x_hat = dec.decode(lat, codec, opts, torch.Generator(device=ctx.device).manual_seed(0))
            rows.append(
                {
                    "psnr_cdiff": psnr(x, x_hat[..., :H, :W]),
                    "psnr_mse": psnr(x, codec.synthesize(y_hat)[..., :H, :W].clamp(0, 1)),
                }
            )
        return mean_rows(rows)
