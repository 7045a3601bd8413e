"""``mse``: the codec's own synthesis transform g_s — the minimal-distortion reconstruction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from pydantic import BaseModel
from torch import Tensor

from rdpflex.codecs import Codec
from rdpflex.decoders import DecoderBase, NoOptions
from rdpflex.hookspecs import hookimpl
from rdpflex.latent import Latent
from rdpflex.tiling import synthesize


class MSEDecoder(DecoderBase):
    """x_hat = clamp(g_s(y_hat), 0, 1); no options, no weights of its own, deterministic, tileable."""

    name: ClassVar[str] = "mse"
    description: ClassVar[str] = "the codec's own synthesis g_s (minimal distortion, deterministic)"
    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_weights: ClassVar[bool] = False
    supports_tiling: ClassVar[bool] = True

    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        return synthesize(codec.synthesize, latent.y_hat, codec.latent_stride).clamp(0, 1)  # tiled on large images

    def decode_batch(self, latents: Sequence[Latent], codec: Codec, options: BaseModel,
                     generators: Sequence[torch.Generator]) -> Tensor:
        return codec.synthesize(torch.cat([lat.y_hat for lat in latents])).clamp(0, 1)


@hookimpl
def register_decoders(register):
    register(MSEDecoder)
