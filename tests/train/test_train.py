"""The engine: a tiny run exports a loadable system, resume is bit-identical, 2-process torchrun, plugin stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rdpflex.errors import RdpflexError
from rdpflex.train import load_recipe, train
from rdpflex.train.checkpoints import checkpoint_dirs
from rdpflex.train.recipe import apply_overrides, validate_recipe
from rdpflex.train.trainer import lambda_scale, lr_scale
from tests.conftest import run_two_processes

from .conftest import TINY

ROOT = Path(__file__).resolve().parents[2]
QUIET = ["log.tensorboard=false"]


def weights(system: Path) -> dict[str, torch.Tensor]:
    return load_file(str(system / "codec" / "model.safetensors"))


def test_schedule():
    r = load_recipe(TINY, ["train.steps=100", "schedule.warmup_steps=4"]).recipe
    assert [lambda_scale(r, s) for s in (0, 14, 15, 99)] == [10, 10, 1, 1]
    assert [lr_scale(r, s) for s in (0, 3, 50, 84, 85, 99)] == [0.25, 1, 1, 1, 0.1, 0.1]


def test_tiny_run_exports_a_loadable_system(tmp_path):
    from rdpflex.system import System

    out = tmp_path / "run"
    path = train(TINY, ["validation.at_start=true"], output=out)
    assert path == out / "system"
    system = System.load(path)
    assert system.codec.arch == "msh" and system.info["trained_with"]["steps"] == 6
    x = torch.rand(1, 3, 40, 72)
    xp = system.codec.pad(x)
    enc = system.codec.compress(xp)
    y_hat = system.codec.decompress_latent([s[0] for s in enc["strings"]], tuple(xp.shape[-2:]))
    assert torch.equal(y_hat, enc["y_hat"])
    # what the run leaves behind
    assert [s for s, _ in checkpoint_dirs(out)] == [4, 6]  # keep: 2
    assert list((out / "logs").rglob("events.out.tfevents.*"))
    assert "# resolved from" in (out / "recipe.yaml").read_text()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 6] and {"bpp", "psnr", "bpp_est", "psnr_est"} <= set(rows[-1])
    # the same output again without --resume is refused
    with pytest.raises(RdpflexError, match="already holds checkpoints.*--resume"):
        train(TINY, output=out)


def test_resume_is_bit_identical(tmp_path):
    a, b = tmp_path / "interrupted", tmp_path / "straight"
    assert train(TINY, QUIET + ["train.stop_at=4"], output=a) is None  # stops after the step-4 checkpoint
    assert not (a / "system").exists() and [s for s, _ in checkpoint_dirs(a)] == [2, 4]
    train(TINY, QUIET, output=a, resume=True)
    train(TINY, QUIET, output=b)
    wa, wb = weights(a / "system"), weights(b / "system")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_without_checkpoint_starts_fresh_and_mismatch_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    train(TINY, QUIET + ["train.stop_at=2"], output=out, resume=True)
    assert "no checkpoint" in capsys.readouterr().out
    with pytest.raises(RdpflexError, match="cannot resume"):
        train(TINY, QUIET + ["codec.config.N=16"], output=out, resume=True)


def test_elic_bf16_grad_accum_then_init_from_the_export(tmp_path):
    from rdpflex.system import System

    elic = "codec.config={N: 16, M: 20, slices: 10, blocks: 1, hidden: 16}"
    path = train(
        TINY,
        QUIET + ["train.steps=2", "train.grad_accum=2", "train.mixed_precision=bf16", "codec.arch=elic", elic],
        output=tmp_path / "bf16",
    )
    first = System.load(path)
    assert first.codec.arch == "elic" and first.codec.num_streams == 11
    again = train(
        TINY, QUIET + ["train.steps=1", f"codec={{init: {path}}}", "validation.every=null"], output=tmp_path / "init"
    )
    second = System.load(again)
    assert second.codec.config == first.codec.config and second.fingerprint != first.fingerprint


def test_plugin_stage_trains_alternating_optimisers(plugin_stage, tmp_path, tiny_raw):
    raw = {k: v for k, v in tiny_raw.items() if k != "codec"} | {"stage": "toygan", "toygan": {"width": 4}}
    raw = apply_overrides(raw, ["train.steps=4", "train.stop_at=2", "log.tensorboard=false", "validation.every=1"])
    out = tmp_path / "gan"
    assert train(validate_recipe(raw), output=out) is None
    raw["train"]["stop_at"] = None
    path = train(validate_recipe(raw), output=out, resume=True)
    assert path == out / "toygan" and (path / "model.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert any(p.name.startswith("custom_checkpoint") for p in (out / "checkpoints").rglob("*"))  # the EMA


def test_two_process_torchrun(tmp_path):
    out = tmp_path / "ddp"
    proc = run_two_processes([str(TINY), "--output", str(out), "--set", "log.tensorboard=false"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 process(es) on cpu, global batch 4" in proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).count("exported ") == 1
    assert sorted(p.parent.name for p in out.rglob("system.json")) == ["system"]
    state = json.loads((checkpoint_dirs(out)[-1][1] / "trainer_state.json").read_text())
    assert state["num_processes"] == 2 and state["step"] == 6
    assert len(list(checkpoint_dirs(out)[-1][1].glob("random_states_*.pkl"))) == 2
    from rdpflex.system import System

    System.load(out / "system")
