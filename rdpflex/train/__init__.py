"""Training from recipes on HF Accelerate (``rdpflex train RECIPE.yaml``).

::

    recipe.yaml ─load_recipe (2-pass pydantic)─► LoadedRecipe ─TrainingRun─► Stage (codec | plugin stages)
                                                                  └─► OUTPUT/{checkpoints,logs,metrics.jsonl,system}

Public API: :func:`load_recipe`, :func:`train`, :class:`Stage`, :class:`StepContext`,
:func:`make_optimizer`, :func:`unwrapped`, :class:`Strict` (base of a stage's ``Config``).
"""

import importlib
from typing import Any

# Exports are imported on first use (PEP 562): `rdpflex recipes ls` imports rdpflex.train.commands,
# which must not pull in torch through this package's __init__.
_EXPORTS = {
    **dict.fromkeys(["LoadedRecipe", "Recipe", "Strict", "load_recipe", "validate_recipe"], "rdpflex.train.recipe"),
    **dict.fromkeys(["Stage", "StepContext", "make_optimizer", "unwrapped"], "rdpflex.train.stage"),
    "train": "rdpflex.train.trainer",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(_EXPORTS)
