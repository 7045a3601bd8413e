"""Fixtures of the evaluation tests: tiny systems, small images, stand-in metric weights, test plugins."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from rdpflex.plugins import reset_plugins
from tests.conftest import WEIGHT_ENV, smooth_image

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_MODULE = "tests.evaluation.plugin_decoders"
#: small images of different sizes (64-96 px)
EVAL_SIZES = {"a_wide": (64, 80), "b_tall": (96, 72), "c_square": (72, 72)}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the shared 2-core machines run several jobs, and oversubscribed OpenMP threads
    made these tests several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def eval_plugins(monkeypatch):
    """Only the built-in mse plugin plus the test decoders (other families are being edited concurrently)."""
    monkeypatch.setenv("RDPFLEX_PLUGINS", "mse")
    monkeypatch.setenv("RDPFLEX_PLUGIN_MODULES", PLUGIN_MODULE)
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


@pytest.fixture(scope="session")
def eval_image_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("eval_images")
    for i, (name, (h, w)) in enumerate(EVAL_SIZES.items()):
        Image.fromarray(smooth_image(h, w, 10 + i)).save(d / f"{name}.png")
    return d


@pytest.fixture(scope="session")
def eval_system_dir(tmp_path_factory) -> Path:
    """A tiny msh system with a trained ``noisy`` decoder (the test plugin)."""
    from rdpflex.system import System
    from tests.evaluation.plugin_decoders import NoisyDecoder

    system = System.tiny("msh", seed=0)
    root = system.save(tmp_path_factory.mktemp("eval_sys") / "tiny")
    system.add_decoder(NoisyDecoder())
    return root


def subprocess_env(torch_home: Path, **extra: str) -> dict[str, str]:
    """Environment of a CLI subprocess: the test plugins, a given TORCH_HOME, offline."""
    env = {k: v for k, v in os.environ.items() if k not in WEIGHT_ENV}
    env.update(
        RDPFLEX_PLUGINS="mse",
        RDPFLEX_PLUGIN_MODULES=PLUGIN_MODULE,
        TORCH_HOME=str(torch_home),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        RDPFLEX_OFFLINE="1",
        PYTHONWARNINGS="ignore",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


#: the viewer's tiny report: mse and one cheap knob chain (the noisy test decoder's sigma)
VIEWER_DECODERS = ("mse", "noisy:sigma=0,0.1,0.3")


@pytest.fixture(scope="session")
def viewer_report(eval_image_dir, eval_system_dir, tmp_path_factory) -> Path:
    """A report written by ``rdpflex compare`` on the command line (PSNR and the weight-free SWD, three
    baseline qualities): the viewer's full-resolution images, its data and its links."""
    import subprocess

    out = tmp_path_factory.mktemp("viewer") / "report"
    home = tmp_path_factory.mktemp("viewer_home")
    decoders = [arg for d in VIEWER_DECODERS for arg in ("--decoder", d)]
    cmd = [sys.executable, "-m", "rdpflex.cli", "compare", str(eval_image_dir), "-o", str(out)]
    cmd += ["--system", str(eval_system_dir), "--metrics", "psnr,swd", "--quality", "10,50,90", *decoders]
    proc = subprocess.run(cmd, cwd=ROOT, env=subprocess_env(home), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


def pytest_terminal_summary(terminalreporter):
    """A note where the browser tests were skipped (no Chromium or no Playwright), and how to run them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "browser" in getattr(r, "keywords", {})]
    if skipped:
        reason = skipped[0].longrepr[2] if isinstance(skipped[0].longrepr, tuple) else "no browser"
        terminalreporter.write_line(
            f"note: {len(skipped)} browser test(s) of the report viewer skipped ({reason.removeprefix('Skipped: ')}); "
            "`make test-browser` installs Chromium and Playwright and runs them"
        )
