"""Channel-wise autoregressive entropy model "Charm" (Minnen & Singh, ICIP 2020), as a compressai LatentCodec.

y is split into K equal channel slices. Slice k is coded with a Gaussian whose (scale, mean) come
from the hyperprior parameters and the already decoded slices 0..k-1; latent residual prediction
(LRP, 0.5 tanh) then refines each decoded slice from the same context::

    side ─┬─────────────────────────────────────────────┐
          ▼                                             ▼
    [side, ŷ_0..ŷ_{k-1}] ─param_k─► (σ_k, μ_k) ─GC─► ŷ_k ─+ 0.5 tanh(lrp_k([side, ŷ_0..ŷ_k]))─► ŷ_k

Multi-realism (Agustsson et al. 2023) uses K=10 equal slices. Each slice is one
``GaussianConditionalLatentCodec``; this class only orders them.

References:
    D. Minnen, S. Singh, "Channel-wise Autoregressive Entropy Models for Learned Image Compression",
    ICIP 2020, arXiv:2007.08739, Sec. 3 (slices, latent residual prediction).
    E. Agustsson, D. Minnen, G. Toderici, F. Mentzer, "Multi-Realism Image Compression with a
    Conditional Generator", CVPR 2023, arXiv:2212.13824, Sec. 4.1 (10 slices).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from compressai.latent_codecs import GaussianConditionalLatentCodec, LatentCodec
from compressai.models.utils import conv
from torch import Tensor, nn


def _param_net(in_ch: int, hidden: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        conv(in_ch, hidden, stride=1, kernel_size=3),
        nn.GELU(),
        conv(hidden, hidden // 2, stride=1, kernel_size=3),
        nn.GELU(),
        conv(hidden // 2, out_ch, stride=1, kernel_size=3),
    )


class ChannelSlicesLatentCodec(LatentCodec):
    """K equal slices, each conditioned on the side parameters and all previous slices (Charm)."""

    def __init__(self, M: int, side_channels: int, slices: int = 10, hidden: int = 224, lrp: bool = True) -> None:
        super().__init__()
        if M % slices:
            raise ValueError(f"M={M} is not divisible into {slices} equal slices")
        self.slices = slices
        self.slice_ch = M // slices
        c = self.slice_ch
        self.gc = nn.ModuleList(
            GaussianConditionalLatentCodec(
                quantizer="ste",
                chunks=("scales", "means"),
                entropy_parameters=_param_net(side_channels + k * c, hidden, 2 * c),
            )
            for k in range(slices)
        )
        # tanh is the last layer (no parameters: state-dict keys unchanged) so the exact entropy path covers it
        self.lrp = (
            nn.ModuleList(
                nn.Sequential(*_param_net(side_channels + (k + 1) * c, hidden, c), nn.Tanh()) for k in range(slices)
            )
            if lrp
            else None
        )

    def _refine(self, k: int, side: Tensor, done: list[Tensor], y_hat_k: Tensor) -> Tensor:
        if self.lrp is None:
            return y_hat_k
        return y_hat_k + 0.5 * self.lrp[k](torch.cat([side, *done, y_hat_k], dim=1))

    def forward(self, y: Tensor, side_params: Tensor) -> dict[str, Any]:
        done: list[Tensor] = []
        likelihoods = []
        for k, y_k in enumerate(y.split(self.slice_ch, dim=1)):
            out = self.gc[k](y_k, torch.cat([side_params, *done], dim=1))
            likelihoods.append(out["likelihoods"]["y"])
            done.append(self._refine(k, side_params, done, out["y_hat"]))
        return {"likelihoods": {"y": torch.cat(likelihoods, dim=1)}, "y_hat": torch.cat(done, dim=1)}

    def _slice(self, k: int) -> GaussianConditionalLatentCodec:
        return cast(GaussianConditionalLatentCodec, self.gc[k])

    def compress(self, y: Tensor, side_params: Tensor) -> dict[str, Any]:
        done: list[Tensor] = []
        strings = []
        for k, y_k in enumerate(y.split(self.slice_ch, dim=1)):
            out = self._slice(k).compress(y_k, torch.cat([side_params, *done], dim=1))
            strings.extend(out["strings"])
            done.append(self._refine(k, side_params, done, out["y_hat"]))
        return {"strings": strings, "shape": tuple(y.shape[2:4]), "y_hat": torch.cat(done, dim=1)}

    def decompress(
        self, strings: list[list[bytes]], shape: tuple[int, int], side_params: Tensor, **kwargs: Any
    ) -> dict[str, Any]:
        if len(strings) != self.slices:
            raise ValueError(f"expected {self.slices} slice streams, got {len(strings)}")
        done: list[Tensor] = []
        for k in range(self.slices):
            out = self._slice(k).decompress([strings[k]], tuple(shape), torch.cat([side_params, *done], dim=1))
            done.append(self._refine(k, side_params, done, out["y_hat"]))
        return {"y_hat": torch.cat(done, dim=1)}
