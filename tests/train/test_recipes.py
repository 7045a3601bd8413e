"""Recipe schema: shipped recipes validate, errors are reported all at once with paths, --set, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rdpflex.errors import RecipeError
from rdpflex.train.recipe import RECIPES_DIR, apply_overrides, list_recipes, load_recipe, validate_recipe

from .conftest import write_recipe

SHIPPED = sorted(RECIPES_DIR.rglob("*.yaml"))


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from rdpflex.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_shipped_recipes_exist():
    names = {r["name"] for r in list_recipes()}
    assert {"quick/codec", "paper/codec-elic", "tiny/codec"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(RECIPES_DIR).as_posix())
def test_every_shipped_recipe_validates_and_says_how_to_launch(path: Path):
    loaded = load_recipe(path)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and ("rdpflex train" in first or "rdpflex.train.launch" in first), first
    assert f" {path.relative_to(RECIPES_DIR).with_suffix('').as_posix()} " in first  # by name, from anywhere
    assert loaded.recipe.train.steps > 0


def test_paper_recipe_carries_the_papers_settings():
    loaded = load_recipe("paper/codec-elic")
    r, c = loaded.recipe, loaded.config
    assert (c.arch, c.config["N"], c.config["M"], c.config["slices"]) == ("elic", 192, 320, 10)
    assert (r.data.crop, r.train.batch_size, r.optim.lr, r.train.mixed_precision) == (256, 8, 1e-4, "bf16")
    assert (r.schedule.lambda_factor, r.schedule.lambda_fraction, r.schedule.lr_factor, r.schedule.lr_fraction) == (
        10,
        0.15,
        0.1,
        0.15,
    )
    assert tuple(r.data.resize) == (500, 1000)


def test_all_errors_in_one_message_with_paths(tiny_raw):
    raw = apply_overrides(
        tiny_raw,
        ["optim.lr=-1", "train.steps=0", "data.crop=8", "data.colour=1", "codec.arch=nope", "codec.lambda=0", "logg=3"],
    )
    with pytest.raises(RecipeError) as exc:
        validate_recipe(raw, "bad.yaml")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("recipe bad.yaml is invalid (7 errors)")
    for part in (
        "optim.lr: Input should be greater than 0",
        "train.steps: Input should be greater than 0",
        "data.crop: Input should be greater than or equal to 16",
        "data.colour: unknown key; allowed: dataset, path",
        "codec.arch: unknown codec architecture 'nope'",
        "codec.lambda: Input should be greater than 0",
        "logg: unknown key",
    ):
        assert part in msg, (part, msg)


def test_missing_and_unknown_stage(tiny_raw):
    raw = dict(tiny_raw, stage="wat")
    del raw["train"]
    with pytest.raises(RecipeError) as exc:
        validate_recipe(raw)
    msg = str(exc.value)
    assert "stage: unknown stage 'wat'; registered stages: codec" in msg
    assert "train: required key is missing" in msg


def test_cross_section_check(tiny_raw):
    with pytest.raises(RecipeError, match=r"data\.crop: 96 is not a multiple of 64"):
        validate_recipe(apply_overrides(tiny_raw, ["data.crop=96"]))
    with pytest.raises(RecipeError, match=r"codec.config: 'K' not accepted by 'msh' \(arguments: N, M\)"):
        validate_recipe(apply_overrides(tiny_raw, ["codec.config.K=3"]))
    with pytest.raises(RecipeError, match="codec: give either `init`"):
        validate_recipe(apply_overrides(tiny_raw, ["codec.init=/some/system"]))
    with pytest.raises(RecipeError, match="stop_at"):
        validate_recipe(apply_overrides(tiny_raw, ["train.stop_at=99"]))


def test_set_overrides(tiny_raw, tmp_path):
    path = write_recipe(tmp_path / "r.yaml", tiny_raw)
    loaded = load_recipe(
        path,
        ["optim.lr=3e-4", "data.resize=[100, 200]", "codec.config.N=16", "validation.every=null", "train.stop_at=2"],
    )
    assert loaded.recipe.optim.lr == 3e-4 and loaded.recipe.data.resize == (100, 200)
    assert loaded.config.config == {"N": 16, "M": 12} and loaded.recipe.validation.every is None
    assert "--set optim.lr=3e-4" in loaded.dump()
    with pytest.raises(RecipeError, match="is a value, not a section"):
        load_recipe(path, ["seed.x=1"])
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        load_recipe(path, ["optim.lr"])
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(path, ["optim.lr=[1,"])


def test_yaml_and_file_errors(tmp_path):
    (tmp_path / "bad.yaml").write_text("stage: codec\n  train: [\n")
    with pytest.raises(RecipeError, match="not valid YAML line"):
        load_recipe(tmp_path / "bad.yaml")
    with pytest.raises(RecipeError, match="no such file"):
        load_recipe(tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match="unknown recipe 'nonesuch'.*quick/codec"):
        load_recipe("nonesuch")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(RecipeError, match="must be a mapping"):
        load_recipe(tmp_path / "list.yaml")


def test_plugin_stage_brings_its_own_section(plugin_stage, tiny_raw):
    raw = {k: v for k, v in tiny_raw.items() if k != "codec"} | {"stage": "toygan", "toygan": {"width": 3}}
    loaded = validate_recipe(raw)
    assert loaded.stage_cls.name == "toygan" and loaded.config.width == 3
    with pytest.raises(RecipeError) as exc:
        validate_recipe(apply_overrides(raw, ["toygan.width=0", "toygan.colour=1", "optim.lr=0", "data.crop=48"]))
    msg = str(exc.value)
    assert (
        "toygan.width: Input should be greater than 0" in msg
        and "toygan.colour: unknown key; allowed: width, d_lr, ema_decay" in msg
    )
    assert "optim.lr: Input should be greater than 0" in msg
    with pytest.raises(RecipeError, match="toygan.width: must be even"):
        validate_recipe(apply_overrides(raw, ["data.crop=48"]))


def test_cli_validate_ls_show(tiny_raw, tmp_path, capsys):
    good = write_recipe(tmp_path / "good.yaml", tiny_raw)
    assert run_cli(["recipes", "validate", str(good)], capsys)[:2] == (0, "ok\n")
    bad = write_recipe(tmp_path / "bad.yaml", apply_overrides(tiny_raw, ["optim.lr=0", "train.batch_size=-2"]))
    code, out, err = run_cli(["recipes", "validate", str(bad)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "optim.lr: Input should be greater than 0" in err and "train.batch_size:" in err
    code, _, err = run_cli(["train", str(bad)], capsys)
    assert code == 2 and "train.batch_size:" in err
    code, out, _ = run_cli(["recipes", "validate", "tiny/codec", "--set", "train.steps=3"], capsys)
    assert (code, out) == (0, "ok\n")

    code, out, _ = run_cli(["recipes", "ls", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert (
        code == 0
        and rows["quick/codec"]["stage"] == "codec"
        and rows["quick/codec"]["launch"].startswith("rdpflex train")
    )
    code, out, _ = run_cli(["recipes", "ls"], capsys)
    assert "paper/codec-elic" in out
    code, out, _ = run_cli(["recipes", "show", "quick/codec"], capsys)
    assert out == (RECIPES_DIR / "quick" / "codec.yaml").read_text()
    code, _, err = run_cli(["recipes", "show", "nope"], capsys)
    assert code == 2 and "unknown recipe 'nope'" in err


def test_recipes_cp_copies_a_shipped_recipe_and_never_overwrites(tmp_path, capsys):
    code, out, _ = run_cli(["recipes", "cp", "quick/codec", str(tmp_path)], capsys)
    copied = tmp_path / "codec.yaml"
    assert code == 0 and out == f"copied quick/codec to {copied}\n"
    assert copied.read_text() == (RECIPES_DIR / "quick" / "codec.yaml").read_text()
    code, out, _ = run_cli(["recipes", "cp", "tiny/codec", str(tmp_path / "mine")], capsys)
    assert code == 0 and (tmp_path / "mine.yaml").read_text() == (RECIPES_DIR / "tiny" / "codec.yaml").read_text()
    code, _, err = run_cli(["recipes", "cp", "tiny/codec", str(copied)], capsys)
    assert code == 2 and f"{copied} already exists" in err and copied.read_text().startswith("# rdpflex train quick/")
    code, _, err = run_cli(["recipes", "cp", "quick/nope", str(tmp_path)], capsys)
    assert code == 2 and "unknown recipe 'quick/nope'" in err and "quick/codec" in err
    code, _, err = run_cli(["recipes", "cp", "quick/codec", str(tmp_path / "no" / "dir" / "x.yaml")], capsys)
    assert code == 2 and "does not exist" in err


def test_recipes_ls_without_recipes_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("rdpflex.train.recipe_loading.RECIPES_DIR", tmp_path / "missing")
    code, out, err = run_cli(["recipes", "ls"], capsys)
    assert (code, out) == (2, "") and f"no shipped recipes found in {tmp_path / 'missing'}" in err


def test_shipped_recipes_by_name_from_another_directory(tmp_path, monkeypatch, capsys):
    """Names resolve in the package, not the working directory; a file of the same name wins."""
    monkeypatch.chdir(tmp_path)
    assert load_recipe("quick/codec").source == str(RECIPES_DIR / "quick" / "codec.yaml")
    assert load_recipe("quick/codec.yaml").stage == "codec"
    (tmp_path / "quick").mkdir()
    write_recipe(tmp_path / "quick" / "codec.yaml", {"stage": "codec", "train": {"steps": 1}})
    assert load_recipe("quick/codec.yaml").source == "quick/codec.yaml"


def test_a_shipped_recipe_that_needs_the_demo_system_finds_it_when_installed(tmp_path, monkeypatch):
    from rdpflex.system import BUNDLED_DEMO_SYSTEM, System

    monkeypatch.chdir(tmp_path)
    ref = load_recipe("quick/cdiff-decoder").config.system
    assert ref == "rdpflex:demo-system" and System.load(ref).root == BUNDLED_DEMO_SYSTEM
    assert "prior.system=rdpflex:demo-system" in (RECIPES_DIR / "quick" / "idempotence-prior.yaml").read_text()


def test_docs_schema_block_is_current():
    from rdpflex.train.schema import BEGIN, END, schema_markdown

    doc = Path(__file__).parents[2] / "docs" / "recipes.md"
    text = doc.read_text()
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block == "\n" + schema_markdown(), (
        "docs/recipes.md is stale: python -m rdpflex.train.schema --write docs/recipes.md"
    )
