"""Component folders: a decoder stored as several parts in diffusers' ``save_pretrained`` layout, safetensors only.

::

    SYSTEM/decoders/<name>/
      config.json                        the family's own config (+ codec_fingerprint, added by the System)
      unet/config.json                   a diffusers model (``ModelMixin.save_pretrained``)
      unet/diffusion_pytorch_model.safetensors
      adapter/...                        any other ModelMixin + ConfigMixin part, same layout
      scheduler/scheduler_config.json    a diffusers scheduler config (JSON only)

Loading always passes ``use_safetensors=True``, and a folder that holds a pickle (``*.bin``, ``*.pkl``,
``*.pt`` ...) is refused with one line naming the file, never opened: the one rule of
:func:`rdpflex.weights.refuse_pickles` for every weights folder (docs/reliability.md section 5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from rdpflex.errors import RdpflexError
from rdpflex.weights import read_json, refuse_pickles

SAFETENSORS_SUFFIX = ".safetensors"
SCHEDULER_CONFIG = "scheduler_config.json"

T = TypeVar("T")


def save_component(module: Any, folder: Path, name: str) -> Path:
    """``module.save_pretrained(folder / name)`` with safetensors (a diffusers ``ModelMixin``)."""
    path = Path(folder) / name
    module.save_pretrained(str(path), safe_serialization=True)
    return path


def load_component(cls: type[T], folder: Path, name: str, **kwargs: Any) -> T:
    """``cls.from_pretrained(folder / name, use_safetensors=True)``; one-line errors; refuses a folder with a pickle."""
    path = Path(folder) / name
    if not (path / "config.json").is_file():
        raise RdpflexError(f"{path} is incomplete: config.json is missing (component {name!r})")
    refuse_pickles(path)
    if not any(p.suffix == SAFETENSORS_SUFFIX for p in path.iterdir()):
        raise RdpflexError(f"{path} has no .safetensors weights (component {name!r}); rdpflex loads safetensors only")
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
