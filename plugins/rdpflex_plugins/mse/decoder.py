"""``mse``: the codec's own synthesis transform g_s — the minimal-distortion reconstruction."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import BaseModel
from torch import Tensor

from rdpflex.codecs import Codec
from rdpflex.decoders import DecoderBase
from rdpflex.latent import Latent
from rdpflex.tiling import synthesize
from rdpflex_plugins.mse.hooks import DECODER


class MSEDecoder(DecoderBase, card=DECODER):
    """x_hat = clamp(g_s(y_hat), 0, 1); no options, no weights of its own, deterministic, tileable."""

    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        return synthesize(codec.synthesize, latent.y_hat, codec.latent_stride).clamp(0, 1)  # tiled on large images

    def decode_batch(
        self, latents: Sequence[Latent], codec: Codec, options: BaseModel, generators: Sequence[torch.Generator]
    ) -> Tensor:
        y_hat = torch.cat([lat.y_hat for lat in latents])
        return synthesize(codec.synthesize, y_hat, codec.latent_stride).clamp(0, 1)  # the path users run: tiled too
