"""The generic ``decoder`` stage: train one decoder family on a frozen codec (e.g. an imported CompressAI model).

::

    x ─frozen codec (eval: real rounding, no grad)─► y_hat ─► family trainer.train_step(x, y_hat, ctx)
    export: the codec's system directory + decoders/<family>/ (fingerprint of that codec)

A decoder family opts in by registering a trainer through the ``register_trainers`` hook — a
:class:`rdpflex.cards.TrainerCard` (``family``, ``Config``, ``"module:Class"``) or the class itself —
following :class:`Trainer`. The decoder class knows nothing of its trainer: decoders import without the
training stack (as diffusers keeps training code out of models and pipelines).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import torch
from pydantic import BaseModel
from torch import Tensor, nn

from rdpflex.train.builtin import DECODER
from rdpflex.train.configs import DecoderStageConfig, decoder_stage_problems
from rdpflex.train.recipe import Recipe
from rdpflex.train.stage import StepContext

if TYPE_CHECKING:
    from accelerate import Accelerator


@runtime_checkable
class Trainer(Protocol):
    """A decoder family's trainer on a frozen codec (registered with the ``register_trainers`` hook).

    Optional: ``checkpoint_objects() -> dict[str, obj]`` (extra state with ``state_dict`` /
    ``load_state_dict``, e.g. EMA weights, saved in every checkpoint and restored on resume).
    """

    #: the decoder family it trains (``decoder.family`` of the recipe)
    family: ClassVar[str]
    #: pydantic model of ``decoder.settings`` (subclass :class:`rdpflex.train.recipe.Strict`)
    Config: ClassVar[type[BaseModel]]

    def __init__(self, recipe: Recipe, settings: BaseModel, accelerator: "Accelerator", codec: Any) -> None: ...

    def modules(self) -> dict[str, nn.Module]:
        """Trainable networks by name (prepared by Accelerate: call ``ctx.modules[name]`` in train_step)."""
        ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def train_step(self, x: Tensor, y_hat: Tensor, ctx: StepContext) -> dict[str, float]:
        """One micro-batch: ``x`` (B, 3, crop, crop) in [0, 1] and ``y_hat``, the frozen codec's real
        quantisation of ``x``. Call ``ctx.backward_step(name, loss)``; return floats (``loss.item()``)."""
        ...

    def validate(self, images: list[Tensor], codec: Any, ctx: StepContext) -> dict[str, float]:
        """Metrics on the held-out images: a list of (1, 3, H, W) tensors in [0, 1] on ``ctx.device``.
        Their latents: ``codec.compress(codec.pad(x))["y_hat"]`` (what a ``.rdp`` file carries)."""
        ...

    def export_decoder(self) -> Any:
        """The trained decoder (on CPU); the stage saves it in ``OUTPUT/system/decoders/<family>/``."""
        ...


def _trainer_card(family: str) -> Any:
    from rdpflex.plugins import get_trainer_cards

    return get_trainer_cards().get(family)


class DecoderStage:
    """``stage: decoder`` — one decoder family on a frozen codec."""

    name: ClassVar[str] = DECODER.name
    description: ClassVar[str] = DECODER.description
    Config = DecoderStageConfig

    def __init__(self, recipe: Recipe, config: DecoderStageConfig, accelerator: Any) -> None:
        from rdpflex.system import System

        self.recipe, self.config, self.accelerator = recipe, config, accelerator
        self.system = System.load(config.system)
        device = accelerator.device if accelerator is not None else "cpu"
        self.codec = self.system.codec.eval().requires_grad_(False).to(device)
        trainer_cls = _trainer_card(config.family).load()
        settings = trainer_cls.Config.model_validate(config.settings)
        self.trainer = trainer_cls(recipe, settings, accelerator, self.codec)

    @classmethod
    def check_recipe(cls, recipe: Recipe, config: DecoderStageConfig) -> list[tuple[str, str]]:
        return decoder_stage_problems(recipe, config)

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
