"""A third-party-style training stage, registered through the ``register_stages`` hook only.

Loaded in tests with ``RDPFLEX_PLUGIN_MODULES=tests.train.plugin_stage``. It exercises what decoder
stages need: its own recipe section (``toygan:``), two optimisers stepped alternately (G then D),
an EMA copy saved in checkpoints (``checkpoint_objects``), a cross-section check, and an export.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from rdpflex.hookspecs import hookimpl
from rdpflex.train import Strict, make_optimizer


class ToyGanConfig(Strict):
    width: int = Field(4, gt=0, le=64)
    d_lr: float = Field(1e-3, gt=0)
    ema_decay: float = Field(0.9, ge=0, lt=1)


class Ema:
    def __init__(self, module: nn.Module, decay: float) -> None:
        self.shadow = copy.deepcopy(module).requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for s, p in zip(self.shadow.parameters(), module.parameters()):
            s.lerp_(p.detach(), 1 - self.decay)

    def state_dict(self) -> dict[str, Any]:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shadow.load_state_dict(state)


class ToyGanStage:
    name = "toygan"
    description = "test stage: a tiny generator and discriminator stepped alternately"
    Config = ToyGanConfig

    def __init__(self, recipe, config, accelerator) -> None:
        w = config.width
        self.config = config
        self.g = nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 3, 3, padding=1))
        self.d = nn.Sequential(
            nn.Conv2d(3, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(w, 1, 3, padding=1)
        )
        self.ema = Ema(self.g, config.ema_decay)
        self.recipe = recipe

    @classmethod
    def check_recipe(cls, recipe, config):
        return (
            [("toygan.width", "must be even when data.crop is 48")]
            if recipe.data.crop == 48 and config.width % 2
            else []
        )

    def modules(self):
        return {"g": self.g, "d": self.d}

    def optimizers(self):
        return {
            "g": make_optimizer(self.g.parameters(), self.recipe.optim),
            "d": make_optimizer(self.d.parameters(), self.recipe.optim, lr=self.config.d_lr),
        }

    def checkpoint_objects(self):
        return {"ema": self.ema}

    def train_step(self, batch, ctx):
        G, D = ctx.modules["g"], ctx.modules["d"]
        fake = G(batch)
        self.d.requires_grad_(False)
        loss_g = F.mse_loss(fake, batch) + 0.01 * F.softplus(-D(fake)).mean()
        ctx.backward_step("g", loss_g)
        self.d.requires_grad_(True)
        loss_d = F.softplus(-D(batch)).mean() + F.softplus(D(fake.detach())).mean()
        ctx.backward_step("d", loss_d)
        if ctx.sync_gradients:
            self.ema.update(ctx.unwrap("g"))
        return {"loss_g": float(loss_g.detach()), "loss_d": float(loss_d.detach()), "lambda_scale": ctx.lambda_scale}

    def validate(self, images, ctx):
        return {"mse": sum(float(F.mse_loss(self.ema.shadow.to(ctx.device)(x), x)) for x in images) / len(images)}

    def export(self, output_dir: Path) -> Path:
        out = Path(output_dir) / "toygan"
        out.mkdir(parents=True, exist_ok=True)
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in self.ema.state_dict().items()}, str(out / "model.safetensors"))
        (out / "config.json").write_text(json.dumps(self.config.model_dump()))
        return out


@hookimpl
def register_stages(register):
    register(ToyGanStage)
