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


def load_weights(directory: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    directory = Path(directory)
    for f in (WEIGHTS, CONFIG):
        if not (directory / f).is_file():
            raise RdpflexError(f"{directory} is incomplete: {f} is missing")
    try:
        state = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise RdpflexError(f"{directory / WEIGHTS} is not a valid safetensors file: {exc}") from exc
    return state, read_json(directory / CONFIG)


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
