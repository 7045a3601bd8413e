"""Loading recipes: shipped recipes by name, YAML reading, ``--set`` overrides, two-pass validation.

::

    name or path ─resolve_recipe_path─► file ─read_recipe_file─► dict ─apply_overrides (--set)─►
        ─validate_recipe (pass 1: Recipe; pass 2: the stage's Config + check_recipe)─► LoadedRecipe

Every problem of a recipe is reported in one :class:`~rdpflex.errors.RecipeError`, each with its
dotted path (``train.steps: required key is missing``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from rdpflex.errors import RecipeError
from rdpflex.train.recipe_models import LoadedRecipe, Recipe

#: shipped recipes are package data (``rdpflex/recipes/``; the checkout's top-level ``recipes`` links to it),
#: addressed by name: ``quick/codec`` is ``RECIPES_DIR / "quick/codec.yaml"``
RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


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
            errors += format_errors(exc, Config, prefix=card.name)
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
