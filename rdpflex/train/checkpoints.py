"""Crash-safe, code-free checkpoints: atomic directories, ``weights_only`` loading, recipe checks on resume.

The engine calls :func:`save_checkpoint` every ``checkpoint.every`` steps and :func:`load_checkpoint`
on ``--resume``::

    checkpoints/.tmp-step-00000400/          save_state writes here, then trainer_state.json, fsync
        └─ os.replace ─► checkpoints/step-00000400/     (a latest checkpoint is complete or absent)
    old checkpoints: renamed to .trash-* first, then deleted (a kill mid-delete leaves no half checkpoint)

Accelerate stores optimiser, scheduler, RNG and custom (EMA) states with ``torch.save`` (pickle).
:func:`verify_pickles` opens every such file with ``torch.load(weights_only=True)`` — PyTorch's
restricted unpickler, which builds only tensors, containers, primitives and the allowlisted numpy
types of the RNG state (Accelerate's ``TORCH_SAFE_GLOBALS``) and never calls other code — and
:func:`forced_weights_only` makes Accelerate's own loads use it too (its ``load_custom_state``
asks for ``weights_only=False``). A checkpoint directory someone handed you cannot run code.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml

from rdpflex.errors import RdpflexError

if TYPE_CHECKING:
    from accelerate import Accelerator

    from rdpflex.train.recipe import LoadedRecipe

#: the engine's own state in every checkpoint (step, process count, stage, the resolved recipe)
TRAINER_STATE = "trainer_state.json"
#: checkpoint directories are ``checkpoints/step-00000400``
CKPT_PREFIX = "step-"

#: files Accelerate writes with torch.save
PICKLE_SUFFIXES = (".bin", ".pkl", ".pt", ".pth")

#: recipe keys (dotted prefixes) that may change on --resume: they do not change what the run computes
RESUMABLE_CHANGES = (
    "description",
    "output",
    "train.steps",
    "train.stop_at",
    "train.cpu_threads",
    "data.workers",
    "data.cache",
    "data.unreadable",
    "checkpoint.",
    "log.",
    "validation.",
)


def checkpoint_dirs(output: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run (those with ``trainer_state.json``), oldest first."""
    root = Path(output) / "checkpoints"
    found = []
    for d in root.glob(f"{CKPT_PREFIX}*") if root.is_dir() else []:
        if (d / TRAINER_STATE).is_file():
            try:
                found.append((int(json.loads((d / TRAINER_STATE).read_text())["step"]), d))
            except (ValueError, KeyError, json.JSONDecodeError):
                continue
    return sorted(found)


def latest_checkpoint(output: Path) -> tuple[int, Path] | None:
    dirs = checkpoint_dirs(output)
    return dirs[-1] if dirs else None


def save_checkpoint(acc: "Accelerator", output: Path, step: int, loaded: "LoadedRecipe") -> None:
    """Write the checkpoint of ``step`` into a temporary directory, then publish it with one rename (crash-safe);
    keep the newest ``checkpoint.keep``. Every process calls it."""
    recipe = loaded.recipe
    d = output / "checkpoints" / f"{CKPT_PREFIX}{step:08d}"
    tmp = temp_dir(d)
    if acc.is_main_process:
        clean_stale(d.parent)  # temporaries of a killed run
    acc.wait_for_everyone()
    acc.save_state(str(tmp))
    acc.wait_for_everyone()
    if acc.is_main_process:
        state = {
            "step": step,
            "total_steps": recipe.train.steps,
            "num_processes": acc.num_processes,
            "recipe_sha256": loaded.digest(),
            "stage": recipe.stage,
            "recipe": loaded.raw,
        }
        (tmp / TRAINER_STATE).write_text(json.dumps(state, indent=2, default=str) + "\n")
        publish(tmp, d)
        keep = recipe.checkpoint.keep
        if keep:
            for _, old in checkpoint_dirs(output)[:-keep]:
                discard(old)
    acc.wait_for_everyone()


def load_checkpoint(acc: "Accelerator", output: Path, found: tuple[int, Path], loaded: "LoadedRecipe") -> int:
    """Restore the checkpoint ``found`` (step, directory) into ``acc``'s prepared objects and return its step;
    refuses one of another process count or stage, of an incompatibly changed recipe, or holding more
    than tensors."""
    step, d = found
    state = json.loads((d / TRAINER_STATE).read_text())
    if state.get("num_processes") != acc.num_processes:
        raise RdpflexError(
            f"checkpoint {d} was written by {state.get('num_processes')} process(es); "
            f"resume it with the same number (this run has {acc.num_processes})"
        )
    if state.get("stage") != loaded.recipe.stage:
        raise RdpflexError(
            f"checkpoint {d} belongs to a {state.get('stage')!r} run, this recipe's stage is {loaded.recipe.stage!r}"
        )
    prev = output / "recipe.yaml"
    old = state.get("recipe") or (yaml.safe_load(prev.read_text()) or {} if prev.is_file() else None)
    if old is not None:
        changed = incompatible_changes(
            json.loads(json.dumps(old, default=str)), json.loads(json.dumps(loaded.raw, default=str))
        )
        if changed:
            resumable = ", ".join(p.rstrip(".") + (".*" if p.endswith(".") else "") for p in RESUMABLE_CHANGES)
            raise RdpflexError(
                f"cannot resume from {d}: the recipe changed incompatibly ({'; '.join(changed)}); "
                f"only {resumable} may change on --resume"
            )
    verify_pickles(d)  # every pickle opens with weights_only=True, or the resume is refused
    try:
        with forced_weights_only():
            acc.load_state(str(d))
    except (RuntimeError, KeyError, ValueError, FileNotFoundError) as exc:
        raise RdpflexError(
            f"cannot resume from {d}: {str(exc).splitlines()[0]} (did the recipe's model change?)"
        ) from exc
    acc.print(f"resumed from {d} (step {step})")
    return step


def _safe_globals() -> list[Any]:
    try:
        from accelerate.utils.other import TORCH_SAFE_GLOBALS

        return list(TORCH_SAFE_GLOBALS)
    except ImportError:  # pragma: no cover - accelerate is a dependency
        return []


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_dir(final: Path) -> Path:
    """The sibling of ``final`` every process writes into
    (:func:`checkpoint_dirs` never lists it)."""
    return final.with_name(f".tmp-{final.name}")


def publish(tmp: Path, final: Path) -> None:
    """Make the complete checkpoint in ``tmp`` appear as ``final`` in one rename (fsynced first)."""
    for f in tmp.rglob("*"):
        if f.is_file():
            _fsync(f)
    _fsync(tmp)
    if final.exists():  # the same step saved again: move the old one out of the way first
        discard(final)
    os.replace(tmp, final)
    _fsync(final.parent)


def discard(path: Path) -> None:
    """Delete a checkpoint directory: rename it out of sight first, so a kill never leaves half of one."""
    trash = path.with_name(f".trash-{path.name}-{secrets.token_hex(4)}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def clean_stale(root: Path) -> None:
    """Remove temporaries and trash left by a killed run."""
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(p, ignore_errors=True)


def verify_pickles(directory: Path) -> None:
    """Open every pickle of a checkpoint with ``weights_only=True``; refuse one that needs anything else."""
    globs = _safe_globals()
    for f in sorted(directory.rglob("*")):
        if f.suffix not in PICKLE_SUFFIXES or not f.is_file():
            continue
        try:
            with torch.serialization.safe_globals(globs):
                torch.load(f, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - UnpicklingError, EOFError, RuntimeError...: all mean "refuse"
            raise RdpflexError(
                f"cannot resume from {directory}: {f.name} is refused: {_why(exc)}; "
                "rdpflex loads checkpoint state with torch.load(weights_only=True) only"
            ) from None


def _why(exc: Exception) -> str:
    """The unpickler's reason in one line (``global posix.system``), else the first line of the message."""
    import re

    text = str(exc)
    m = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    if m:
        what = f"global {m.group(1)}" if m.re.pattern.startswith("GLOBAL") else m.group(1).strip()
        return f"it holds more than tensors and numbers ({what})"
    return (text.strip().splitlines() or [exc.__class__.__name__])[0]


@contextlib.contextmanager
def forced_weights_only() -> Iterator[None]:
    """Within the block every ``torch.load`` runs with ``weights_only=True`` (Accelerate's calls included)."""
    original = torch.load

    def load(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        return original(*args, **kwargs)

    torch.load = load
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            yield
    finally:
        torch.load = original


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out |= _flatten(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v}
    return out


def incompatible_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every recipe value that changed and is not in :data:`RESUMABLE_CHANGES`."""
    a, b = _flatten(old), _flatten(new)
    changed = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key) or any(
            key == p or (p.endswith(".") and key.startswith(p)) for p in RESUMABLE_CHANGES
        ):
            continue
        changed.append(f"{key}: {a.get(key, '(unset)')!r} -> {b.get(key, '(unset)')!r}")
    return changed
