"""The ``prior`` stage: train the unconditional diffusion prior of ``idempotence`` on your own images.

::

    x in [0, 1] ─► 2x - 1 ─► x_t = sqrt(ᾱ_t) x + sqrt(1 - ᾱ_t) ε    (t ~ U{0..T-1}, DDPM forward process)
    loss = || ε - UNet(x_t, t) ||²                                   (Ho, Jain, Abbeel 2020, arXiv:2006.11239, Eq. 14)
    EMA of the weights (diffusers ``EMAModel``) is saved in checkpoints and exported for sampling

No codec is involved: the prior is codec-independent. Export writes ``OUTPUT/prior`` (diffusers
layout) and, when ``prior.system`` names a system, that system with ``decoders/idempotence/``.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdpflex.train.recipe import Recipe
from rdpflex.train.stage import StepContext, make_optimizer, unwrapped

from .hooks import PRIOR
from .prior import build_prior, build_scheduler, save_prior
from .settings import PriorConfig, prior_problems


class PriorStage:
    """``stage: prior`` — an unconditional pixel-space DDPM on the recipe's images."""

    name: ClassVar[str] = PRIOR.name
    description: ClassVar[str] = PRIOR.description
    Config = PriorConfig

    def __init__(self, recipe: Recipe, config: PriorConfig, accelerator: Any) -> None:
        from diffusers.training_utils import EMAModel

        self.recipe, self.config, self.accelerator = recipe, config, accelerator
        self.unet = build_prior(
            recipe.data.crop, tuple(config.block_out_channels), config.layers_per_block, config.norm_num_groups
        )
        self.scheduler = build_scheduler(config.num_train_timesteps, config.beta_schedule)
        device = accelerator.device if accelerator is not None else "cpu"
        self.ema = EMAModel(self.unet.parameters(), decay=config.ema_decay)
        self.ema.to(device)

    @classmethod
    def check_recipe(cls, recipe: Recipe, config: PriorConfig) -> list[tuple[str, str]]:
        return prior_problems(recipe, config)

    def modules(self) -> dict[str, nn.Module]:
        return {"prior": self.unet}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"prior": make_optimizer(self.unet.parameters(), self.recipe.optim)}

    def checkpoint_objects(self) -> dict[str, Any]:
        return {"prior_ema": self.ema}

    def _loss(self, unet: nn.Module, x01: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        x = x01 * 2 - 1
        noisy = self.scheduler.add_noise(x, noise, t)
        return F.mse_loss(unet(noisy, t).sample.float(), noise.float())

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, float]:
        t = torch.randint(0, self.config.num_train_timesteps, (batch.shape[0],), device=batch.device)
        loss = self._loss(ctx.modules["prior"], batch, t, torch.randn_like(batch))
        ctx.backward_step("prior", loss)
        if ctx.sync_gradients:
            self.ema.step(ctx.unwrap("prior").parameters())
        return {"loss": loss.detach().item()}

    def _ema_unet(self, ctx_unet: nn.Module) -> nn.Module:
        unet = copy.deepcopy(ctx_unet)
        self.ema.copy_to(unet.parameters())
        return unet.eval()

    def validate(self, images: list[Tensor], ctx: StepContext) -> dict[str, float]:
        """EMA denoising loss at fixed timesteps and noise (comparable across validations)."""
        unet = self._ema_unet(ctx.unwrap("prior"))
        gen = torch.Generator().manual_seed(0)
        T = self.config.num_train_timesteps
        losses = []
        for x in images:
            for t in (T // 10, T // 2, 9 * T // 10):
                noise = torch.randn(x.shape, generator=gen).to(x.device)
                losses.append(float(self._loss(unet, x, torch.tensor([t], device=x.device), noise)))
        return {"val_denoise_loss": sum(losses) / max(len(losses), 1)}

    def export(self, output_dir: Path) -> Path:
        from rdpflex.system import System

        from .plugin import IdempotenceDecoder

        unet = self._ema_unet(unwrapped(self.accelerator, self.unet)).cpu().float()
        prior = save_prior(unet, self.scheduler, Path(output_dir) / "prior")
        if self.config.system is None:
            return prior
        src = System.load(self.config.system)  # checks the system before anything is copied
        assert src.root is not None  # a loaded system has its folder
        root = Path(output_dir) / "system"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(src.root, root, ignore=lambda d, names: ["idempotence"] if Path(d).name == "decoders" else [])
        System.load(root).add_decoder(IdempotenceDecoder(unet, dict(self.scheduler.config)))
        return root
