"""Crash-safe training: SIGKILL mid-run then --resume ends bit-identical; checkpoints are atomic and load no code."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rdpflex.errors import RdpflexError
from rdpflex.train import train
from rdpflex.train.checkpoints import checkpoint_dirs, latest_checkpoint
from rdpflex.train.recipe import RECIPES_DIR

from .conftest import TINY

STEPS = 16
COMMON = [
    "log.tensorboard=false",
    "train.cpu_threads=1",
    f"train.steps={STEPS}",
    "checkpoint.every=2",
    "checkpoint.keep=2",
]
DECODER = RECIPES_DIR / "quick" / "multirealism-decoder.yaml"
DECODER_TINY = [
    "data.crop=64",
    "data.resize=[96, 160]",
    "data.val_crop=64",
    "data.val_max_images=1",
    "train.batch_size=2",
    "log.every=2",
    "validation.every=null",
    "decoder.settings.generator={N: 8, blocks: 1, cond: fourier, cond_hidden: 16}",
    "decoder.settings.discriminator={channels: [8, 8, 8, 8], latent_features: 4, lr: 2.0e-3}",
]


def _weights(export: Path) -> dict[str, torch.Tensor]:
    return {
        f"{f.relative_to(export)}:{k}": v
        for f in sorted(export.rglob("*.safetensors"))
        for k, v in load_file(str(f)).items()
    }


def _kill_after_checkpoint(recipe: Path, overrides: list[str], out: Path, tmp: Path) -> int:
    """Run ``rdpflex train`` in a subprocess and SIGKILL it once a checkpoint of step >= 2 is published."""
    cmd = [sys.executable, "-m", "rdpflex.cli", "train", str(recipe), "--output", str(out)]
    for o in overrides:
        cmd += ["--set", o]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp, start_new_session=True
    )
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            latest = latest_checkpoint(out)
            if latest and latest[0] >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    step = latest_checkpoint(out)[0]
    assert 2 <= step < STEPS and not (out / "system").exists()
    return step


@pytest.mark.parametrize("stage", ["codec", "decoder"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(stage, tmp_path, tiny_system_dir):
    recipe, overrides = (
        (TINY, COMMON) if stage == "codec" else (DECODER, COMMON + DECODER_TINY + [f"decoder.system={tiny_system_dir}"])
    )
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    step = _kill_after_checkpoint(recipe, overrides, killed, tmp_path)
    resumed = train(recipe, overrides, output=killed, resume=True)
    reference = train(recipe, overrides, output=straight)
    wa, wb = _weights(resumed), _weights(reference)
    assert wa and wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), f"{stage}: killed at step {step}, resumed weights differ"
    assert not any(p.name.startswith((".tmp-", ".trash-")) for p in (killed / "checkpoints").iterdir())


def test_a_failed_save_leaves_the_previous_checkpoint_complete(tmp_path, monkeypatch):
    from accelerate import Accelerator

    out = tmp_path / "run"
    train(TINY, COMMON + ["train.stop_at=2"], output=out)
    real = Accelerator.save_state

    def dies_midway(self, output_dir=None, **kw):  # half of the files, then the "crash"
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "model.safetensors").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Accelerator, "save_state", dies_midway)
    with pytest.raises(OSError):
        train(TINY, COMMON + ["train.stop_at=4"], output=out, resume=True)
    assert [s for s, _ in checkpoint_dirs(out)] == [2]  # the half-written step 4 is invisible
    monkeypatch.setattr(Accelerator, "save_state", real)
    train(TINY, COMMON + ["train.stop_at=4"], output=out, resume=True)  # and the next run cleans it up
    assert [s for s, _ in checkpoint_dirs(out)] == [2, 4]
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_with_a_code_carrying_pickle_is_refused(tmp_path):
    out = tmp_path / "run"
    train(TINY, COMMON + ["train.stop_at=2"], output=out)
    marker = tmp_path / "pwned"
    ckpt = latest_checkpoint(out)[1]
    (ckpt / "optimizer.bin").write_bytes(pickle.dumps({"state": _Payload(marker)}, protocol=2))
    with pytest.raises(
        RdpflexError,
        match=r"optimizer\.bin is refused: it holds more than tensors and numbers \(global "
        r"posix\.system\).*weights_only=True",
    ):
        train(TINY, COMMON, output=out, resume=True)
    assert not marker.exists()


def test_an_incompatible_recipe_change_is_refused_naming_it(tmp_path):
    out = tmp_path / "run"
    train(TINY, COMMON + ["train.stop_at=2"], output=out)
    with pytest.raises(
        RdpflexError,
        match=r"recipe changed incompatibly \(optim\.lr: 0\.001 -> 0\.002; seed: 0 -> 1\); only .*train\.steps",
    ):
        train(TINY, COMMON + ["optim.lr=0.002", "seed=1"], output=out, resume=True)
    train(TINY, COMMON + ["train.stop_at=4", "log.every=1", "checkpoint.keep=3"], output=out, resume=True)  # allowed
    assert [s for s, _ in checkpoint_dirs(out)] == [2, 4]
