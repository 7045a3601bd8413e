"""HF Accelerate set-up shared by training (:mod:`rdpflex.train.trainer`) and ``compare``.

One place decides how an :class:`accelerate.Accelerator` is made: mixed precision checked, a
``torchrun``/``accelerate launch`` job without a GPU run on the CPU (Accelerate runs several CPU
processes only with ``cpu=True``), a single process allowed to replace an Accelerator built earlier
with other settings (tests, notebooks), and any refusal turned into one :class:`RdpflexError` line.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState, PartialState

from rdpflex.errors import RdpflexError

MIXED_PRECISION = ("no", "bf16", "fp16")


def launched() -> bool:
    """True inside a ``torchrun`` / ``accelerate launch`` job (even one of a single process)."""
    return int(os.environ.get("LOCAL_RANK", -1)) != -1 or int(os.environ.get("WORLD_SIZE", 1) or 1) > 1


def launch_command(processes: int = 1) -> list[str]:
    """The command that runs ``python -m rdpflex.train.launch`` in ``processes`` local processes, under
    ``torchrun --standalone --nproc_per_node N`` when N > 1. Append the recipe and its options."""
    module = ["-m", "rdpflex.train.launch"]
    if processes == 1:
        return [sys.executable, *module]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *module]


def make_accelerator(mixed_precision: str = "no", cpu: bool = False, settings: str = "", **kwargs: Any) -> Accelerator:
    """An :class:`accelerate.Accelerator` (GPU when present unless ``cpu``); ``kwargs`` go to it unchanged.

    :param settings: how the caller names these settings in an error (``"train.device=cpu"``);
        default: ``mixed_precision=..., cpu=...``.
    """
    settings = settings or f"mixed_precision={mixed_precision}, cpu={cpu}"
    if mixed_precision not in MIXED_PRECISION:
        raise RdpflexError(
            f"mixed precision {mixed_precision!r} is not supported; allowed: {', '.join(MIXED_PRECISION)}"
        )
    if launched() and not cpu and not torch.cuda.is_available():
        cpu = True
    try:
        return Accelerator(mixed_precision=mixed_precision, cpu=cpu, **kwargs)
    except (ValueError, RuntimeError, NotImplementedError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if "already been initialized" in msg and PartialState().num_processes == 1:
            reset_accelerator_state()  # an Accelerator with other settings exists in this single process
            try:
                return Accelerator(mixed_precision=mixed_precision, cpu=cpu, **kwargs)
            except (ValueError, RuntimeError, NotImplementedError) as exc2:
                msg = str(exc2).splitlines()[0] if str(exc2) else exc2.__class__.__name__
        raise RdpflexError(f"cannot set up Accelerate ({settings}): {msg}") from None


def reset_accelerator_state(acc: Accelerator | None = None) -> None:
    """Let a later Accelerator in this (single) process take other settings; no-op in a multi-process job."""
    if acc is None or acc.num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
