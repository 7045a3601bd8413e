"""The ``codec`` stage: rate–distortion training of encoder + entropy model + reference synthesis.

::

    x ─codec (noise/STE quantisation)─► x_hat, likelihoods
    loss = lambda_scale x bpp + lambda x 255^2 x MSE(x, x_hat)        (CompressAI's convention)
    aux  = codec.aux_loss()  (EntropyBottleneck quantiles, own Adam, fixed lr)

``lambda_scale`` is the schedule's rate-weight boost (x ``schedule.lambda_factor`` for the first
``schedule.lambda_fraction`` of the steps, as the papers' "10x lambda" on the rate term).
Under mixed precision the transforms run in bf16/fp16 but the entropy model (quantisation,
likelihoods) always runs in float32. Export: a system directory with entropy tables built.
"""

from __future__ import annotations

import math
import types
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdpflex.codecs import Codec
from rdpflex.images import psnr_from_mse
from rdpflex.metrics import mean_rows
from rdpflex.registry import build_codec
from rdpflex.system import System
from rdpflex.train.builtin import CODEC
from rdpflex.train.configs import CodecSource, CodecStageConfig
from rdpflex.train.evaluate import codec_metrics
from rdpflex.train.recipe import Recipe
from rdpflex.train.stage import StepContext, make_optimizer, unwrapped


def trainable_codec(source: CodecSource, accelerator: Any) -> Codec:
    """The codec to train, in train mode, entropy tables built, entropy model in fp32 under mixed precision."""
    if source.init:
        codec = System.load(source.init).codec
    else:
        codec = build_codec(source.arch, **source.config)
    # build the entropy tables once: every buffer then has its own storage, which safetensors
    # checkpoints need (empty buffers all look shared); training never reads these tables, and
    # validation/export rebuild them from the trained quantiles
    codec.update(force=True)
    codec.train()
    if accelerator is not None and accelerator.mixed_precision != "no":
        # entropy models in float32: rounding and likelihoods are meaningless in bf16
        codec.latent_codec.forward = types.MethodType(_fp32_forward, codec.latent_codec)
    return codec


def _fp32_forward(self: nn.Module, y: Tensor, *args: Any, **kwargs: Any) -> Any:
    with torch.autocast(device_type=y.device.type, enabled=False):
        return type(self).forward(self, y.float(), *args, **kwargs)


def snapshot_codec(src: Codec, device: torch.device | str = "cpu") -> Codec:
    """A float32 eval-mode copy of a (bare) codec with its entropy tables rebuilt (``update(force=True)``)."""
    codec = build_codec(src.arch, **src.config)
    codec.load_state_dict({k: v.detach().float() if v.is_floating_point() else v for k, v in src.state_dict().items()})
    codec.update(force=True)
    return codec.eval().to(device)


def split_quantiles(codec: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(main parameters, EntropyBottleneck quantiles) of a codec: the quantiles have their own optimiser."""
    named = [(n, p) for n, p in codec.named_parameters() if p.requires_grad]
    return [p for n, p in named if not n.endswith(".quantiles")], [p for n, p in named if n.endswith(".quantiles")]


def aux_optimizer(quantiles: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """CompressAI's auxiliary (quantile) optimiser, exempt from the learning-rate schedule."""
    return torch.optim.Adam([{"params": quantiles, "fixed_lr": True}], lr=lr)


def ddp_ignore_quantiles(codec: nn.Module) -> nn.Module:
    """Hide the EntropyBottleneck quantiles from DDP and return ``codec``.

    They are trained by ``aux_loss()``, computed outside the DDP forward, so DDP must not manage them
    (it would wait for gradients that never come through its hooks); their gradients are averaged by
    hand (``backward_step(..., reduce=True)``).
    """
    from torch.nn.parallel import DistributedDataParallel

    quantiles = [n for n, _ in codec.named_parameters() if n.endswith(".quantiles")]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(codec, quantiles)
    return codec


class CodecStage:
    """Rate–distortion training of a codec (``stage: codec``)."""

    name: ClassVar[str] = CODEC.name
    description: ClassVar[str] = CODEC.description
    Config = CodecStageConfig
    #: DDP ignores the quantiles (see :meth:`modules`); every other parameter is used each step
    find_unused_parameters: ClassVar[bool] = False

    def __init__(self, recipe: Recipe, config: CodecStageConfig, accelerator: Any) -> None:
        self.recipe, self.config, self.accelerator = recipe, config, accelerator
        self.codec = trainable_codec(config, accelerator)

    @classmethod
    def check_recipe(cls, recipe: Recipe, config: CodecStageConfig) -> list[tuple[str, str]]:
        return config.crop_problems(recipe)

    # -- protocol --------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"codec": ddp_ignore_quantiles(self.codec)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        main, aux = split_quantiles(self.codec)
        return {"main": make_optimizer(main, self.recipe.optim), "aux": aux_optimizer(aux, self.config.aux_lr)}

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, float]:
        out = ctx.modules["codec"](batch)
        n, _, h, w = batch.shape
        log_lik = torch.as_tensor(sum(torch.log(lik.float()).sum() for lik in out["likelihoods"].values()))
        bpp = log_lik / (-math.log(2) * n * h * w)
        mse = F.mse_loss(out["x_hat"].float(), batch)
        loss = ctx.lambda_scale * bpp + self.config.lmbda * 255**2 * mse
        ctx.backward_step("main", loss)
        aux = self.codec.aux_loss()  # the bare codec: ctx.modules["codec"] wraps this same module
        ctx.backward_step("aux", aux, clip=False, reduce=True)
        mse_f = float(mse.detach())
        return {
            "loss": float(loss.detach()),
            "bpp": float(bpp.detach()),
            "mse": mse_f,
            "psnr": psnr_from_mse(max(mse_f, 1e-10), peak=1.0),
            "aux": float(aux.detach()),
        }

    def snapshot(self, device: torch.device | str = "cpu") -> Codec:
        """A float32 eval-mode copy of the codec with entropy tables built (``update(force=True)``)."""
        return snapshot_codec(unwrapped(self.accelerator, self.codec), device)

    def validate(self, images: list[Tensor], ctx: StepContext) -> dict[str, float]:
        codec = self.snapshot(ctx.device)
        return mean_rows([codec_metrics(codec, x) for x in images])

    def export(self, output_dir: Path) -> Path:
        codec = self.snapshot("cpu")
        info = {"trained_with": {"stage": self.name, "steps": self.recipe.train.steps, "lambda": self.config.lmbda}}
        return System(codec, info=info).save(Path(output_dir) / "system")
