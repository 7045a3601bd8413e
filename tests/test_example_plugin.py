"""The example external plugin (plugins/examples/rdpflex-refine, installed by `make install`) behaves as a
third-party plugin: listed, trained with a recipe, decodes a .rdp, and appears in the default `compare`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

from rdpflex.cli import main
from rdpflex.plugins import reset_plugins

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "plugins" / "examples" / "rdpflex-refine" / "src" / "rdpflex_refine" / "recipes" / "refine.yaml"


@pytest.fixture(autouse=True)
def default_plugins(monkeypatch):
    for var in ("RDPFLEX_PLUGINS", "RDPFLEX_BLOCK_PLUGINS", "RDPFLEX_PLUGIN_MODULES"):
        monkeypatch.delenv(var, raising=False)
    reset_plugins()
    yield
    reset_plugins()


def rdpflex(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_installed_as_its_own_distribution():
    assert distribution("rdpflex-refine").version == "0.1.0"


def test_listed_by_decoders_and_plugins():
    decoders = {d["name"]: d for d in json.loads(rdpflex("decoders", "--json").stdout)}
    assert decoders["refine"]["sweep"] == {"strength": [0.0, 0.5, 1.0]}
    assert set(decoders["refine"]["options"]["properties"]) == {"strength", "unsharp"}
    rows = {r["name"]: r for r in json.loads(rdpflex("plugins", "--json").stdout)}
    refine = rows["refine"]
    assert (refine["distribution"], refine["version"], refine["module"], refine["builtin"]) == (
        "rdpflex-refine",
        "0.1.0",
        "rdpflex_refine.hooks",
        False,
    )
    assert refine["registers"] == {"register_decoders": ["refine"], "register_trainers": ["refine"]}


def test_trained_with_a_recipe_decodes_and_appears_in_compare(tmp_path, tiny_system_dir, image_paths, capsys):
    out = tmp_path / "run"
    main(
        [
            "train",
            str(RECIPE),
            "--output",
            str(out),
            "--set",
            f"decoder.system={tiny_system_dir}",
            "--set",
            "train.steps=3",
            "--set",
            "data.crop=64",
            "--set",
            "validation.every=null",
            "--set",
            "checkpoint.every=3",
        ]
    )
    system = out / "system"
    assert (system / "decoders" / "refine" / "refiner" / "diffusion_pytorch_model.safetensors").is_file()
    rdp = tmp_path / "set.rdp"
    main(["compress", *map(str, image_paths), "-o", str(rdp), "--system", str(system)])
    main(
        [
            "decompress",
            str(rdp),
            "-o",
            str(tmp_path / "dec"),
            "--system",
            str(system),
            "--decoder",
            "refine",
            "--set",
            "strength=0.5",
        ]
    )
    assert sorted(p.name for p in (tmp_path / "dec").iterdir()) == sorted(
        p.with_suffix(".png").name for p in image_paths
    )
    capsys.readouterr()
    main(
        [
            "compare",
            str(image_paths[0].parent),
            "-o",
            str(tmp_path / "report"),
            "--system",
            str(system),
            "--no-baselines",
            "--metrics",
            "psnr",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    settings = [(s["decoder"], s["setting"]) for s in data["settings"]]
    assert (
        ("refine", "strength=0") in settings
        and ("refine", "strength=1") in settings
        and settings[0] == ("mse", "default")
    )
