"""Recipes: YAML files that say what to train, on which data, with which losses and schedule.

A recipe has the common sections below plus one section named after its stage, validated by that
stage's own pydantic ``Config`` (so a plugin's stage brings its own section)::

    # rdpflex train quick/codec                      <- every recipe starts with its launch command
    stage: codec                 # a registered stage (`rdpflex recipes schema`)
    output: runs/quick-codec     # checkpoints/, logs/, metrics.jsonl, system/
    seed: 0
    data: {dataset: samples, crop: 128, resize: [256, 512]}
    train: {steps: 400, batch_size: 8}
    optim: {lr: 1.0e-4}
    schedule: {lambda_factor: 10, lambda_fraction: 0.15, lr_factor: 0.1, lr_fraction: 0.15}
    checkpoint: {every: 100}
    log: {every: 10}
    validation: {every: 100}
    codec:                       # the stage's own section
      arch: msh
      lambda: 0.0067

Validation is strict (``extra="forbid"`` everywhere) and in two passes whose errors are reported
together, each with its dotted path: pass 1 validates the common sections and reads ``stage``;
pass 2 validates the stage section with ``StageClass.Config`` (and ``StageClass.check_recipe`` for
checks that need both).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rdpflex.errors import RecipeError
from rdpflex.samples import NAMES as SAMPLE_NAMES

#: shipped recipes are package data (``rdpflex/recipes/``; the checkout's top-level ``recipes`` links to it),
#: addressed by name: ``quick/codec`` is ``RECIPES_DIR / "quick/codec.yaml"``
RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


class Strict(BaseModel):
    """Base of every recipe model: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)


# -- common sections ----------------------------------------------------------------------------
class DataConfig(Strict):
    """Training images and the held-out validation images."""

    dataset: Literal["samples", "folder"] = Field(
        "samples",
        description="`samples`: photographs shipped inside installed wheels (see `samples`); `folder`: "
        "PNG/JPEG files below `path` (recursive).",
    )
    path: str | None = Field(
        None, description="Image folder (dataset: folder). Relative paths are relative to the working directory."
    )
    samples: list[str] | None = Field(
        None,
        description="dataset 'samples': which photographs (names in rdpflex.samples.NAMES); default: the 8 "
        "colour photographs of scikit-image.",
    )
    holdout: list[str] | None = Field(
        None,
        description="Names (sample names or relative paths) held out for validation, instead of the "
        "`val_fraction` split; never trained on.",
    )
    val_path: str | None = Field(
        None,
        description="Separate folder of validation images; default: hold out `val_fraction` of the training images.",
    )
    val_fraction: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="Fraction held out for validation, chosen deterministically by the sha1 of each image's "
        "relative path.",
    )
    val_max_images: int | None = Field(None, ge=1, description="Validate on at most this many held-out images.")
    val_crop: int | None = Field(
        256,
        ge=16,
        description="Centre-crop validation images to at most this many pixels per side (null: whole images).",
    )
    crop: int = Field(256, ge=16, description="Side of the square training crops (pixels).")
    resize: tuple[int, int] | None = Field(
        None,
        description="[min, max]: before cropping, resize the shorter side to a random size in this range "
        "(null: no resize). Images whose shorter side is below `crop` are always upsampled to it.",
    )
    hflip: bool = Field(True, description="Random horizontal flips.")
    unreadable: Literal["skip", "error"] = Field(
        "skip",
        description="An image that cannot be decoded: `skip` it with a warning naming the file, or stop with an error.",
    )
    cache: bool = Field(False, description="Keep decoded training images in memory (small folders only).")
    workers: int = Field(0, ge=0, description="DataLoader worker processes per training process.")

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
        8, gt=0, description="Images per batch per process (global batch = batch_size x processes x grad_accum)."
    )
    grad_accum: int = Field(1, gt=0, description="Batches accumulated per optimiser step.")
    mixed_precision: Literal["no", "bf16", "fp16"] = Field(
        "no", description="Accelerate's mixed precision (entropy models always run in float32)."
    )
    clip_grad_norm: float | None = Field(
        1.0, gt=0, description="Clip the main optimisers' gradient norm (null: no clipping)."
    )
    device: Literal["auto", "cpu"] = Field(
        "auto", description="`auto`: GPUs when present (Accelerate decides), else CPU; `cpu`: force CPU."
    )
    cpu_threads: int | None = Field(None, gt=0, description="torch.set_num_threads per process (CPU runs).")
    stop_at: int | None = Field(
        None,
        gt=0,
        description="End this invocation with a checkpoint once this many steps are done, without export "
        "(time-limited jobs; continue with --resume).",
    )


class OptimConfig(Strict):
    """The main optimiser(s) of the stage (a stage may override some settings in its own section)."""

    name: Literal["adam", "adamw"] = "adam"
    lr: float = Field(1e-4, gt=0, description="Base learning rate (before the schedule).")
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)

    @field_validator("betas")
    @classmethod
    def _betas(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in v):
            raise ValueError(f"betas must lie in [0, 1), got {list(v)}")
        return v


class ScheduleConfig(Strict):
    """The papers' schedule tools (HiFiC / multi-realism): a rate-weight boost early, a learning-rate drop late."""

    lambda_factor: float = Field(
        10.0,
        gt=0,
        description="Multiplier of the rate term's weight (`ctx.lambda_scale`) during the first "
        "`lambda_fraction` of the steps.",
    )
    lambda_fraction: float = Field(0.15, ge=0, le=1)
    lr_factor: float = Field(
        0.1, gt=0, description="Learning-rate multiplier during the last `lr_fraction` of the steps."
    )
    lr_fraction: float = Field(0.15, ge=0, le=1)
    warmup_steps: int = Field(0, ge=0, description="Linear learning-rate warm-up over this many steps.")


class CheckpointConfig(Strict):
    every: int = Field(
        1000, gt=0, description="Save `accelerator.save_state` every N steps (and at the end / at `stop_at`)."
    )
    keep: int | None = Field(2, gt=0, description="Keep the newest N checkpoints (null: all).")


class LogConfig(Strict):
    every: int = Field(50, gt=0, description="Log training metrics (averaged) every N steps.")
    tensorboard: bool = Field(
        True, description="Write TensorBoard events to OUTPUT/logs through Accelerate's trackers."
    )
    project: str = Field("rdpflex", min_length=1, description="Tracker project (run) name.")


class ValidationConfig(Strict):
    every: int | None = Field(1000, gt=0, description="Validate every N steps (null: only at the end).")
    at_start: bool = Field(False, description="Also validate the untrained model at step 0.")
    card: bool = Field(
        True,
        description="At export, measure bpp, PSNR and ST-LPIPS of every decoder of the exported system on the "
        "held-out images for its model card (README.md); false: a card without figures.",
    )


class Recipe(Strict):
    """The common sections of every recipe (pass 1)."""

    stage: str = Field(..., description="The stage to run; its own section is the key of the same name.")
    description: str = Field("", description="One line shown by `rdpflex recipes ls`.")
    output: str | None = Field(None, description="Output directory (default runs/<stage>); `--output` overrides.")
    seed: int = Field(0, ge=0)
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


# -- loading -------------------------------------------------------------------------------------
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


def _allowed_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str] | None:
    """The field names (aliases) of the model found at ``loc`` inside ``model``, for 'unknown key' errors."""
    for part in loc:
        if model is None:
            return None
        f = model.model_fields.get(part) or next((f for f in model.model_fields.values() if f.alias == part), None)
        if f is None:
            return None
        model = _model_in(f.annotation)
    if model is None:
        return None
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            m = _model_in(arg)
            if m is not None:
                return m
    return None


def format_errors(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> list[str]:
    """``dotted.path: message`` for every error of a pydantic validation."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc) or (prefix or "recipe")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            msg = "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
        elif err["type"] == "missing":
            msg = "required key is missing"
        out.append(f"{path}: {msg}")
    return out


def validate_recipe(raw: Any, source: str = "<recipe>", overrides: list[str] | None = None) -> LoadedRecipe:
    """Two-pass validation of a parsed recipe; raises one :class:`RecipeError` listing every problem."""
    from rdpflex.plugins import get_stage_cards

    if not isinstance(raw, dict):
        raise RecipeError(
            f"recipe {source} is invalid: the top level must be a mapping of sections, got {type(raw).__name__}"
        )
    errors: list[str] = []
    stages = get_stage_cards()
    name = raw.get("stage")
    common = dict(raw)
    card = stages.get(name) if isinstance(name, str) else None
    section: Any = {}
    if isinstance(name, str) and name in common and name not in Recipe.model_fields:
        section = common.pop(name)
        section = {} if section is None else section
    recipe = config = None
    # pass 1: common sections (and the stage name)
    try:
        recipe = Recipe.model_validate(common)
    except ValidationError as exc:
        errors += format_errors(exc, Recipe)
    # pass 2: the stage's own section
    if card is not None:
        Config = card.Config
        try:
            config = Config.model_validate(section)
        except ValidationError as exc:
            errors += format_errors(exc, Config, prefix=name)
        if recipe is not None and config is not None and card.check_recipe is not None:
            errors += [f"{loc}: {msg}" for loc, msg in card.check_recipe(recipe, config)]
    if errors:
        n = len(errors)
        raise RecipeError(f"recipe {source} is invalid ({n} error{'s' * (n > 1)}): " + "; ".join(errors))
    assert recipe is not None and config is not None and card is not None
    return LoadedRecipe(recipe, card, config, raw, source, list(overrides or []))


def apply_overrides(raw: dict[str, Any], pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides; KEY is a dotted path, VALUE is parsed as YAML (``1e-4``, ``[1, 2]``, ``null``)."""
    raw = copy.deepcopy(raw)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise RecipeError(f"--set expects KEY=VALUE with a dotted KEY (e.g. optim.lr=1e-4), got {pair!r}")
        try:
            parsed = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as exc:
            raise RecipeError(
                f"--set {key}: the value {value!r} is not valid YAML ({str(exc).splitlines()[0]})"
            ) from None
        node = raw
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise RecipeError(f"--set {key}: {'.'.join(parts[: i + 1])} is a value, not a section")
            node = nxt
        node[parts[-1]] = parsed
    return raw


def shipped_recipe(name: str) -> Path | None:
    """The file of the shipped recipe ``name`` (``quick/codec`` or ``quick/codec.yaml``), or None."""
    root = RECIPES_DIR.resolve()
    for cand in (RECIPES_DIR / f"{name}.yaml", RECIPES_DIR / name):
        if cand.is_file() and cand.suffix == ".yaml" and cand.resolve().is_relative_to(root):
            return cand
    return None


def _unknown(name: str) -> RecipeError:
    names = ", ".join(r["name"] for r in list_recipes()) or "none (the package's recipes/ folder is missing)"
    return RecipeError(f"unknown recipe {name!r}: not a file and not a shipped recipe; shipped: {names}")


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file path, or the name of a shipped recipe (``quick/codec``); a file wins over a name."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    found = shipped_recipe(str(name_or_path))
    if found is not None:
        return found
    if p.suffix in (".yaml", ".yml"):
        raise RecipeError(f"recipe {name_or_path}: no such file")
    raise _unknown(str(name_or_path))


def copy_recipe(name: str, dest: str | Path) -> Path:
    """Copy the shipped recipe ``name`` to ``dest`` (a file, or a directory that gets ``<name>.yaml``) to edit it;
    an existing file is never overwritten (torchtune's ``tune cp``)."""
    src = shipped_recipe(name)
    if src is None:
        raise _unknown(name)
    dest = Path(dest)
    target = dest / src.name if dest.is_dir() else dest
    if target.suffix not in (".yaml", ".yml"):
        target = target.with_name(target.name + ".yaml")
    if target.exists():
        raise RecipeError(f"{target} already exists; choose another destination (nothing was copied)")
    if not target.parent.is_dir():
        raise RecipeError(f"cannot copy to {target}: the folder {target.parent} does not exist")
    target.write_text(src.read_text())
    return target


def read_recipe_file(path: Path) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RecipeError(f"recipe {path}: cannot read ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"recipe {path}: not valid YAML{where}: {problem}") from None


def load_recipe(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedRecipe:
    """Read, override (``--set``) and validate a recipe file or shipped recipe name."""
    path = resolve_recipe_path(name_or_path)
    raw = read_recipe_file(path)
    if isinstance(raw, dict) and overrides:
        raw = apply_overrides(raw, overrides)
    return validate_recipe(raw, str(path), list(overrides))


def launch_comment(path: Path) -> str:
    """The recipe's first comment line (its launch command), without the ``#``."""
    for line in Path(path).read_text().splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip() if line.lstrip().startswith("#") else ""
    return ""


def list_recipes(root: Path | None = None) -> list[dict[str, Any]]:
    """Shipped recipes: name (path below recipes/ without .yaml), path, stage, description, launch command."""
    root = Path(root or RECIPES_DIR)
    out = []
    for path in sorted(root.rglob("*.yaml")) if root.is_dir() else []:
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            raw = {}
        raw = raw if isinstance(raw, dict) else {}
        out.append(
            {
                "name": path.relative_to(root).with_suffix("").as_posix(),
                "path": str(path),
                "stage": raw.get("stage"),
                "description": raw.get("description", ""),
                "launch": launch_comment(path),
            }
        )
    return out
