"""The decoded latent handed to every decoder plugin."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Latent:
    """One image's entropy-decoded latent and its geometry.

    ``y_hat`` is (1, C, h, w) for a padded image of ``padded_size``; decoders return images of
    ``padded_size`` and the pipeline crops them to ``image_size`` (the original H, W). ``streams`` are
    the image's entropy-coded strings as read from the file: the side information (z) that the
    differentiable codec path (:mod:`rdpflex.differentiable`) quantises with; ``exact`` says whether
    the file's entropy parameters come from the exact path (:mod:`rdpflex.codecs.exact`), so that
    path re-derives them identically.
    """

    y_hat: Tensor
    image_size: tuple[int, int]
    padded_size: tuple[int, int]
    stem: str = "image"
    streams: tuple[bytes, ...] = ()
    exact: bool = True

    def to(self, device: torch.device | str) -> "Latent":
        return Latent(self.y_hat.to(device), self.image_size, self.padded_size, self.stem, self.streams, self.exact)
