"""The generic ``decoder`` stage: train one decoder family on a frozen codec (e.g. an imported CompressAI model).

::

    x ─frozen codec (eval: real rounding, no grad)─► y_hat ─► family trainer.train_step(x, y_hat, ctx)
    export: the codec's system directory + decoders/<family>/ (fingerprint of that codec)

A decoder family opts in by giving its decoder class ``trainer_class()`` returning a class with
``Config`` (pydantic, the recipe's ``decoder.settings``), ``__init__(recipe, settings, accelerator,
codec)``, ``modules()``, ``optimizers()``, ``train_step(x, y_hat, ctx)``,
``validate(images, codec, ctx)`` and ``export_decoder()``; optionally ``checkpoint_objects()`` (extra
state such as EMA weights, saved in every checkpoint and restored on resume).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field, ValidationError
from torch import Tensor, nn

from rdpflex.train.recipe import Recipe, Strict, format_errors
from rdpflex.train.stage import StepContext


class DecoderStageConfig(Strict):
    """The ``decoder:`` section."""

    system: str = Field(..., description="System directory whose codec is frozen (e.g. from `rdpflex import-compressai` or a `codec` run).")
    family: str = Field(..., description="Decoder family to train (a registered decoder with a trainer, e.g. multirealism).")
    settings: dict[str, Any] = Field(default_factory=dict, description="The family's own training settings, validated by its trainer's Config.")


def _trainer_class(family: str) -> type | None:
    from rdpflex.plugins import get_decoders

    cls = get_decoders().get(family)
    return cls.trainer_class() if cls is not None and hasattr(cls, "trainer_class") else None


class DecoderStage:
    """``stage: decoder`` — one decoder family on a frozen codec."""

    name: ClassVar[str] = "decoder"
    description: ClassVar[str] = "train one decoder family (decoder.family) on the frozen codec of decoder.system"
    Config = DecoderStageConfig

    def __init__(self, recipe: Recipe, config: DecoderStageConfig, accelerator: Any) -> None:
        from rdpflex.system import System

        self.recipe, self.config, self.accelerator = recipe, config, accelerator
        self.system = System.load(config.system)
        device = accelerator.device if accelerator is not None else "cpu"
        self.codec = self.system.codec.eval().requires_grad_(False).to(device)
        trainer_cls = _trainer_class(config.family)
        settings = trainer_cls.Config.model_validate(config.settings)
        self.trainer = trainer_cls(recipe, settings, accelerator, self.codec)

    @classmethod
    def check_recipe(cls, recipe: Recipe, config: DecoderStageConfig) -> list[tuple[str, str]]:
        from rdpflex.plugins import get_decoders

        problems: list[tuple[str, str]] = []  # decoder.system is checked when the run starts (System.load)
        trainable = sorted(n for n, c in get_decoders().items() if hasattr(c, "trainer_class"))
        trainer_cls = _trainer_class(config.family)
        if trainer_cls is None:
            problems.append(("decoder.family", f"{config.family!r} has no trainer; trainable decoder families: {', '.join(trainable) or 'none'}"))
            return problems
        try:
            trainer_cls.Config.model_validate(config.settings)
        except ValidationError as exc:
            for line in format_errors(exc, trainer_cls.Config, prefix="decoder.settings"):
                path, _, msg = line.partition(": ")
                problems.append((path, msg))
        return problems

    def modules(self) -> dict[str, nn.Module]:
        return self.trainer.modules()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.trainer.optimizers()

    def checkpoint_objects(self) -> dict[str, Any]:
        return getattr(self.trainer, "checkpoint_objects", dict)()

    @torch.no_grad()
    def _latent(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.codec.quantize(x.float())["y_hat"]

    def train_step(self, batch: Tensor, ctx: StepContext) -> dict[str, float]:
        return self.trainer.train_step(batch, self._latent(batch), ctx)

    def validate(self, images: list[Tensor], ctx: StepContext) -> dict[str, float]:
        return self.trainer.validate(images, self.codec, ctx)

    def export(self, output_dir: Path) -> Path:
        from rdpflex.system import System

        system = System(copy.deepcopy(self.codec).float().cpu(), root=self.system.root, info=dict(self.system.info))
        root = system.save(Path(output_dir) / "system")
        system.add_decoder(self.trainer.export_decoder())
        return root
