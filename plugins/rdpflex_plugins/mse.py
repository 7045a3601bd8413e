"""``mse``: the codec's own synthesis transform g_s — the minimal-distortion reconstruction."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from pydantic import BaseModel
from torch import Tensor

from rdpflex.codecs import Codec
from rdpflex.decoders import NoOptions
from rdpflex.hookspecs import hookimpl
from rdpflex.latent import Latent
from rdpflex.tiling import synthesize


class MSEDecoder:
    """x_hat = clamp(g_s(y_hat), 0, 1); no options, no weights of its own."""

    name: ClassVar[str] = "mse"
    description: ClassVar[str] = "the codec's own synthesis g_s (minimal distortion, deterministic)"
    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_weights: ClassVar[bool] = False

    @classmethod
    def from_pretrained(cls, path: Path | None, codec: Codec) -> "MSEDecoder":
        return cls()

    def save_pretrained(self, path: Path) -> None:  # nothing to save: g_s belongs to the codec
        return None

    @torch.no_grad()
    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        return synthesize(codec.synthesize, latent.y_hat, codec.latent_stride).clamp(0, 1)  # tiled on large images


@hookimpl
def register_decoders(register):
    register(MSEDecoder)
