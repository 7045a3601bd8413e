"""The entropy coder: compressai's latent codecs coded by composed parts, never patched.

An :class:`EntropyCoder` reads a codec's compressai latent codec (the entropy models, their CDF
tables and the networks that predict entropy parameters) and codes a latent with it, evaluating
those networks through a :class:`ParameterNetworks`: :data:`FLOAT_NETWORKS` (the modules' own
float forward: compressai's arithmetic, byte-identical strings) or
:data:`rdpflex.codecs.exact.EXACT_NETWORKS` (order-independent fixed point). It records the
symbol checksum (:mod:`rdpflex.codecs.checksum`) as it codes. Nothing of the codec, its
submodules or torch's global settings is changed, so one codec serves any number of threads at once.

Supported structure (every built-in codec and CompressAI import)::

    HyperpriorLatentCodec(hyper=HyperLatentCodec(EntropyBottleneck, h_a, h_s),
                          y=GaussianConditionalLatentCodec | ChannelSlicesLatentCodec | RasterScanLatentCodec)

The calls, symbols and CDF indices are those of compressai's ``compress``/``decompress`` (Ballé et
al. 2018; Minnen et al. 2018), in the same order. The encoder's ŷ is dequantised from the symbols it
coded instead of rANS-decoding its own strings (rANS is lossless, so the values are identical).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast
from weakref import WeakKeyDictionary

import torch
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder, RansDecoder, RansEncoder
from compressai.entropy_models import EntropyBottleneck, EntropyModel, GaussianConditional
from compressai.latent_codecs import (
    GaussianConditionalLatentCodec,
    HyperLatentCodec,
    HyperpriorLatentCodec,
    RasterScanLatentCodec,
)
from torch import Tensor, nn

from rdpflex.codecs.charm import ChannelSlicesLatentCodec
from rdpflex.codecs.checksum import SymbolChecksum
from rdpflex.errors import BitstreamError

__all__ = [
    "EntropyCoder",
    "FLOAT_NETWORKS",
    "FloatNetworks",
    "ParameterNetworks",
    "RateEstimate",
    "StreamObserver",
    "gaussian_bits",
    "scale_indexes",
]


class ParameterNetworks(Protocol):
    """How the networks that predict entropy parameters are evaluated (float, or exact fixed point)."""

    def __call__(self, net: nn.Module, x: Tensor) -> Tensor:
        """``net`` applied to ``x``."""
        ...

    def context(self, conv: nn.Conv2d, y_crop: Tensor) -> Tensor:
        """A masked context convolution without padding at one position: ``(1, C', 1, 1)``."""
        ...


class FloatNetworks:
    """The modules' own float arithmetic: compressai's results, bit for bit."""

    def __call__(self, net: nn.Module, x: Tensor) -> Tensor:
        return cast(Tensor, net(x))

    def context(self, conv: nn.Conv2d, y_crop: Tensor) -> Tensor:
        return F.conv2d(y_crop, conv.weight * cast(Tensor, conv.mask), conv.bias)  # compressai's own arithmetic


FLOAT_NETWORKS = FloatNetworks()

#: called once per coded stream: (entropy model, inputs, CDF indexes, means, scales, strings); for measurements
StreamObserver = Callable[[EntropyModel, Tensor, Tensor, Tensor | None, Tensor | None, list[bytes]], None]


class RateEstimate:
    """A :data:`StreamObserver` summing the model's own bits for what is coded: -log2 of the (lower-bounded)
    likelihoods of the coded values under the very entropy parameters the coder used (the rate term of
    Ballé, Minnen, Singh, Hwang, Johnston, "Variational image compression with a scale hyperprior",
    arXiv:1802.01436, Eq. 1).

    It costs one elementwise pass over the coded values, not a second run of the parameter networks.
    One instance per call: it accumulates.
    """

    def __init__(self) -> None:
        self.bits = 0.0

    def __call__(
        self,
        model: EntropyModel,
        inputs: Tensor,
        indexes: Tensor,
        means: Tensor | None,
        scales: Tensor | None,
        strings: list[bytes],
    ) -> None:
        if isinstance(model, GaussianConditional):
            self.bits += gaussian_bits(model, model.quantize(inputs, "dequantize", means), cast(Tensor, scales), means)
        else:  # the hyper-latent's factorized prior: its eval-mode forward rounds around its medians
            self.bits += float(-torch.log2(model(inputs, training=False)[1].double()).sum())


def gaussian_bits(model: GaussianConditional, y_hat: Tensor, scales: Tensor, means: Tensor | None) -> float:
    """-log2 of the model's (lower-bounded) Gaussian likelihoods of ``y_hat`` at ``scales``."""
    likelihoods = model._likelihood(y_hat, scales, means)
    if model.use_likelihood_bound:
        likelihoods = model.likelihood_lower_bound(likelihoods)
    return float((-torch.log2(likelihoods.double())).sum())


# ---------------------------------------------------------------------------------- CDF tables

_TABLES: WeakKeyDictionary[EntropyModel, tuple[tuple[Any, ...], tuple[list, list, list]]] = WeakKeyDictionary()


def _tables(model: EntropyModel) -> tuple[list[list[int]], list[int], list[int]]:
    """(CDFs, CDF lengths, offsets) as the rANS coder takes them, converted once per table version."""
    bufs = (model._quantized_cdf, model._cdf_length, model._offset)
    key = tuple((b._version, b.data_ptr(), b.shape) for b in bufs)
    hit = _TABLES.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    model._check_cdf_size()
    model._check_cdf_length()
    model._check_offsets_size()
    tables = (bufs[0].tolist(), bufs[1].reshape(-1).int().tolist(), bufs[2].reshape(-1).int().tolist())
    _TABLES[model] = (key, tables)
    return tables


def scale_indexes(gc: GaussianConditional, scales: Tensor) -> Tensor:
    """``gc.build_indexes(scales)`` by one binary search per element instead of one pass per table entry.

    build_indexes counts the table entries (all but the last) at or above each lower-bounded scale and
    subtracts that from the last index; for an ascending table this is the number of entries below the
    scale: ``searchsorted(table[:-1], scale, side="left")``, with the same float32 comparisons
    (equal int32 indices, NaN included). A table out of order falls back to ``build_indexes``.
    """
    table = gc.scale_table
    if table.numel() < 2 or not bool((table[1:] >= table[:-1]).all()):
        return gc.build_indexes(scales)
    bounded = gc.lower_bound_scale(scales)
    below = torch.searchsorted(table[:-1].contiguous(), bounded.contiguous(), side="left")
    return torch.where(bounded.isnan(), len(table) - 1, below).int()


def _encode(model: EntropyModel, symbols: Tensor, indexes: Tensor) -> list[bytes]:
    """One rANS string per batch item (``EntropyModel.compress`` after quantisation)."""
    cdf, lengths, offsets = _tables(model)
    encoder = RansEncoder()
    sym, idx = (
        symbols.reshape(symbols.shape[0], -1).int().tolist(),
        indexes.reshape(indexes.shape[0], -1).int().tolist(),
    )
    return [encoder.encode_with_indexes(s, i, cdf, lengths, offsets) for s, i in zip(sym, idx)]


def _decode(model: EntropyModel, strings: Sequence[bytes], indexes: Tensor) -> Tensor:
    """The int32 symbols of every string (``EntropyModel.decompress`` before dequantisation)."""
    if len(strings) != indexes.shape[0]:
        raise ValueError("Invalid strings or indexes parameters")
    cdf, lengths, offsets = _tables(model)
    decoder = RansDecoder()
    out = torch.empty(indexes.shape, dtype=torch.int32)
    for i, (s, idx) in enumerate(zip(strings, indexes.reshape(indexes.shape[0], -1).int().tolist())):
        out[i] = torch.tensor(decoder.decode_with_indexes(s, idx, cdf, lengths, offsets), dtype=torch.int32).reshape(
            out.shape[1:]
        )
    return out.to(model._quantized_cdf.device)


# ------------------------------------------------------------------------------------ the coder

_Y_CODECS = (GaussianConditionalLatentCodec, ChannelSlicesLatentCodec, RasterScanLatentCodec)


@dataclass(frozen=True)
class EntropyCoder:
    """Codes latents with ``latent_codec``'s entropy models, its parameter networks run by ``networks``.

    Immutable and stateless between calls: each call keeps its own checksum and rANS coder.
    """

    latent_codec: nn.Module
    networks: ParameterNetworks = FLOAT_NETWORKS
    observe: StreamObserver | None = None

    def __post_init__(self) -> None:
        lc = self.latent_codec
        if not (
            isinstance(lc, HyperpriorLatentCodec)
            and isinstance(lc.latent_codec["hyper"], HyperLatentCodec)
            and isinstance(
                lc.latent_codec["y"], (GaussianConditionalLatentCodec, ChannelSlicesLatentCodec, RasterScanLatentCodec)
            )
        ):
            parts = getattr(lc, "latent_codec", {})
            inner = ", ".join(f"{k}={type(v).__name__}" for k, v in parts.items()) if isinstance(parts, dict) else ""
            raise BitstreamError(
                f"latent codec {type(lc).__name__}({inner}) is not supported by rdpflex's entropy coder; supported: "
                "HyperpriorLatentCodec(hyper=HyperLatentCodec, y=GaussianConditionalLatentCodec, "
                "ChannelSlicesLatentCodec or RasterScanLatentCodec)"
            )

    @property
    def _hyper(self) -> HyperLatentCodec:
        return cast(HyperLatentCodec, self._parts["hyper"])

    @property
    def _y(self) -> nn.Module:
        return self._parts["y"]

    @property
    def _parts(self) -> dict[str, nn.Module]:
        return cast(dict[str, nn.Module], self.latent_codec.latent_codec)

    # -- encoding ---------------------------------------------------------------------------------
    def compress(self, y: Tensor) -> tuple[list[list[bytes]], Tensor, int]:
        """``(strings, y_hat, symbols_crc)``: strings as compressai's ``compress`` returns them
        (one list per stream, z last), one CRC over the whole batch."""
        crc = SymbolChecksum()
        hyper = self._hyper
        z = hyper.h_a(y)
        eb = cast(EntropyBottleneck, hyper.entropy_bottleneck)
        medians = _medians(eb, z.shape[0], z.dim() - 2)
        z_symbols = eb.quantize(z, "symbols", medians)
        crc.update(z_symbols)
        z_strings = self._coded(eb, z, z_symbols, eb._build_indexes(z.size()), medians, None)
        side = self.networks(hyper.h_s, eb.dequantize(z_symbols, medians))
        y_lc = self._y
        if isinstance(y_lc, GaussianConditionalLatentCodec):
            strings, y_hat = self._gaussian_encode(y_lc, y, side, crc)
            y_strings = [strings]
        elif isinstance(y_lc, ChannelSlicesLatentCodec):
            y_strings, y_hat = self._slices_encode(y_lc, y, side, crc)
        else:
            strings, y_hat = self._raster_encode(cast(RasterScanLatentCodec, y_lc), y, side, crc)
            y_strings = [strings]
        return [*y_strings, z_strings], y_hat, crc.value

    def _coded(
        self,
        model: EntropyModel,
        x: Tensor,
        symbols: Tensor,
        indexes: Tensor,
        means: Tensor | None,
        scales: Tensor | None,
    ) -> list[bytes]:
        strings = _encode(model, symbols, indexes)
        if self.observe is not None:
            self.observe(model, x, indexes, means, scales, strings)
        return strings

    def _gaussian_params(self, lc: GaussianConditionalLatentCodec, ctx: Tensor) -> tuple[Tensor, Tensor | None]:
        scales, means = lc._chunk(self.networks(lc.entropy_parameters, ctx))
        return scales, means

    def _gaussian_encode(
        self, lc: GaussianConditionalLatentCodec, y: Tensor, ctx: Tensor, crc: SymbolChecksum
    ) -> tuple[list[bytes], Tensor]:
        gc = cast(GaussianConditional, lc.gaussian_conditional)
        scales, means = self._gaussian_params(lc, ctx)
        indexes = scale_indexes(gc, scales)
        crc.update(indexes)
        symbols = gc.quantize(y, "symbols", means)
        crc.update(symbols)
        strings = self._coded(gc, y, symbols, indexes, means, scales)
        return strings, gc.dequantize(symbols, means)

    def _slices_encode(
        self, lc: ChannelSlicesLatentCodec, y: Tensor, side: Tensor, crc: SymbolChecksum
    ) -> tuple[list[list[bytes]], Tensor]:
        done: list[Tensor] = []
        strings = []
        for k, y_k in enumerate(y.split(lc.slice_ch, dim=1)):
            s, y_hat_k = self._gaussian_encode(lc._slice(k), y_k, torch.cat([side, *done], dim=1), crc)
            strings.append(s)
            done.append(self._refine(lc, k, side, done, y_hat_k))
        return strings, torch.cat(done, dim=1)

    def _refine(
        self, lc: ChannelSlicesLatentCodec, k: int, side: Tensor, done: list[Tensor], y_hat_k: Tensor
    ) -> Tensor:
        """Latent residual prediction (Minnen & Singh 2020): ŷ_k + 0.5 tanh(lrp_k([side, ŷ_0..ŷ_k]))."""
        if lc.lrp is None:
            return y_hat_k
        return y_hat_k + 0.5 * self.networks(lc.lrp[k], torch.cat([side, *done, y_hat_k], dim=1))

    def _raster_params(
        self, lc: RasterScanLatentCodec, side: Tensor, y_crop: Tensor, h: int, w: int
    ) -> tuple[Tensor, Tensor]:
        p = side[:, :, h : h + 1, w : w + 1]
        ctx = self.networks.context(cast(nn.Conv2d, lc.context_prediction), y_crop)
        gaussian = self.networks(lc.entropy_parameters, lc.merge(p, ctx)).squeeze(3).squeeze(2)
        scales, means = gaussian.chunk(2, 1)
        return scales, means

    def _raster_encode(
        self, lc: RasterScanLatentCodec, y: Tensor, side: Tensor, crc: SymbolChecksum
    ) -> tuple[list[bytes], Tensor]:
        """compressai's raster-scan ``compress`` (Minnen et al. 2018, Sec. 3): one position at a time."""
        gc, k, pad = cast(GaussianConditional, lc.gaussian_conditional), lc.kernel_size, lc.padding
        cdf, lengths, offsets = _tables(gc)
        strings, y_hats = [], []
        for i in range(y.shape[0]):
            y_hat = F.pad(y[i : i + 1], (pad, pad, pad, pad))
            symbols_list: list[int] = []
            indexes_list: list[int] = []
            seen: list[tuple[Tensor, Tensor, Tensor]] = []  # (indexes, means, scales) per position, when observed
            for h in range(y.shape[2]):
                for w in range(y.shape[3]):
                    y_crop = y_hat[:, :, h : h + k, w : w + k]
                    scales, means = self._raster_params(lc, side[i : i + 1], y_crop, h, w)
                    indexes = scale_indexes(gc, scales)
                    crc.update(indexes)
                    symbols = gc.quantize(y_crop[:, :, pad, pad], "symbols", means)
                    crc.update(symbols)
                    y_hat[:, :, h + pad, w + pad] = symbols + means
                    symbols_list.extend(symbols.squeeze().tolist())
                    indexes_list.extend(indexes.squeeze().tolist())
                    if self.observe is not None:
                        seen.append((indexes, means, scales))
            encoder = BufferedRansEncoder()
            encoder.encode_with_indexes(symbols_list, indexes_list, cdf, lengths, offsets)
            strings.append(encoder.flush())
            if self.observe is not None:
                maps = [torch.stack(t, dim=-1).reshape(1, -1, *y.shape[2:]) for t in zip(*seen)]
                self.observe(gc, y[i : i + 1], maps[0], maps[1], maps[2], strings[-1:])
            y_hats.append(y_hat[:, :, pad : pad + y.shape[2], pad : pad + y.shape[3]])
        return strings, torch.cat(y_hats)

    # -- decoding ---------------------------------------------------------------------------------
    def decompress(
        self, strings: list[list[bytes]], shape: dict[str, tuple[int, int]], items: int = 1
    ) -> tuple[Tensor, list[int]]:
        """``(y_hat, symbol CRC per image)`` of ``items`` images (``strings``: compressai's layout, z last)."""
        crc = SymbolChecksum(items)
        *y_strings, z_strings = strings
        if not all(len(s) == len(z_strings) for s in y_strings):
            raise ValueError("every stream must hold one string per image")
        side = self.side_parameters(z_strings, shape["hyper"], crc)
        y_lc = self._y
        if isinstance(y_lc, GaussianConditionalLatentCodec):
            (s,) = y_strings
            y_hat = self._gaussian_decode(y_lc, s, side, crc)
        elif isinstance(y_lc, ChannelSlicesLatentCodec):
            y_hat = self._slices_decode(y_lc, y_strings, side, crc)
        else:
            (s,) = y_strings
            y_hat = self._raster_decode(cast(RasterScanLatentCodec, y_lc), s, shape["y"], side, crc)
        if tuple(y_hat.shape[2:4]) != tuple(shape["y"]):
            raise ValueError(f"decoded latent of {tuple(y_hat.shape[2:4])}, expected {tuple(shape['y'])}")
        return y_hat, crc.values

    def side_parameters(
        self, z_strings: Sequence[bytes], shape: tuple[int, int], crc: SymbolChecksum | None = None
    ) -> Tensor:
        """h_s(ẑ) of the hyper-latent strings (one per image): the side information every y model reads."""
        hyper = self._hyper
        eb = cast(EntropyBottleneck, hyper.entropy_bottleneck)
        size = (len(z_strings), eb._quantized_cdf.size(0), *shape)
        medians = _medians(eb, len(z_strings), 2)
        z_symbols = _decode(eb, z_strings, eb._build_indexes(size).to(eb._quantized_cdf.device))
        if crc is not None:
            crc.update(z_symbols)
        return self.networks(hyper.h_s, eb.dequantize(z_symbols, medians, medians.dtype))

    def _gaussian_decode(
        self, lc: GaussianConditionalLatentCodec, strings: Sequence[bytes], ctx: Tensor, crc: SymbolChecksum
    ) -> Tensor:
        gc = cast(GaussianConditional, lc.gaussian_conditional)
        scales, means = self._gaussian_params(lc, ctx)
        indexes = scale_indexes(gc, scales)
        crc.update(indexes)
        symbols = _decode(gc, strings, indexes)
        crc.update(symbols)
        return gc.dequantize(symbols, means)

    def _slices_decode(
        self, lc: ChannelSlicesLatentCodec, strings: list[list[bytes]], side: Tensor, crc: SymbolChecksum
    ) -> Tensor:
        if len(strings) != lc.slices:
            raise ValueError(f"expected {lc.slices} slice streams, got {len(strings)}")
        done: list[Tensor] = []
        for k in range(lc.slices):
            y_hat_k = self._gaussian_decode(lc._slice(k), strings[k], torch.cat([side, *done], dim=1), crc)
            done.append(self._refine(lc, k, side, done, y_hat_k))
        return torch.cat(done, dim=1)

    def _raster_decode(
        self,
        lc: RasterScanLatentCodec,
        strings: Sequence[bytes],
        shape: tuple[int, int],
        side: Tensor,
        crc: SymbolChecksum,
    ) -> Tensor:
        gc, k, pad = cast(GaussianConditional, lc.gaussian_conditional), lc.kernel_size, lc.padding
        cdf, lengths, offsets = _tables(gc)
        height, width = shape
        c = cast(nn.Conv2d, lc.context_prediction).in_channels
        y_hats = []
        for i, s in enumerate(strings):
            decoder = RansDecoder()
            decoder.set_stream(s)
            y_hat = torch.zeros((1, c, height + 2 * pad, width + 2 * pad), device=side.device)
            for h in range(height):
                for w in range(width):
                    y_crop = y_hat[:, :, h : h + k, w : w + k]
                    scales, means = self._raster_params(lc, side[i : i + 1], y_crop, h, w)
                    indexes = scale_indexes(gc, scales)
                    crc.update(indexes)
                    symbols = torch.tensor(
                        decoder.decode_stream(indexes.squeeze().tolist(), cdf, lengths, offsets), dtype=torch.float32
                    ).reshape(1, -1)
                    crc.update(symbols)
                    y_hat[:, :, h + pad, w + pad] = gc.dequantize(symbols, means)
            y_hats.append(y_hat[:, :, pad : pad + height, pad : pad + width])
        return torch.cat(y_hats)


def _medians(eb: EntropyBottleneck, batch: int, spatial_dims: int) -> Tensor:
    """The entropy bottleneck's per-channel medians, shaped for a batch (``EntropyBottleneck.compress``)."""
    medians = eb._extend_ndims(eb._get_medians().detach(), spatial_dims)
    return medians.expand(batch, *([-1] * (spatial_dims + 1)))
