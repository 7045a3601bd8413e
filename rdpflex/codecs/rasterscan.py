"""Raster-scan (autoregressive context) latent codec whose context model the exact path can evaluate.

compressai's ``RasterScanLatentCodec`` convolves the causal context with ``F.conv2d`` on the
masked weight directly, outside the ``context_prediction`` module, so the float result depends on
the machine. This subclass codes exactly the same symbols with the same rANS calls (byte-identical
to compressai on the float path, tested) but computes the context through one function that the
exact entropy path (:mod:`rdpflex.codecs.exact`) replaces with order-independent arithmetic.
Context model: Minnen, Ballé, Toderici, "Joint Autoregressive and Hierarchical Priors for Learned
Image Compression", NeurIPS 2018, arXiv:1809.02736, Sec. 3.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.latent_codecs import RasterScanLatentCodec
from torch import Tensor, nn

from rdpflex.codecs.exact import ExactModule, exact_valid_conv

__all__ = ["ExactCapableRasterScan"]


class ExactCapableRasterScan(RasterScanLatentCodec):
    """``RasterScanLatentCodec`` (same parameters, same strings) usable on the exact entropy path."""

    supports_exact = True

    def _context(self, y_crop: Tensor) -> Tensor:
        """The context features at the centre of a (kernel x kernel) crop, shape (1, C', 1, 1)."""
        cp = self.context_prediction
        if isinstance(cp, ExactModule):
            return exact_valid_conv(cast(nn.Conv2d, cp.inner), y_crop)
        return F.conv2d(y_crop, cp.weight * cast(Tensor, cp.mask), cp.bias)  # compressai's own arithmetic

    def _params(self, params: Tensor, y_crop: Tensor, h: int, w: int) -> tuple[Tensor, Tensor]:
        p = params[:, :, h : h + 1, w : w + 1]
        gaussian = self.entropy_parameters(self.merge(p, self._context(y_crop))).squeeze(3).squeeze(2)
        scales, means = gaussian.chunk(2, 1)
        return scales, means

    def compress(self, y: Tensor, ctx_params: Tensor) -> dict[str, Any]:
        gc, k, pad = self.gaussian_conditional, self.kernel_size, self.padding
        cdf, lengths, offsets = gc.quantized_cdf.tolist(), gc.cdf_length.tolist(), gc.offset.tolist()
        strings, y_hats = [], []
        for i in range(y.shape[0]):
            y_hat = F.pad(y[i : i + 1], (pad, pad, pad, pad))
            symbols_list: list[int] = []
            indexes_list: list[int] = []
            for h in range(y.shape[2]):
                for w in range(y.shape[3]):
                    y_crop = y_hat[:, :, h : h + k, w : w + k]
                    scales, means = self._params(ctx_params[i : i + 1], y_crop, h, w)
                    indexes = gc.build_indexes(scales)
                    symbols = gc.quantize(y_crop[:, :, pad, pad], "symbols", means)
                    y_hat[:, :, h + pad, w + pad] = symbols + means
                    symbols_list.extend(symbols.squeeze().tolist())
                    indexes_list.extend(indexes.squeeze().tolist())
            encoder = BufferedRansEncoder()
            encoder.encode_with_indexes(symbols_list, indexes_list, cdf, lengths, offsets)
            strings.append(encoder.flush())
            y_hats.append(y_hat[:, :, pad : pad + y.shape[2], pad : pad + y.shape[3]])
        return {"strings": [strings], "shape": y.shape[2:4], "y_hat": torch.cat(y_hats)}

    def decompress(
        self, strings: list[list[bytes]], shape: tuple[int, int], ctx_params: Tensor, **kwargs: Any
    ) -> dict[str, Any]:
        (y_strings,) = strings
        gc, k, pad = self.gaussian_conditional, self.kernel_size, self.padding
        cdf, lengths, offsets = gc.quantized_cdf.tolist(), gc.cdf_length.tolist(), gc.offset.tolist()
        height, width = shape
        cp = self.context_prediction
        c = cast(nn.Conv2d, cp.inner if isinstance(cp, ExactModule) else cp).in_channels
        y_hats = []
        for i, s in enumerate(y_strings):
            decoder = RansDecoder()
            decoder.set_stream(s)
            y_hat = torch.zeros((1, c, height + 2 * pad, width + 2 * pad), device=ctx_params.device)
            for h in range(height):
                for w in range(width):
                    y_crop = y_hat[:, :, h : h + k, w : w + k]
                    scales, means = self._params(ctx_params[i : i + 1], y_crop, h, w)
                    indexes = gc.build_indexes(scales)
                    symbols = decoder.decode_stream(indexes.squeeze().tolist(), cdf, lengths, offsets)
                    y_hat[:, :, h + pad, w + pad] = gc.dequantize(
                        torch.tensor(symbols, dtype=torch.float32).reshape(1, -1), means
                    )
            y_hats.append(y_hat[:, :, pad : pad + height, pad : pad + width])
        return {"y_hat": torch.cat(y_hats)}
