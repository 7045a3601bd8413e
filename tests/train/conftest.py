"""Fixtures of the training tests: tiny recipes written to tmp dirs, the plugin test stage loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rdpflex.train.recipe import RECIPES_DIR

TINY = RECIPES_DIR / "tiny" / "codec.yaml"


@pytest.fixture
def plugin_stage(monkeypatch):
    """Load tests/train/plugin_stage.py as a plugin (the ``toygan`` stage), as a third party would."""
    from rdpflex.plugins import reset_plugins

    monkeypatch.setenv("RDPFLEX_PLUGIN_MODULES", "tests.train.plugin_stage")
    reset_plugins()
    yield
    monkeypatch.delenv("RDPFLEX_PLUGIN_MODULES")
    reset_plugins()


def write_recipe(path: Path, raw: dict, header: str = "# rdpflex train RECIPE") -> Path:
    path.write_text(header + "\n" + yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def tiny_raw() -> dict:
    return yaml.safe_load(TINY.read_text())
