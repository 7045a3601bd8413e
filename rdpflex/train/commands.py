"""``rdpflex train`` and ``rdpflex recipes {ls,show,validate,cp,schema}`` (click commands).

Errors are :class:`~rdpflex.errors.RecipeError` / :class:`~rdpflex.errors.RdpflexError`; the
``rdpflex`` entry point prints them as one line and exits 2.

Imports inside the commands are lazy for start-up time: ``rdpflex recipes ls/show`` and ``--help``
must not import torch (tests/test_startup.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe value by dotted path (VALUE is YAML), e.g. --set optim.lr=3e-4 --set train.steps=100.",
)


@click.command("train")
@click.argument("recipe")
@set_option
@click.option(
    "--resume",
    is_flag=True,
    help="Continue from the latest checkpoint in the output directory (starts fresh when there is none).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Output directory (default: the recipe's `output`).",
)
def train_command(recipe: str, overrides: tuple[str, ...], resume: bool, output: Path | None) -> None:
    """Train from RECIPE (a YAML file or a shipped recipe name such as quick/codec).

    One CPU or GPU as is; several processes with `accelerate launch $(which rdpflex) train RECIPE`
    or `torchrun --nproc_per_node N -m rdpflex.train.launch RECIPE`.
    """
    from rdpflex.train.recipe_loading import load_recipe
    from rdpflex.train.trainer import train

    loaded = load_recipe(recipe, overrides)
    path = train(loaded, output=output, resume=resume)
    if path is not None:
        from accelerate import PartialState

        if PartialState().is_main_process:
            click.echo(f"trained {loaded.stage}: {path}")


@click.group("recipes")
def recipes_group() -> None:
    """Shipped training recipes: list, show, validate, copy, schema."""


@recipes_group.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing.")
def recipes_ls(as_json: bool) -> None:
    """List the shipped recipes (package data), by the names `train`, `show`, `validate` and `cp` take."""
    from rdpflex.errors import RecipeError
    from rdpflex.train.recipe_loading import RECIPES_DIR, list_recipes

    rows = list_recipes()
    if not rows:
        raise RecipeError(f"no shipped recipes found in {RECIPES_DIR}: the rdpflex installation is incomplete")
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {str(r['stage'] or '?'):<8} {r['description']}")
        if r["launch"]:
            click.echo(f"{'':<{width}}  {'':<8} $ {r['launch']}")


@recipes_group.command("show")
@click.argument("name")
def recipes_show(name: str) -> None:
    """Print a recipe's YAML (NAME: a shipped recipe such as quick/codec, or a file)."""
    from rdpflex.train.recipe_loading import resolve_recipe_path

    click.echo(resolve_recipe_path(name).read_text(), nl=False)


@recipes_group.command("validate")
@click.argument("file")
@set_option
def recipes_validate(file: str, overrides: tuple[str, ...]) -> None:
    """Validate FILE (or a shipped recipe name): prints "ok", or every error with its path (exit 2)."""
    from rdpflex.train.recipe_loading import load_recipe

    load_recipe(file, overrides)
    click.echo("ok")


@recipes_group.command("cp")
@click.argument("name")
@click.argument("dest", type=click.Path(path_type=Path))
def recipes_cp(name: str, dest: Path) -> None:
    """Copy the shipped recipe NAME to DEST (a file, or a folder) to edit it; never overwrites."""
    from rdpflex.train.recipe_loading import copy_recipe

    click.echo(f"copied {name} to {copy_recipe(name, dest)}")


@recipes_group.command("schema")
@click.option(
    "--json", "as_json", is_flag=True, help="JSON Schema of the common sections and of every registered stage."
)
def recipes_schema(as_json: bool) -> None:
    """Reference of every recipe key (common sections + each registered stage's section), as Markdown."""
    from rdpflex.train.schema import schema_json, schema_markdown

    click.echo(json.dumps(schema_json(), indent=2) if as_json else schema_markdown())
