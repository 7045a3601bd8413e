"""The pydantic models of a recipe's common sections (``data``, ``train``, ``optim``, ``schedule``,
``checkpoint``, ``log``, ``validation``), :class:`Recipe` and the validated :class:`LoadedRecipe`.

The format is described in :mod:`rdpflex.train.recipe`; reading and validating files is
:mod:`rdpflex.train.recipe_loading`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rdpflex.samples import NAMES as SAMPLE_NAMES


class Strict(BaseModel):
    """Base of every recipe model: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)


# -- common sections ----------------------------------------------------------------------------
class DataConfig(Strict):
    """Training images and the held-out validation images."""

    dataset: Literal["samples", "folder"] = Field(
        default="samples",
        description="`samples`: photographs shipped inside installed wheels (see `samples`); `folder`: "
        "PNG/JPEG files below `path` (recursive).",
    )
    path: str | None = Field(
        default=None,
        description="Image folder (dataset: folder). Relative paths are relative to the working directory.",
    )
    samples: list[str] | None = Field(
        default=None,
        description="dataset 'samples': which photographs (names in rdpflex.samples.NAMES); default: the 8 "
        "colour photographs of scikit-image.",
    )
    holdout: list[str] | None = Field(
        default=None,
        description="Names (sample names or relative paths) held out for validation, instead of the "
        "`val_fraction` split; never trained on.",
    )
    val_path: str | None = Field(
        default=None,
        description="Separate folder of validation images; default: hold out `val_fraction` of the training images.",
    )
    val_fraction: float = Field(
        default=0.25,
        ge=0,
        lt=1,
        description="Fraction held out for validation, chosen deterministically by the sha1 of each image's "
        "relative path.",
    )
    val_max_images: int | None = Field(default=None, ge=1, description="Validate on at most this many held-out images.")
    val_crop: int | None = Field(
        default=256,
        ge=16,
        description="Centre-crop validation images to at most this many pixels per side (null: whole images).",
    )
    crop: int = Field(default=256, ge=16, description="Side of the square training crops (pixels).")
    resize: tuple[int, int] | None = Field(
        default=None,
        description="[min, max]: before cropping, resize the shorter side to a random size in this range "
        "(null: no resize). Images whose shorter side is below `crop` are always upsampled to it.",
    )
    hflip: bool = Field(default=True, description="Random horizontal flips.")
    unreadable: Literal["skip", "error"] = Field(
        default="skip",
        description="An image that cannot be decoded: `skip` it with a warning naming the file, or stop with an error.",
    )
    cache: bool = Field(default=False, description="Keep decoded training images in memory (small folders only).")
    workers: int = Field(default=0, ge=0, description="DataLoader worker processes per training process.")

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        if self.dataset == "folder" and not self.path:
            raise ValueError("dataset 'folder' needs `path` (the image folder)")
        if self.dataset == "samples" and self.path:
            raise ValueError("`path` is only used with dataset 'folder'")
        if self.dataset != "samples" and self.samples is not None:
            raise ValueError("`samples` is only used with dataset 'samples'")
        if self.samples is not None:
            unknown = [n for n in self.samples if n not in SAMPLE_NAMES]
            if unknown:
                raise ValueError(f"unknown sample {unknown[0]!r}; samples: {', '.join(SAMPLE_NAMES)}")
        if self.resize is not None:
            lo, hi = self.resize
            if lo < 1 or hi < lo:
                raise ValueError(f"resize must be [min, max] with 1 <= min <= max, got {list(self.resize)}")
        return self


class TrainConfig(Strict):
    """The loop: steps are optimiser steps; one step = ``grad_accum`` batches per process."""

    steps: int = Field(..., gt=0, description="Optimiser steps in the whole run.")
    batch_size: int = Field(
        default=8,
        gt=0,
        description="Images per batch per process (global batch = batch_size x processes x grad_accum).",
    )
    grad_accum: int = Field(default=1, gt=0, description="Batches accumulated per optimiser step.")
    mixed_precision: Literal["no", "bf16", "fp16"] = Field(
        default="no", description="Accelerate's mixed precision (entropy models always run in float32)."
    )
    clip_grad_norm: float | None = Field(
        default=1.0, gt=0, description="Clip the main optimisers' gradient norm (null: no clipping)."
    )
    device: Literal["auto", "cpu"] = Field(
        default="auto", description="`auto`: GPUs when present (Accelerate decides), else CPU; `cpu`: force CPU."
    )
    cpu_threads: int | None = Field(default=None, gt=0, description="torch.set_num_threads per process (CPU runs).")
    stop_at: int | None = Field(
        default=None,
        gt=0,
        description="End this invocation with a checkpoint once this many steps are done, without export "
        "(time-limited jobs; continue with --resume).",
    )


class OptimConfig(Strict):
    """The main optimiser(s) of the stage (a stage may override some settings in its own section)."""

    name: Literal["adam", "adamw"] = "adam"
    lr: float = Field(default=1e-4, gt=0, description="Base learning rate (before the schedule).")
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(default=1e-8, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)

    @field_validator("betas")
    @classmethod
    def _betas(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in v):
            raise ValueError(f"betas must lie in [0, 1), got {list(v)}")
        return v


class ScheduleConfig(Strict):
    """The papers' schedule tools (HiFiC / multi-realism): a rate-weight boost early, a learning-rate drop late."""

    lambda_factor: float = Field(
        default=10.0,
        gt=0,
        description="Multiplier of the rate term's weight (`ctx.lambda_scale`) during the first "
        "`lambda_fraction` of the steps.",
    )
    lambda_fraction: float = Field(default=0.15, ge=0, le=1)
    lr_factor: float = Field(
        default=0.1, gt=0, description="Learning-rate multiplier during the last `lr_fraction` of the steps."
    )
    lr_fraction: float = Field(default=0.15, ge=0, le=1)
    warmup_steps: int = Field(default=0, ge=0, description="Linear learning-rate warm-up over this many steps.")


class CheckpointConfig(Strict):
    every: int = Field(
        default=1000, gt=0, description="Save `accelerator.save_state` every N steps (and at the end / at `stop_at`)."
    )
    keep: int | None = Field(default=2, gt=0, description="Keep the newest N checkpoints (null: all).")


class LogConfig(Strict):
    every: int = Field(default=50, gt=0, description="Log training metrics (averaged) every N steps.")
    tensorboard: bool = Field(
        default=True, description="Write TensorBoard events to OUTPUT/logs through Accelerate's trackers."
    )
    project: str = Field(default="rdpflex", min_length=1, description="Tracker project (run) name.")


class ValidationConfig(Strict):
    every: int | None = Field(default=1000, gt=0, description="Validate every N steps (null: only at the end).")
    at_start: bool = Field(default=False, description="Also validate the untrained model at step 0.")
    card: bool = Field(
        default=True,
        description="At export, measure bpp, PSNR and ST-LPIPS of every decoder of the exported system on the "
        "held-out images for its model card (README.md); false: a card without figures.",
    )


class Recipe(Strict):
    """The common sections of every recipe (pass 1)."""

    stage: str = Field(..., description="The stage to run; its own section is the key of the same name.")
    description: str = Field(default="", description="One line shown by `rdpflex recipes ls`.")
    output: str | None = Field(
        default=None, description="Output directory (default runs/<stage>); `--output` overrides."
    )
    seed: int = Field(default=0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)

    @field_validator("stage")
    @classmethod
    def _known_stage(cls, v: str) -> str:
        from rdpflex.plugins import blocked_hint, get_stage_cards

        stages = get_stage_cards()
        if v not in stages:
            raise ValueError(f"unknown stage {v!r}; registered stages: {', '.join(stages) or 'none'}{blocked_hint(v)}")
        return v

    @model_validator(mode="after")
    def _cross(self) -> "Recipe":
        if self.train.stop_at is not None and self.train.stop_at > self.train.steps:
            raise ValueError(f"train.stop_at ({self.train.stop_at}) is beyond train.steps ({self.train.steps})")
        return self


# -- a loaded recipe -----------------------------------------------------------------------------
@dataclass
class LoadedRecipe:
    """A validated recipe: the common part, the stage class and its validated section."""

    recipe: Recipe
    #: the stage's card (:class:`rdpflex.cards.StageCard`); ``stage_cls`` imports the implementation
    stage_card: Any
    config: BaseModel
    raw: dict[str, Any]
    source: str = "<recipe>"
    overrides: list[str] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return self.recipe.stage

    @property
    def stage_cls(self) -> type:
        """The stage class (imports its implementation, torch included)."""
        return self.stage_card.load()

    def dump(self) -> str:
        """The resolved recipe (after ``--set``) as YAML, headed by where it came from."""
        head = (
            f"# resolved from {self.source}"
            + (f" with --set {' --set '.join(self.overrides)}" if self.overrides else "")
            + "\n"
        )
        return head + yaml.safe_dump(self.raw, sort_keys=False)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()
