"""Shared fixtures: tiny randomly initialised systems and small images of awkward sizes."""

from __future__ import annotations

import os
import signal
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("RDPFLEX_OFFLINE", "1")  # never attempt a download from the test suite
os.environ["HF_HUB_OFFLINE"] = "1"  # nor from the Hugging Face Hub: repo ids resolve from local caches only
#: settings a developer's shell may hold that would change what the suite tests (tests set them explicitly)
USER_SETTINGS = (
    "RDPFLEX_SYSTEM",
    "RDPFLEX_MAX_PIXELS",
    "RDPFLEX_PLUGINS",
    "RDPFLEX_BLOCK_PLUGINS",
    "RDPFLEX_PLUGIN_MODULES",
)
for _var in USER_SETTINGS:
    os.environ.pop(_var, None)
warnings.filterwarnings("ignore", category=FutureWarning)

SIZES = {"odd": (17, 23), "wide": (64, 80), "tall": (70, 33)}


def run_two_processes(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``rdpflex.train.launch ARGS`` in two CPU processes under torchrun (one thread each); on timeout the
    launcher and both workers are killed before the error is raised."""
    from rdpflex.runtime import launch_command

    cmd = [*launch_command(2), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def use_plugin_module(monkeypatch: pytest.MonkeyPatch, folder: Path, name: str, source: str) -> Path:
    """Write plugin module ``name`` into ``folder`` and select it with ``RDPFLEX_PLUGIN_MODULES`` (undone by
    ``monkeypatch``; call ``rdpflex.plugins.reset_plugins()`` again after the test)."""
    from rdpflex import plugins

    (folder / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("RDPFLEX_PLUGIN_MODULES", name)
    plugins.reset_plugins()
    return folder


def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random RGB image (more codec-like than white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack(
        [np.sin(6 * xx * rng.uniform(0.5, 2) + c) * np.cos(5 * yy * rng.uniform(0.5, 2) + c) for c in range(3)], -1
    )
    return ((img * 0.5 + 0.5) * 255 + rng.normal(0, 4, img.shape)).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("images")
    for i, (name, (h, w)) in enumerate(SIZES.items()):
        Image.fromarray(smooth_image(h, w, i)).save(d / f"{name}.png")
    return d


@pytest.fixture(scope="session")
def image_paths(image_dir) -> list[Path]:
    return sorted(image_dir.glob("*.png"))


@pytest.fixture(scope="session")
def tiny_system_dir(tmp_path_factory) -> Path:
    from rdpflex.system import System

    return System.tiny("msh", seed=0).save(tmp_path_factory.mktemp("sys") / "tiny-msh")


@pytest.fixture(scope="session")
def other_system_dir(tmp_path_factory) -> Path:
    from rdpflex.system import System

    return System.tiny("msh", seed=1).save(tmp_path_factory.mktemp("sys") / "tiny-msh-other")


#: environment variables that point rdpflex at metric-network weights
WEIGHT_ENV = (
    "RDPFLEX_INCEPTION_WEIGHTS",
    "RDPFLEX_ALEXNET_WEIGHTS",
    "RDPFLEX_STLPIPS_WEIGHTS",
    "RDPFLEX_STLPIPS_VGG_WEIGHTS",
)


@pytest.fixture(scope="session")
def stand_in_dir(tmp_path_factory) -> Path:
    """A TORCH_HOME with stand-in weights for both metric networks (written once per session)."""
    from rdpflex.metrics.stand_in import stand_in_torch_home

    home = tmp_path_factory.mktemp("torch_home")
    stand_in_torch_home(home, seed=0)
    return home


@pytest.fixture
def stand_in_home(stand_in_dir, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(stand_in_dir))
    for var in WEIGHT_ENV:
        monkeypatch.delenv(var, raising=False)
    return stand_in_dir


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "empty_torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    for var in WEIGHT_ENV:
        monkeypatch.delenv(var, raising=False)
    return home
