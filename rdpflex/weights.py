"""Safetensors-only weight files (never unpickle a file a user was handed) + JSON configs.

A decoder folder ``SYSTEM/decoders/<name>/`` written with :func:`save_weights`::

    config.json          JSON object; rdpflex itself reads only ``codec_fingerprint`` (added by
                         ``System.add_decoder``/``System.save`` for a family with ``trained_on_codec``;
                         never write it yourself). Everything else is the family's own: by convention
                         ``family`` (the decoder's name) and ``format_version`` (an int you bump when the
                         layout changes, so an old plugin refuses a newer folder) plus the constructor
                         arguments ``from_pretrained`` needs to rebuild the network.
    model.safetensors    the state dict (tensors only)

Component folders (several networks, diffusers layout) use :mod:`rdpflex.components` instead.
"""

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
    """Detached, contiguous CPU copies of every tensor (what safetensors writes)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_weights(directory: Path, state: dict[str, Tensor], config: dict[str, Any]) -> None:
    """Write ``directory/model.safetensors`` and ``directory/config.json`` (the folder is created).

    :param directory: the folder, e.g. the ``path`` your ``save_pretrained(path)`` receives
    :param state: tensors by name, typically ``module.state_dict()`` (copied to CPU; any device, any dtype)
    :param config: a JSON-serialisable dict: what ``from_pretrained`` needs to rebuild the module
        (see the module docstring for the keys rdpflex reads)

    Example::

        def save_pretrained(self, path):
            save_weights(path, self.net.state_dict(), {"family": self.name, "format_version": 1, "hidden": 16})
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(state_to_cpu(state), str(directory / WEIGHTS))
    write_json(directory / CONFIG, config)


#: files that are (or usually are) pickles: refused in system folders, never opened
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt")


def refuse_pickles(directory: Path) -> None:
    """One-line error naming every pickle file in a weights folder (sub-folders included), never opened.

    The one rule for pickles: a system's codec folder, ``model.safetensors`` decoder folders
    (:func:`load_weights`) and component folders (:func:`rdpflex.components.load_component`, the ``cdiff`` and
    ``idempotence`` folders) all refuse them rather than ignore them, so a user who dropped
    ``pytorch_model.bin`` next to the weights learns that it is not used, and why."""
    directory = Path(directory)
    pickles = (p for p in directory.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES and p.is_file())
    found = sorted(str(p.relative_to(directory)) for p in pickles)
    if found:
        raise RdpflexError(
            f"{directory} holds pickle file(s) {', '.join(found)}: rdpflex loads safetensors only "
            "(a pickle can run code); remove them or convert them with safetensors.torch.save_file"
        )


def load_weights(directory: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read what :func:`save_weights` wrote: ``(state, config)``, tensors on CPU.

    :param directory: the folder (``from_pretrained(path, codec)`` receives it)
    :raises RdpflexError: one line when a file is missing, the safetensors file is invalid, or the folder
        holds a pickle (``.bin``, ``.pt``, ``.pkl`` ...: refused, never opened)

    Example::

        @classmethod
        def from_pretrained(cls, path, codec):
            state, config = load_weights(path)
            net = MyNet(hidden=config["hidden"])
            net.load_state_dict(state)
            return cls(net).to(next(codec.parameters()).device)
    """
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
    """``obj`` as indented, key-sorted JSON."""
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    """Parsed JSON; a one-line :class:`RdpflexError` when the file is missing or malformed."""
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
