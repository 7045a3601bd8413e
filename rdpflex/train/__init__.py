"""Training from recipes on HF Accelerate (``rdpflex train RECIPE.yaml``).

::

    recipe.yaml ─load_recipe (2-pass pydantic)─► LoadedRecipe ─Trainer─► Stage (codec | plugin stages)
                                                                  └─► OUTPUT/{checkpoints,logs,metrics.jsonl,system}

Public API: :func:`load_recipe`, :func:`train`, :class:`Stage`, :class:`StepContext`,
:func:`make_optimizer`, :class:`Strict` (base of a stage's ``Config``).
"""

from rdpflex.train.recipe import LoadedRecipe, Recipe, Strict, load_recipe, validate_recipe
from rdpflex.train.stage import Stage, StepContext, make_optimizer
from rdpflex.train.trainer import train

__all__ = ["LoadedRecipe", "Recipe", "Strict", "load_recipe", "validate_recipe", "Stage", "StepContext", "make_optimizer", "train"]
