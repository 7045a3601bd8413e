"""Component folders: a decoder stored as several parts in diffusers' ``save_pretrained`` layout, safetensors only.

::

    SYSTEM/decoders/<name>/
      config.json                        the family's own config (+ codec_fingerprint, added by the System)
      unet/config.json                   a diffusers model (``ModelMixin.save_pretrained``)
      unet/diffusion_pytorch_model.safetensors
      adapter/...                        any other ModelMixin + ConfigMixin part, same layout
      scheduler/scheduler_config.json    a diffusers scheduler config (JSON only)

Loading always passes ``use_safetensors=True``: a ``*.bin`` / ``*.pkl`` / ``*.pt`` file placed in
the folder is never read (it is reported, and a component that has only a pickle is refused).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TypeVar

from rdpflex.errors import RdpflexError
from rdpflex.weights import read_json

#: files that torch or pickle would unpickle; rdpflex never opens them
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt")
SAFETENSORS_SUFFIX = ".safetensors"
SCHEDULER_CONFIG = "scheduler_config.json"

T = TypeVar("T")


def pickle_files(folder: Path) -> list[Path]:
    """Every pickle-format file below ``folder`` (what :func:`load_component` will not touch)."""
    folder = Path(folder)
    return (
        sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES)
        if folder.is_dir()
        else []
    )


def warn_pickles(folder: Path) -> None:
    """One note on stderr per pickle file found in a decoder folder (they are ignored)."""
    for p in pickle_files(folder):
        print(f"note: ignoring {p}: rdpflex loads safetensors only and never unpickles", file=sys.stderr)


def save_component(module: Any, folder: Path, name: str) -> Path:
    """``module.save_pretrained(folder / name)`` with safetensors (a diffusers ``ModelMixin``)."""
    path = Path(folder) / name
    module.save_pretrained(str(path), safe_serialization=True)
    return path


def load_component(cls: type[T], folder: Path, name: str, **kwargs: Any) -> T:
    """``cls.from_pretrained(folder / name, use_safetensors=True)``; one-line errors, never a pickle."""
    path = Path(folder) / name
    if not (path / "config.json").is_file():
        raise RdpflexError(f"{path} is incomplete: config.json is missing (component {name!r})")
    if not any(p.suffix == SAFETENSORS_SUFFIX for p in path.iterdir()):
        found = ", ".join(p.name for p in pickle_files(path)) or "nothing"
        raise RdpflexError(
            f"{path} has no .safetensors weights (found: {found}); rdpflex loads safetensors only, never a pickle"
        )
    try:
        return cls.from_pretrained(str(path), use_safetensors=True, **kwargs)  # type: ignore[attr-defined]
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise RdpflexError(f"cannot load component {name!r} from {path}: {str(exc).splitlines()[0]}") from None


def save_scheduler(scheduler: Any, folder: Path, name: str = "scheduler") -> Path:
    path = Path(folder) / name
    scheduler.save_pretrained(str(path))
    return path


def load_scheduler_config(folder: Path, name: str = "scheduler") -> dict[str, Any]:
    """The JSON config of a saved diffusers scheduler (``SchedulerClass.from_config`` takes it)."""
    path = Path(folder) / name / SCHEDULER_CONFIG
    if not path.is_file():
        raise RdpflexError(f"{path.parent} is incomplete: {SCHEDULER_CONFIG} is missing")
    return dict(read_json(path))
