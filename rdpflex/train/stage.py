"""The Stage protocol: what a training stage (``stage:`` of a recipe) provides to the engine.

The engine (:mod:`rdpflex.train.trainer`) owns everything generic — Accelerate, data, schedule,
gradient accumulation, checkpoints, resume, logging, validation cadence, export call. A stage owns
its networks, optimisers and losses::

    recipe ─validate─► Stage(recipe, config, accelerator)
                         │ modules()     ─► accelerator.prepare ─► ctx.modules  (DDP/autocast wrapped)
                         │ optimizers()  ─► accelerator.prepare ─► ctx.optimizers
                         │ loop: with accelerator.accumulate(*modules): train_step(batch, ctx)
                         │         └─ ctx.backward_step("g", loss_g); ctx.backward_step("d", loss_d) ...
                         │ every N steps (main process): validate(images, ctx)
                         └ end (main process): export(output_dir) -> system directory

Stages are registered through the pluggy hook ``register_stages(register)`` (entry-point group
``rdpflex``), so a decoder plugin adds its own stage and recipe section without touching rdpflex.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

import torch
from pydantic import BaseModel
from torch import Tensor, nn

if TYPE_CHECKING:
    from accelerate import Accelerator

    from rdpflex.train.recipe import OptimConfig, Recipe


@runtime_checkable
class Stage(Protocol):
    """A training stage. Required members below; optional ones are listed in :data:`OPTIONAL_MEMBERS`."""

    #: the value of ``stage:`` in a recipe, and the key of the stage's own recipe section
    name: ClassVar[str]
    #: one line for ``rdpflex recipes schema`` and the docs
    description: ClassVar[str]
    #: pydantic model of the stage's recipe section (``extra="forbid"``; subclass :class:`rdpflex.train.recipe.Strict`)
    Config: ClassVar[type[BaseModel]]

    def __init__(self, recipe: "Recipe", config: BaseModel, accelerator: "Accelerator") -> None:
        """Build the networks (on CPU or ``accelerator.device``). Frozen networks are moved to the device here."""
        ...

    def modules(self) -> dict[str, nn.Module]:
        """Trainable networks, by name. The engine prepares them (DDP, autocast) into ``ctx.modules``."""
        ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers, by name (called after :meth:`modules` were prepared). The engine scales every
        param group's learning rate by the schedule, except groups created with ``"fixed_lr": True``."""
        ...

    def train_step(self, batch: Tensor, ctx: "StepContext") -> dict[str, float]:
        """One micro-batch (B, 3, crop, crop) in [0, 1] on ``ctx.device``; runs inside
        ``accelerator.accumulate``. Call ``ctx.backward_step(name, loss)`` once per optimiser.
        Returns scalar metrics (floats) that the engine averages and logs."""
        ...

    def validate(self, images: list[Tensor], ctx: "StepContext") -> dict[str, float]:
        """Metrics on the held-out images (each (1, 3, H, W) in [0, 1] on ``ctx.device``, any size).
        Main process only, under ``torch.no_grad()`` (use ``torch.enable_grad()`` where needed);
        must not change the training modules (evaluate a copy)."""
        ...

    def export(self, output_dir: Path) -> Path:
        """Write the result (a system directory, e.g. ``output_dir / "system"``) and return its path.
        Main process only."""
        ...


#: optional members the engine looks up with ``getattr``:
#:
#: - ``find_unused_parameters: ClassVar[bool]`` — DDP's flag (default False)
#: - ``check_recipe(recipe, config) -> list[tuple[str, str]]`` (classmethod) — cross-section checks,
#:   as (dotted path, message); reported with the schema errors
#: - ``checkpoint_objects() -> dict[str, obj]`` — extra state with ``state_dict``/``load_state_dict``
#:   (EMA weights, counters) saved in every checkpoint and restored on resume
OPTIONAL_MEMBERS = ("find_unused_parameters", "check_recipe", "checkpoint_objects")


@dataclass
class StepContext:
    """What a stage's ``train_step`` / ``validate`` receive from the engine."""

    accelerator: "Accelerator"
    #: prepared (possibly DDP-wrapped) modules: call these in ``train_step`` so gradients synchronise
    modules: dict[str, nn.Module]
    #: prepared optimisers
    optimizers: dict[str, torch.optim.Optimizer]
    total_steps: int
    #: optimiser steps already done (0-based index of the step being computed)
    step: int = 0
    #: multiplier of the rate term's weight (``schedule.lambda_factor`` early in training, else 1)
    lambda_scale: float = 1.0
    #: multiplier applied to the learning rates this step (warm-up and late decay)
    lr_scale: float = 1.0
    #: ``train.clip_grad_norm`` (None: no clipping)
    clip_grad_norm: float | None = None
    #: output directory of the run
    output_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def sync_gradients(self) -> bool:
        """True on the micro-batch that ends an accumulation cycle (optimisers really step)."""
        return self.accelerator.sync_gradients

    def unwrap(self, name: str) -> nn.Module:
        """The bare module ``name`` (no DDP/compile wrapper), e.g. for ``aux_loss()`` or sampling."""
        return unwrapped(self.accelerator, self.modules[name])

    def backward_step(
        self, name: str, loss: Tensor, *, clip: bool = True, reduce: bool = False, max_norm: float | None = None
    ) -> float | None:
        """Backward ``loss``; when gradients sync, clip, step optimiser ``name`` and zero its gradients.

        :param name: key of :meth:`Stage.optimizers`
        :param clip: clip this optimiser's parameters to ``clip_grad_norm`` (if set)
        :param max_norm: clip to this norm instead of ``clip_grad_norm`` (a stage's own setting, e.g. D's)
        :param reduce: average this optimiser's gradients across processes by hand — needed when
            ``loss`` was not computed through a prepared module's forward (DDP only synchronises
            those), e.g. CompressAI's ``aux_loss()`` of the quantiles
        :returns: the gradient norm before clipping on steps that clip, else None

        Each call is a full backward/step cycle, so a GAN stage calls it for G then for D (freezing the
        other network's ``requires_grad`` while computing each loss).
        """
        acc = self.accelerator
        opt = self.optimizers[name]
        acc.backward(loss)
        if not acc.sync_gradients:
            return None
        params = [p for g in opt.param_groups for p in g["params"]]
        if reduce and acc.num_processes > 1:
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                p.grad.copy_(acc.reduce(p.grad, reduction="mean"))
        norm = None
        limit = max_norm if max_norm is not None else self.clip_grad_norm
        if clip and limit is not None:
            norm = _clip(acc, opt, params, limit)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return norm


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def unwrapped(accelerator: "Accelerator | None", module: ModuleT) -> ModuleT:
    """``module`` without its DDP/compile wrapper (``accelerator.unwrap_model``); as is without an accelerator.

    Typed for what stages pass: a network they built (returned as is) or a prepared one typed ``nn.Module``.
    """
    if accelerator is None:
        return module
    # unwrap_model is typed nn.Module; a bare module comes back itself, a wrapper's inner one is an nn.Module too
    return cast(ModuleT, accelerator.unwrap_model(module))


def _clip(acc: "Accelerator", opt: torch.optim.Optimizer, params: list[Tensor], max_norm: float) -> float:
    from accelerate.utils import DistributedType

    if acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED, DistributedType.XLA):
        norm = acc.clip_grad_norm_(params, max_norm)
    else:
        # accelerator.clip_grad_norm_ unscales *every* optimiser under fp16; unscale only this one
        acc.unscale_gradients(optimizer=opt)
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return float(norm) if norm is not None else float("nan")


def make_optimizer(params: Iterable[Any], optim: "OptimConfig", **overrides: Any) -> torch.optim.Optimizer:
    """The recipe's ``optim`` section as a torch optimiser (``overrides`` replace settings, e.g. ``lr``)."""
    settings = {
        "lr": optim.lr,
        "betas": tuple(optim.betas),
        "eps": optim.eps,
        "weight_decay": optim.weight_decay,
    } | overrides
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optim.name]
    return cls(params, **settings)


def describe_stage(stage: Any) -> dict[str, Any]:
    """Machine-readable description of a registered stage card or class (``rdpflex recipes schema --json``)."""
    from rdpflex.cards import StageCard

    card = stage if isinstance(stage, StageCard) else StageCard.of(stage)
    return {
        "name": card.name,
        "description": card.description,
        "module": card.implementation.partition(":")[0],
        "config": card.Config.model_json_schema(by_alias=True),
    }


__all__ = ["Stage", "StepContext", "make_optimizer", "unwrapped", "describe_stage", "OPTIONAL_MEMBERS"]
