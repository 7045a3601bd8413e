"""The package as users get it: the wheel's contents and metadata, and (slow) a real install in a fresh venv.

``make test-install`` runs the slow test alone: build the wheel, install it (not editable) with its
dependencies into a new virtual environment, and from an empty directory list, validate and train a
shipped recipe by name, compress and decompress with the bundled system, and ``pip check``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import rdpflex
import rdpflex.plugin_template

ROOT = Path(__file__).resolve().parents[1]
#: build leftovers and local state that must not reach the copy the wheel is built from
NOT_SOURCES = (".git", "build", "dist", "*.egg-info", ".venv", "runs", "__pycache__", "*_cache", "demo-out")
#: the builds of torch and torchvision on this machine's disk (as in the Makefile)
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")


def build_wheel(tmp: Path) -> tuple[Path, str]:
    """Build the wheel from a clean copy of the source tree (offline: no build isolation); returns the wheel
    and the build's output."""
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    [wheel] = (tmp / "dist").glob("rdpflex-*.whl")
    return wheel, r.stdout + r.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, str]:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_ships_recipes_assets_typing_marker_and_license(wheel):
    path, log = wheel
    names = set(zipfile.ZipFile(path).namelist())
    recipes = {n.removeprefix("rdpflex/recipes/") for n in names if n.startswith("rdpflex/recipes/")}
    assert {"quick/codec.yaml", "paper/codec-elic.yaml", "demo/codec.yaml", "tiny/codec.yaml"} <= recipes
    assert {
        "rdpflex/py.typed",
        "rdpflex/assets/demo-system/system.json",
        "rdpflex/assets/demo-system/README.md",
    } <= names
    # the plugin template of `rdpflex plugins new`: every file of it
    template = rdpflex.plugin_template.TEMPLATE_DIR
    assert {f"rdpflex/templates/plugin/{p.relative_to(template).as_posix()}" for p in template.rglob("*.tmpl")} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.endswith((".pt", ".pth", ".pkl", ".ckpt")) for n in names)  # weights are safetensors only
    assert "SetuptoolsDeprecationWarning" not in log and "deprecated" not in log.lower()


def test_the_wheel_metadata(wheel):
    path, _ = wheel
    with zipfile.ZipFile(path) as z:
        [meta] = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        text = z.read(meta).decode()
    headers = dict(re.findall(r"^(Version|License-Expression|Requires-Python): (.+)$", text, re.M))
    assert headers == {"Version": rdpflex.__version__, "License-Expression": "Apache-2.0", "Requires-Python": ">=3.11"}
    classifiers = re.findall(r"^Classifier: (.+)$", text, re.M)
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX expression replaces them
    assert re.search(r"^Requires-Dist: huggingface_hub", text, re.M)


def test_version_is_one_source():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'version = { attr = "rdpflex.__version__" }' in pyproject
    r = subprocess.run([sys.executable, "-m", "rdpflex.cli", "--version"], capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, f"rdpflex, version {rdpflex.__version__}\n")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_works_from_an_empty_directory(tmp_path):
    """What `pip install rdpflex` gives a new user, with the dependencies from the package index."""
    from PIL import Image

    times: dict[str, float] = {}
    t = time.perf_counter()
    wheel, _ = build_wheel(tmp_path)
    times["build wheel"] = time.perf_counter() - t

    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "RDPFLEX_SYSTEM")}
    env |= {"HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "2"}
    t = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel), *TORCH_PINS], tmp_path, env, timeout=1800)
    times["venv + pip install"] = time.perf_counter() - t

    empty = tmp_path / "empty"
    empty.mkdir()
    rdp = [str(venv / "bin" / "rdpflex")]
    t = time.perf_counter()
    out = _run([*rdp, "recipes", "ls"], empty, env).stdout
    names = {line.split()[0] for line in out.splitlines() if line and not line[0].isspace()}
    assert {"quick/codec", "quick/multirealism-joint", "paper/codec-elic", "paper/multirealism-joint"} <= names
    assert _run([*rdp, "recipes", "validate", "quick/codec"], empty, env).stdout == "ok\n"
    assert _run([*rdp, "recipes", "validate", "quick/cdiff-decoder"], empty, env).stdout == "ok\n"
    out = _run([*rdp, "train", "quick/codec", "--set", "train.steps=2"], empty, env).stdout
    system = empty / "runs" / "quick-codec" / "system"
    assert (
        f"trained codec: {Path('runs/quick-codec/system')}" in out
        and (system / "codec" / "model.safetensors").is_file()
    )
    assert "library_name: rdpflex" in (system / "README.md").read_text()
    times["recipes ls/validate + train 2 steps"] = time.perf_counter() - t

    t = time.perf_counter()
    Image.new("RGB", (48, 40), (120, 80, 200)).save(empty / "photo.png")
    _run([*rdp, "compress", "photo.png", "-o", "photo.rdp"], empty, env)
    _run([*rdp, "decompress", "photo.rdp", "-o", "out", "--decoder", "multirealism"], empty, env)
    assert Image.open(empty / "out" / "photo.png").size == (48, 40)
    times["compress + decompress"] = time.perf_counter() - t
    _run([str(venv / "bin" / "pip"), "check"], empty, env)
    assert not [p.name for p in empty.iterdir() if p.name not in ("runs", "photo.png", "photo.rdp", "out")]
    print("install test timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
