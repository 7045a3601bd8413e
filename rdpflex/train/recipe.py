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

The models live in :mod:`rdpflex.train.recipe_models`, the loading machinery (YAML, ``--set``,
shipped recipes, validation) in :mod:`rdpflex.train.recipe_loading`; this module re-exports both
(plugins import ``Strict`` and ``Recipe`` from here).
"""

from rdpflex.train.recipe_loading import (
    RECIPES_DIR,
    apply_overrides,
    copy_recipe,
    format_errors,
    launch_comment,
    list_recipes,
    load_recipe,
    read_recipe_file,
    resolve_recipe_path,
    shipped_recipe,
    validate_recipe,
)
from rdpflex.train.recipe_models import (
    CheckpointConfig,
    DataConfig,
    LoadedRecipe,
    LogConfig,
    OptimConfig,
    Recipe,
    ScheduleConfig,
    Strict,
    TrainConfig,
    ValidationConfig,
)

__all__ = [
    "Strict",
    "DataConfig",
    "TrainConfig",
    "OptimConfig",
    "ScheduleConfig",
    "CheckpointConfig",
    "LogConfig",
    "ValidationConfig",
    "Recipe",
    "LoadedRecipe",
    "RECIPES_DIR",
    "format_errors",
    "validate_recipe",
    "apply_overrides",
    "shipped_recipe",
    "resolve_recipe_path",
    "copy_recipe",
    "read_recipe_file",
    "load_recipe",
    "launch_comment",
    "list_recipes",
]
