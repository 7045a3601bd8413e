"""A CRC32 of every scale-table index and entropy-coded symbol, in coding order.

The ``.rdp`` record CRC covers bytes; it cannot see a decoder that reads intact bytes with the
wrong CDFs (entropy parameters computed differently from the encoder's). This checksum covers what
the entropy decoder must reproduce: the CDF indices a Gaussian model derives from its predicted
scales (``GaussianConditional.build_indexes``) and the integer symbols, which the encoder records as
compressai quantises them (``EntropyModel.quantize(..., "symbols")``) and the decoder as they leave
the rANS decoder (``EntropyModel.dequantize``), for every entropy model of the codec (hyper-latent z
and every y stream, raster-scan context models included), in the order they are coded.
:class:`rdpflex.codecs.entropy_coder.EntropyCoder` feeds it as it codes.

Not covered: the Gaussian means. On the float path a mean that differs in its last bits shifts
y_hat by as much without garbling a symbol; on the exact path means are bit-identical by
construction (:mod:`rdpflex.codecs.exact`).
"""

from __future__ import annotations

import zlib

import torch
from torch import Tensor

__all__ = ["SymbolChecksum"]


class SymbolChecksum:
    """A running CRC32 over int32 little-endian indices and symbols, one per batch item.

    With ``items=1`` every update is one run of bytes (any shape). With ``items=n`` each update must
    carry the batch along dim 0 and item b's CRC runs over its own slice, so a batch of n images
    decoded in one call gives each image the CRC it would get alone.
    """

    def __init__(self, items: int = 1) -> None:
        self.values = [0] * items
        self.count = 0

    @property
    def value(self) -> int:
        """The CRC of the first (with ``items=1``: the only) item."""
        return self.values[0]

    def update(self, symbols: Tensor) -> None:
        data = symbols.detach().to(device="cpu", dtype=torch.int32).contiguous()
        arr = data.numpy().astype("<i4", copy=False)
        n = len(self.values)
        if n == 1:
            self.values[0] = zlib.crc32(arr.tobytes(), self.values[0])
        elif arr.ndim == 0 or arr.shape[0] != n:
            raise ValueError(f"symbols of shape {tuple(arr.shape)} do not carry a batch of {n} along dim 0")
        else:
            self.values = [zlib.crc32(arr[b].tobytes(), v) for b, v in enumerate(self.values)]
        self.count += arr.size
