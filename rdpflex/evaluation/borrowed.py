"""Borrowing a caller's :class:`~rdpflex.system.System`: use it in eval mode on any device, hand it back as it was.

The library never changes the device, dtype or train/eval mode of an object the caller handed in.
:func:`borrowed` records them for the codec and every decoder already loaded, puts them in eval mode for
the call, and restores all three on exit, after an error too. Decoders loaded during the call stay
loaded, on the codec's device, as :meth:`~rdpflex.system.System.decoder` would have loaded them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rdpflex.system import System


@dataclass
class _Placement:
    """Where one module's tensors live, their floating dtype, and the train/eval flag of each sub-module."""

    module: nn.Module
    device: torch.device | None
    dtype: torch.dtype | None  # None when its floating tensors do not share one dtype (then left as they are)
    modes: list[tuple[nn.Module, bool]]

    @classmethod
    def of(cls, module: nn.Module) -> _Placement:
        tensors = [*module.parameters(), *module.buffers()]
        dtypes = {t.dtype for t in tensors if t.is_floating_point()}
        return cls(
            module,
            tensors[0].device if tensors else None,
            dtypes.pop() if len(dtypes) == 1 else None,
            [(m, m.training) for m in module.modules()],
        )

    def restore(self) -> None:
        if self.device is not None:
            self.module.to(self.device)
        if self.dtype is not None:
            self.module.to(self.dtype)
        for m, training in self.modes:
            m.training = training  # what Module.train() sets, per module (no recursion: each keeps its own)


def modules_of(system: System) -> list[nn.Module]:
    """The codec and the torch modules of every decoder the System has loaded (a decoder that is no
    ``nn.Module`` itself contributes the modules it holds, e.g. ``idempotence``'s prior UNet)."""
    found: list[nn.Module] = [system.codec]
    for dec in vars(system).get("_decoders", {}).values():  # the loaded decoders (System keeps them there)
        found += [dec] if isinstance(dec, nn.Module) else [v for v in vars(dec).values() if isinstance(v, nn.Module)]
    return found


@contextmanager
def borrowed(system: Any) -> Iterator[None]:
    """Run the body with ``system`` (a System; anything else passes through) in eval mode, then restore the
    device, dtype and modes the caller left it in."""
    if not isinstance(system, System):
        yield
        return
    placements = [_Placement.of(m) for m in modules_of(system)]
    for p in placements:
        p.module.eval()
    try:
        yield
    finally:
        if placements[0].device is not None:
            system.to(placements[0].device)  # decoders loaded meanwhile follow the codec
        for p in placements:
            p.restore()
