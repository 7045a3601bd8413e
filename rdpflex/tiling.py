"""Bounded memory on large images: run a fully convolutional transform tile by tile, with overlapping margins.

::

    latent grid (units of the codec stride, 16 px)      each tile: core (kept) + margin (computed, cropped)
    +--------+--------+---                               +--------------+
    | core 0 | core 1 |                                  |  margin      |
    +--------+--------+---    fn(tile + margins) ─►      |   +------+   |  ─► core written into the
    | core 2 | ...    |                                  |   | core |   |     preallocated output
                                                         |   +------+   |
                                                         +--------------+

Peak memory is one tile's activations plus the input and output tensors, whatever the image size.
With a margin at least the transform's receptive field (in latent units), every kept value sees
the same inputs as in one full pass, so the result equals the untiled one up to float rounding
(measured in ``docs/reliability.md``: the demo system's g_a, g_s and multi-realism G reach 1, 2
and 3 latent units). Images of at most ``tile`` latent units per side run in one pass, unchanged.
The same scheme as the tiled VAE decoding of diffusers (``AutoencoderKL.tiled_decode``), with
cropping instead of blending because the margins cover the receptive field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from torch import Tensor

#: tile side in latent units (64 x 16 = 1024 px for a stride-16 codec) and overlap on every side
TILE = 64
MARGIN = 6


def _spans(n: int, tile: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """(core start, core end, input start, input end) along one axis of ``n`` units."""
    for start in range(0, n, tile):
        end = min(start + tile, n)
        yield start, end, max(0, start - margin), min(n, end + margin)


def tiled(fn: Callable[[Tensor], Tensor], x: Tensor, in_unit: int, out_unit: int,
          tile: int = TILE, margin: int = MARGIN) -> Tensor:
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
            out[..., r0 * b : r1 * b, c0 * b : c1 * b] = piece[..., (r0 - i0) * b : (r1 - i0) * b, (c0 - j0) * b : (c1 - j0) * b]
            del piece
    assert out is not None
    return out


def synthesize(fn: Callable[[Tensor], Tensor], y_hat: Tensor, stride: int, tile: int = TILE, margin: int = MARGIN) -> Tensor:
    """An image from a latent (``fn`` = g_s or a generator), tiled on large latents."""
    return tiled(fn, y_hat, 1, stride, tile, margin)


def analyse(fn: Callable[[Tensor], Tensor], x: Tensor, stride: int, tile: int = TILE, margin: int = MARGIN) -> Tensor:
    """A latent from a padded image (``fn`` = g_a), tiled on large images."""
    return tiled(fn, x, stride, 1, tile, margin)
