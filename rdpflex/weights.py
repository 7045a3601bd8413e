"""Safetensors-only weight files (never unpickle a file a user was handed) + JSON configs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from rdpflex.errors import RdpflexError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def state_to_cpu(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_weights(directory: Path, state: dict[str, Tensor], config: dict[str, Any]) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(state_to_cpu(state), str(directory / WEIGHTS))
    write_json(directory / CONFIG, config)


#: files that are (or usually are) pickles: refused in system folders, never opened
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt")


def refuse_pickles(directory: Path) -> None:
    """One-line error if a weights folder holds a pickle file: rdpflex reads safetensors only, and says so."""
    found = sorted(p.name for p in Path(directory).rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES and p.is_file())
    if found:
        raise RdpflexError(f"{directory} holds pickle file(s) {', '.join(found)}: rdpflex loads safetensors only "
                           "(a pickle can run code); remove them or convert them with safetensors.torch.save_file")


def load_weights(directory: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    directory = Path(directory)
    refuse_pickles(directory)
    for f in (WEIGHTS, CONFIG):
        if not (directory / f).is_file():
            raise RdpflexError(f"{directory} is incomplete: {f} is missing")
    try:
        state = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise RdpflexError(f"{directory / WEIGHTS} is not a valid safetensors file: {exc}") from exc
    return state, read_json(directory / CONFIG)


def load_error(exc: BaseException) -> str:
    """The informative line of a ``load_state_dict`` error (``size mismatch for g_a.0.weight: ...``)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("Error(s) in loading")]
    return lines[0] if lines else exc.__class__.__name__


def write_json(path: Path, obj: Any) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RdpflexError(f"cannot read {path}: {exc}") from exc


def fingerprint(config: dict[str, Any], state: dict[str, Tensor]) -> str:
    """sha256 over the canonical JSON config and every tensor (name, dtype, shape, bytes), by name."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
