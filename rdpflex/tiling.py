"""Tiled decoding: a large image decoded in overlapping tiles with blended seams, so memory stays bounded.

::

    image plane (padded size)            weights of one tile (overlap o)
    ┌────────┬──┬────────┬──┬───┐        0 ─ramp─► 1 ········ 1 ─ramp─► 0   (no ramp at the image border)
    │ tile 0 │o │ tile 1 │o │ 2 │        out = Σ w_t · tile_t / Σ w_t
    └────────┴──┴────────┴──┴───┘

Windows are aligned to the codec's latent stride (16 px), so every tile is an exact crop of y_hat.
:func:`blend` is the generic part (any function of a window); :func:`decode_in_tiles` applies it to
one decoder call per sub-latent (``DecoderBase.decode_tiled``'s default). Iterative decoders can
call :func:`blend` once per step instead (``cdiff`` blends every denoising step, as in
MultiDiffusion, Bar-Tal et al. 2023, "MultiDiffusion: Fusing Diffusion Paths for Controlled Image
Generation", arXiv 2302.08113, Eq. 5), which keeps neighbouring tiles consistent.

Two tilings live here, for two jobs:

* :func:`decode_in_tiles` / :class:`TileSpec` (``--tile``): a decoder decodes overlapping tiles of a
  latent and the seams are blended — any family may opt in (``supports_tiling``), stochastic ones too;
* :func:`synthesize` / :func:`analyse`: a deterministic, fully convolutional transform (g_a, g_s, the
  multi-realism G) computed tile by tile with margins at least its receptive field, cropped, so the
  result equals one full pass; used automatically on large images to bound memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rdpflex.errors import OptionsError
from rdpflex.latent import Latent

#: (top, bottom, left, right) pixel bounds of a window in the padded image
Window = tuple[int, int, int, int]


@dataclass(frozen=True)
class TileSpec:
    """Tile side and overlap in pixels; both multiples of the codec's latent stride."""

    tile: int = 256
    overlap: int = 32

    def check(self, align: int) -> "TileSpec":
        if self.tile <= 0 or self.tile % align or self.overlap < 0 or self.overlap % align or self.overlap >= self.tile:
            raise OptionsError(
                f"tile={self.tile}, overlap={self.overlap} not allowed: tile must be a positive multiple "
                f"of {align} px and "
                f"overlap a multiple of {align} with 0 <= overlap < tile"
            )
        return self


def axis_windows(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) spans of side ``tile`` covering ``[0, length)``, neighbours sharing >= ``overlap``."""
    if length <= tile:
        return [(0, length)]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return [(s, s + tile) for s in starts]


def windows(height: int, width: int, spec: TileSpec) -> list[Window]:
    return [
        (t, b, left, r)
        for t, b in axis_windows(height, spec.tile, spec.overlap)
        for left, r in axis_windows(width, spec.tile, spec.overlap)
    ]


def _ramp(n: int, start: int, end: int, length: int, overlap: int, device: torch.device) -> Tensor:
    """1-D weights of a span: linear ramps over ``overlap`` px at ends that touch a neighbour."""
    w = torch.ones(n, device=device)
    if overlap == 0:
        return w
    ramp = (torch.arange(overlap, device=device, dtype=torch.float32) + 0.5) / overlap
    k = min(overlap, n)
    if start > 0:
        w[:k] = torch.minimum(w[:k], ramp[:k])
    if end < length:
        w[n - k :] = torch.minimum(w[n - k :], ramp[:k].flip(0))
    return w


def blend(fn: Callable[[Window], Tensor], height: int, width: int, spec: TileSpec) -> Tensor:
    """Σ_t w_t fn(window_t) / Σ_t w_t over the tiles of a ``height x width`` plane; fn returns (B, C, h, w)."""
    acc: Tensor | None = None
    wsum: Tensor | None = None
    for win in windows(height, width, spec):
        t, b, left, r = win
        out = fn(win)
        if acc is None or wsum is None:
            acc = out.new_zeros(*out.shape[:2], height, width)
            wsum = out.new_zeros(1, 1, height, width)
        w = (
            _ramp(b - t, t, b, height, spec.overlap, out.device)[:, None]
            * _ramp(r - left, left, r, width, spec.overlap, out.device)[None, :]
        )
        w = w.to(out.dtype)
        acc[..., t:b, left:r] += out * w
        wsum[..., t:b, left:r] += w
    assert acc is not None and wsum is not None
    return acc / wsum


def sub_latent(latent: Latent, win: Window, stride: int) -> Latent:
    """The crop of ``latent`` under an image window (aligned to ``stride``) as a latent of its own."""
    t, b, left, r = win
    y = latent.y_hat[..., t // stride : b // stride, left // stride : r // stride]
    return Latent(y.contiguous(), (b - t, r - left), (b - t, r - left), latent.stem)


def decode_in_tiles(decode: Callable[[Latent], Tensor], latent: Latent, codec: Any, spec: TileSpec) -> Tensor:
    """(1, 3, *latent.padded_size) from one ``decode(sub_latent)`` per tile, seams blended."""
    stride = codec.latent_stride
    spec.check(stride)
    H, W = latent.padded_size
    return blend(lambda win: decode(sub_latent(latent, win, stride)), H, W, spec)


# ------------------------------------------------------------------- automatic, exact tiling
# ::
#
#    latent grid (units of the codec stride, 16 px)      each tile: core (kept) + margin (computed, cropped)
#    +--------+--------+---                               +--------------+
#    | core 0 | core 1 |                                  |  margin      |
#    +--------+--------+---    fn(tile + margins) ─►      |   +------+   |  ─► core written into the
#    | core 2 | ...    |                                  |   | core |   |     preallocated output
#                                                         |   +------+   |
#                                                         +--------------+
#
# Peak memory is one tile's activations plus the input and output tensors, whatever the image size.
# With a margin at least the transform's receptive field (in latent units), every kept value sees
# the same inputs as in one full pass, so the result equals the untiled one up to float rounding
# (measured in ``docs/reliability.md``: the demo system's g_a, g_s and multi-realism G reach 1, 2
# and 3 latent units). Images of at most ``tile`` latent units per side run in one pass, unchanged.
# The same scheme as the tiled VAE decoding of diffusers (``AutoencoderKL.tiled_decode``), with
# cropping instead of blending because the margins cover the receptive field.

#: tile side in latent units (64 x 16 = 1024 px for a stride-16 codec) and overlap on every side
TILE = 64
MARGIN = 6


def _spans(n: int, tile: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """(core start, core end, input start, input end) along one axis of ``n`` units."""
    for start in range(0, n, tile):
        end = min(start + tile, n)
        yield start, end, max(0, start - margin), min(n, end + margin)


def tiled(
    fn: Callable[[Tensor], Tensor], x: Tensor, in_unit: int, out_unit: int, tile: int = TILE, margin: int = MARGIN
) -> Tensor:
    """``fn(x)`` computed tile by tile. One grid unit is ``in_unit`` px of ``x`` and ``out_unit`` px of the output.

    Synthesis (latent -> image, stride s): ``in_unit=1, out_unit=s``; analysis: ``in_unit=s, out_unit=1``.
    ``x`` is (B, C, H, W) with H and W multiples of ``in_unit``.
    """
    h, w = x.shape[-2] // in_unit, x.shape[-1] // in_unit
    if h <= tile and w <= tile:
        return fn(x)
    a, b = in_unit, out_unit
    out: Tensor | None = None
    for r0, r1, i0, i1 in _spans(h, tile, margin):
        for c0, c1, j0, j1 in _spans(w, tile, margin):
            piece = fn(x[..., i0 * a : i1 * a, j0 * a : j1 * a])
            if out is None:
                out = piece.new_empty(*piece.shape[:-2], h * b, w * b)
            out[..., r0 * b : r1 * b, c0 * b : c1 * b] = piece[
                ..., (r0 - i0) * b : (r1 - i0) * b, (c0 - j0) * b : (c1 - j0) * b
            ]
            del piece
    assert out is not None
    return out


def synthesize(
    fn: Callable[[Tensor], Tensor], y_hat: Tensor, stride: int, tile: int = TILE, margin: int = MARGIN
) -> Tensor:
    """An image from a latent (``fn`` = g_s or a generator), tiled on large latents."""
    return tiled(fn, y_hat, 1, stride, tile, margin)


def analyse(fn: Callable[[Tensor], Tensor], x: Tensor, stride: int, tile: int = TILE, margin: int = MARGIN) -> Tensor:
    """A latent from a padded image (``fn`` = g_a), tiled on large images."""
    return tiled(fn, x, stride, 1, tile, margin)
