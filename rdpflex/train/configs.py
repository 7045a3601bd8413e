"""Recipe sections of rdpflex's built-in stages, importable without torch (``rdpflex recipes validate``).

The stage classes that use them live in :mod:`rdpflex.train.codec_stage` and
:mod:`rdpflex.train.decoder_stage`; :mod:`rdpflex.train.builtin` registers them as cards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from rdpflex.plugins import codec_cards
from rdpflex.train.recipe import Recipe, Strict, format_errors


class CodecSource(Strict):
    """Which codec a stage trains: a fresh architecture or a system to start from (shared by stages that train E)."""

    arch: str = Field("msh", description="Codec architecture (`msh`, `elic`, or one a plugin registers).")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor arguments of the architecture (e.g. {N: 192, M: 320}); "
        "omitted ones take the architecture's defaults.",
    )
    aux_lr: float = Field(
        1e-3, gt=0, description="Learning rate of the auxiliary (quantiles) optimiser; not scheduled."
    )
    init: str | None = Field(
        None,
        description="Start from the codec of this system directory "
        "(its arch and config are used; leave `arch`/`config` unset).",
    )

    @field_validator("arch")
    @classmethod
    def _arch(cls, v: str) -> str:
        archs = codec_cards()
        if v not in archs:
            raise ValueError(f"unknown codec architecture {v!r}; available: {', '.join(sorted(archs))}")
        return v

    @field_validator("config")
    @classmethod
    def _config(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        card = codec_cards().get(info.data.get("arch", ""))
        if card is not None and card.params is not None and v:
            unknown = [k for k in v if k not in card.params]
            if unknown:
                raise ValueError(
                    f"{', '.join(map(repr, unknown))} not accepted by {info.data['arch']!r} "
                    f"(arguments: {', '.join(card.params)})"
                )
        return v

    @model_validator(mode="after")
    def _init(self) -> "CodecSource":
        if self.init is not None and {"arch", "config"} & self.model_fields_set:
            raise ValueError("give either `init` (a system directory) or `arch`/`config`, not both")
        return self

    def crop_problems(self, recipe: Recipe) -> list[tuple[str, str]]:
        """``data.crop`` must be a multiple of the codec's input granularity."""
        arch = self.arch
        if self.init is not None:  # the system's codec (if the directory is already there)
            try:
                arch = json.loads((Path(self.init) / "system.json").read_text())["codec"]["arch"]
            except (OSError, ValueError, KeyError, TypeError):
                return []
        card = codec_cards().get(arch)
        m = card.downsample if card is not None else 1
        if recipe.data.crop % m:
            return [
                ("data.crop", f"{recipe.data.crop} is not a multiple of {m}, the input granularity of codec {arch!r}")
            ]
        return []


class CodecStageConfig(CodecSource):
    """The ``codec:`` section."""

    lmbda: float = Field(
        0.0067,
        gt=0,
        alias="lambda",
        description="Distortion weight: loss = lambda x 255^2 x MSE + bpp "
        "(CompressAI: 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.18 for q1..q8).",
    )


class DecoderStageConfig(Strict):
    """The ``decoder:`` section."""

    system: str | None = Field(
        None,
        description="System directory whose codec is frozen (e.g. from `rdpflex import-compressai` or a `codec` run); "
        "null: the default system ($RDPFLEX_SYSTEM or the bundled demo system).",
    )
    family: str = Field(
        ..., description="Decoder family to train (a registered decoder with a trainer, e.g. multirealism)."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The family's own training settings, validated by its trainer's Config."
    )


def decoder_stage_problems(recipe: Recipe, config: DecoderStageConfig) -> list[tuple[str, str]]:
    """``decoder.family`` must have a registered trainer; ``decoder.settings`` must pass its ``Config``."""
    from rdpflex.plugins import get_trainer_cards

    problems: list[tuple[str, str]] = []  # decoder.system is checked when the run starts (System.load)
    cards = get_trainer_cards()
    card = cards.get(config.family)
    if card is None:
        problems.append(
            (
                "decoder.family",
                f"{config.family!r} has no trainer; trainable decoder families: {', '.join(cards) or 'none'}",
            )
        )
        return problems
    try:
        card.Config.model_validate(config.settings)
    except ValidationError as exc:
        for line in format_errors(exc, card.Config, prefix="decoder.settings"):
            path, _, msg = line.partition(": ")
            problems.append((path, msg))
    return problems
