"""The codec's differentiable path, for decoders that need gradients at decode time (guidance).

::

    candidate x ─pad─► g_a ─► y ─Q_STE─► ŷ(x) ─► g_s ─► x̂(x)
                                  ▲
          file: z stream ─► z_hat ─► h_s ─► μ (Gaussian means; Charm: also from the file's earlier slices)

    Q_STE(y) = y + sg(round(y − μ) + μ + r − y)          (straight-through estimator: gradient 1)

μ — and r, Charm's latent residual prediction offsets — are computed once from the side
information **transmitted in the file** (z, and the file's own ŷ for channel or spatial context),
never re-derived from the candidate image, so re-encoding a candidate quantises onto the same grid
the entropy decoder used. Idempotence guidance (Xu et al. 2024, "Idempotence and Perceptual Image
Compression", arXiv 2401.08920, Sec. 4) compares ŷ(x) with the file's ŷ, or x̂(x) with the MSE
reconstruction.

Supported entropy models: compressai's ``HyperpriorLatentCodec`` with a
``GaussianConditionalLatentCodec`` (``msh``, ``mbt2018-mean``, ``bmshj2018-hyperprior``), a
``RasterScanLatentCodec`` (``cheng2020-anchor``) or rdpflex's Charm slices (``elic``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from compressai.latent_codecs import GaussianConditionalLatentCodec, HyperpriorLatentCodec, RasterScanLatentCodec
from torch import Tensor

from rdpflex.codecs.charm import ChannelSlicesLatentCodec
from rdpflex.codecs.entropy_coder import FLOAT_NETWORKS, EntropyCoder, ParameterNetworks
from rdpflex.codecs.exact import EXACT_NETWORKS
from rdpflex.errors import RdpflexError
from rdpflex.latent import Latent


@dataclass
class QuantizationGrid:
    """Per-element centres of the file's quantisation: ŷ = round(y − means) + means + refine."""

    means: Tensor
    refine: Tensor

    def quantize_ste(self, y: Tensor) -> Tensor:
        """Q_STE(y): rounded onto the file's grid in the forward pass, identity gradient in the backward pass."""
        q = torch.round(y - self.means) + self.means + self.refine
        return y + (q - y).detach()


def _gaussian_means(
    codec: GaussianConditionalLatentCodec, ctx: Tensor, like: Tensor, nets: ParameterNetworks
) -> Tensor:
    _, means = codec._chunk(nets(codec.entropy_parameters, ctx))
    return means if means is not None else torch.zeros_like(like)


def _charm_grid(lc: ChannelSlicesLatentCodec, side: Tensor, y_hat: Tensor, nets: ParameterNetworks) -> QuantizationGrid:
    means, refine = [], []
    done: list[Tensor] = []
    for k, y_k in enumerate(y_hat.split(lc.slice_ch, dim=1)):
        mu = _gaussian_means(lc._slice(k), torch.cat([side, *done], dim=1), y_k, nets)
        pre = torch.round(y_k - mu) + mu  # |LRP offset| < 0.5, so rounding recovers the pre-refinement value
        means.append(mu)
        refine.append(y_k - pre)
        done.append(y_k)
    return QuantizationGrid(torch.cat(means, dim=1), torch.cat(refine, dim=1))


@torch.no_grad()
def quantization_grid(codec: Any, latent: Latent) -> QuantizationGrid:
    """The file's quantisation grid of one latent, from its side-information stream (``latent.streams``)."""
    lc = codec.latent_codec
    if not latent.streams:
        raise RdpflexError(
            f"latent {latent.stem!r} carries no streams: decode it from a file (rdpflex.pipeline.latents)"
        )
    if not isinstance(lc, HyperpriorLatentCodec):
        raise RdpflexError(f"codec {codec.arch!r}: no differentiable path for entropy model {type(lc).__name__}")
    shape = codec.decompress_shape(tuple(latent.padded_size))
    nets = EXACT_NETWORKS if latent.exact else FLOAT_NETWORKS  # the same means the entropy decoder used
    y_lc = lc.latent_codec["y"]
    if isinstance(y_lc, (GaussianConditionalLatentCodec, ChannelSlicesLatentCodec, RasterScanLatentCodec)):
        side = EntropyCoder(lc, nets).side_parameters([latent.streams[-1]], shape["hyper"])
        y_hat = latent.y_hat.to(side.device, side.dtype)
        if isinstance(y_lc, GaussianConditionalLatentCodec):
            return QuantizationGrid(_gaussian_means(y_lc, side, y_hat, nets), torch.zeros_like(y_hat))
        if isinstance(y_lc, ChannelSlicesLatentCodec):
            return _charm_grid(y_lc, side, y_hat, nets)
        params = nets(y_lc.entropy_parameters, y_lc.merge(side, nets(y_lc.context_prediction, y_hat)))
        return QuantizationGrid(params.chunk(2, 1)[1], torch.zeros_like(y_hat))
    raise RdpflexError(f"codec {codec.arch!r}: no differentiable path for latent codec {type(y_lc).__name__}")


class DifferentiableCodec:
    """g_a, Q_STE on the file's grid and g_s for one latent; every step keeps the autograd graph.

    ``reencode(x)`` is A(x) = g_s(Q_STE(g_a(x))) of idempotence guidance; ``x`` is (B, 3, Hp, Wp)
    at the latent's padded size (B candidates of the same image share the grid).
    """

    def __init__(self, codec: Any, latent: Latent) -> None:
        self.codec = codec
        self.latent = latent
        self.grid = quantization_grid(codec, latent)

    def analysis(self, x: Tensor) -> Tensor:
        return self.codec.g_a(x)

    def quantize(self, y: Tensor) -> Tensor:
        return self.grid.quantize_ste(y)

    def synthesis(self, y_hat: Tensor) -> Tensor:
        return self.codec.g_s(y_hat)

    def latent_of(self, x: Tensor) -> Tensor:
        """ŷ(x) = Q_STE(g_a(x)) (compare with ``latent.y_hat``)."""
        return self.quantize(self.analysis(x))

    def reencode(self, x: Tensor) -> Tensor:
        return self.synthesis(self.latent_of(x))
