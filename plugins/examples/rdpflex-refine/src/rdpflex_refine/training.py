"""Training ``refine`` on a frozen codec: the trainer of ``stage: decoder`` with ``decoder.family: refine``.

::

    x ─frozen codec─► y_hat ─g_s─► x_mse ─► x_mse + R(x_mse)        loss = MSE(x, x_mse + R(x_mse))
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from rdpflex.train import make_optimizer, unwrapped
from rdpflex_refine.decoder import RefineDecoder, Refiner
from rdpflex_refine.hooks import TRAINER
from rdpflex_refine.options import RefineOptions
from rdpflex_refine.settings import RefineSettings


class RefineTrainer:
    family = TRAINER.family
    Config = RefineSettings

    def __init__(self, recipe, settings: RefineSettings, accelerator, codec) -> None:
        self.recipe, self.accelerator, self.codec = recipe, accelerator, codec
        self.refiner = Refiner(hidden=settings.hidden, layers=settings.layers)
        if accelerator is not None:
            self.refiner.to(accelerator.device)

    def modules(self):
        return {"refiner": self.refiner}  # prepared by Accelerate (DDP across processes)

    def optimizers(self):
        return {"main": make_optimizer(self.refiner.parameters(), self.recipe.optim)}

    def train_step(self, x, y_hat, ctx):
        with torch.no_grad():
            x_mse = self.codec.synthesize(y_hat).clamp(0, 1)
        loss = F.mse_loss(x_mse + ctx.modules["refiner"](x_mse), x)
        ctx.backward_step("main", loss)
        return {"loss": loss.item()}  # a Python float (float(loss) on a tensor that requires grad warns)

    def validate(self, images, codec, ctx):
        """PSNR of mse and refine on the held-out images (each (1, 3, H, W) in [0, 1], any size)."""
        dec = self.export_decoder().to(ctx.device)
        rows = []
        for x in images:
            H, W = x.shape[-2:]
            y_hat = codec.compress(codec.pad(x))["y_hat"]  # the latent a .rdp file carries
            x_mse = codec.synthesize(y_hat).clamp(0, 1)
            x_ref = dec.refine(x_mse, RefineOptions())
            rows.append({name: -10 * math.log10(max(F.mse_loss(img[..., :H, :W], x).item(), 1e-10))
                         for name, img in (("psnr_mse", x_mse), ("psnr_refine", x_ref))})
        return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]} if rows else {}

    def export_decoder(self) -> RefineDecoder:
        bare = unwrapped(self.accelerator, self.refiner)
        return RefineDecoder(copy.deepcopy(bare).float().cpu().eval())
