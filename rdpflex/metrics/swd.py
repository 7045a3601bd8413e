"""Multi-scale sliced Wasserstein distance (SWD) between Laplacian-pyramid patch distributions.

Karras, Aila, Laine, Lehtinen, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation", ICLR 2018, arXiv:1710.10196, Sec. 5 and Appendix D. A weight-free, distributional proxy
for realism: it compares the *statistics* of local 7x7 patches of the reconstructions with those of
the originals, level by level of a Laplacian pyramid (lower is better; 0 for identical sets)::

    every image (8-bit RGB) ─► Laplacian pyramid: level k = G_k - up(G_k+1) at 1/2^k resolution,
                               down to the last level with shorter side >= min_size (16); that level
                               is the low-pass residual G_k
    each level: patches_per_image random 7x7x3 neighbourhoods per image -> 147-d descriptors
              ─► both sets to the same count (random subset of the larger)
              ─► each colour channel standardised (mean/std over both sets jointly; or per set)
              ─► 512 random unit directions: project, sort each set's projections, mean |difference|
    swd = mean over levels of 1e3 x that (per level: swd_l0 = full resolution, swd_l1 = 1/2, ...)

Deterministic: patch positions depend only on ``seed`` and the image sizes (so an image and its
reconstruction are sampled at the same positions, and identical sets give exactly 0), directions
and resampling on ``seed`` too, and the value does not depend on torch's thread count: the pyramid
and the patch gathering are elementwise, the statistics are exact integer sums, and descriptors and
directions are rounded to a 2^-20 grid so the float64 projections are exact integers in any
summation order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from rdpflex.metrics.base import Kind, MetricValue, skipped
from rdpflex.metrics.fidelity import prepare_sets
from rdpflex.metrics.image import quantize

#: reference settings (Karras et al. 2018, Appendix D): 7x7 neighbourhoods, 128 per image and level,
#: 4 repeats x 128 = 512 directions, levels down to 16x16
PATCH = 7
PATCHES_PER_IMAGE = 128
DIRECTIONS = 512
MIN_SIZE = 16
SCALE = 1e3
_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)
_GRID = 2.0**20  # descriptors and directions are multiples of 1/_GRID
_CLAMP = 64.0  # standardised descriptor components are clamped to +-64 (keeps projections < 2^50 / _GRID^2)
_STAT_GRID = 256.0  # channel statistics from values rounded to 1/256 of an 8-bit step


# ---------------------------------------------------------------------------------------- pyramid


def _blur(x: Tensor, gain: float = 1.0) -> Tensor:
    """Separable 5-tap binomial filter ``[1 4 6 4 1]/16`` (times ``gain`` per axis), mirror borders.

    Shifted slices and elementwise adds only, so the result does not depend on the thread count.
    """
    w = [gain * c / 16.0 for c in _BINOMIAL]
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    h, wd = x.shape[-2] - 4, x.shape[-1] - 4
    rows = w[0] * x[..., :h, :]
    for i in range(1, 5):
        rows = rows + w[i] * x[..., i : i + h, :]
    out = w[0] * rows[..., :wd]
    for i in range(1, 5):
        out = out + w[i] * rows[..., i : i + wd]
    return out


def pyr_down(x: Tensor) -> Tensor:
    """Blur, then keep every second row and column (``cv2.pyrDown``): ``ceil(H/2) x ceil(W/2)``."""
    return _blur(x)[..., ::2, ::2]


def pyr_up(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Zero-insert to twice the size, blur with 4x the filter (``cv2.pyrUp``), crop to ``size``."""
    up = x.new_zeros((*x.shape[:-2], 2 * x.shape[-2], 2 * x.shape[-1]))
    up[..., ::2, ::2] = x
    return _blur(up, 2.0)[..., : size[0], : size[1]]


def level_count(height: int, width: int, min_size: int = MIN_SIZE) -> int:
    """Pyramid levels of an image: levels ``k`` whose shorter side ``ceil(side / 2^k)`` is >= ``min_size``."""
    side, n = min(height, width), 0
    while side >= min_size:
        n, side = n + 1, (side + 1) // 2
    return n


def laplacian_pyramid(img: Tensor, levels: int) -> list[Tensor]:
    """``levels`` Laplacian levels of ``(C, H, W)`` float: band-pass ``G_k - up(G_k+1)``, the last the
    residual ``G_k``."""
    gauss = [img]
    for _ in range(levels - 1):
        gauss.append(pyr_down(gauss[-1]))
    bands = [g - pyr_up(gauss[k + 1], (int(g.shape[-2]), int(g.shape[-1]))) for k, g in enumerate(gauss[:-1])]
    return bands + gauss[-1:]


# ----------------------------------------------------------------------------------- descriptors


def _patches(level: Tensor, n: int, gen: torch.Generator, size: int) -> Tensor:
    """``n`` random ``size x size`` neighbourhoods of ``level`` (C, h, w), as ``(n, C*size*size)`` rows."""
    half = size // 2
    h, w = level.shape[-2:]
    ys = torch.randint(half, h - half, (n,), generator=gen)
    xs = torch.randint(half, w - half, (n,), generator=gen)
    off = torch.arange(-half, half + 1)
    rows, cols = (ys[:, None] + off)[:, :, None], (xs[:, None] + off)[:, None, :]
    return level[:, rows, cols].permute(1, 0, 2, 3).reshape(n, -1)  # (C, n, s, s) -> (n, C*s*s)


def _as_images(images: Tensor | Sequence[Tensor], what: str) -> list[Tensor]:
    """A batch ``(N, 3, H, W)`` or a list of ``(3, H, W)`` / ``(N, 3, H, W)`` -> list of uint8 (3, H, W) on the CPU."""
    items = [images] if isinstance(images, Tensor) else list(images)
    out: list[Tensor] = []
    for t in items:
        if not isinstance(t, Tensor) or t.dim() not in (3, 4) or t.shape[-3] != 3:
            shape = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{what}: expected (3, H, W) or (N, 3, H, W) images, got {shape}")
        out.extend(quantize(t).cpu().reshape(-1, *t.shape[-3:]).unbind(0))
    return out


def descriptors(
    images: Tensor | Sequence[Tensor],
    *,
    levels: int,
    patches_per_image: int = PATCHES_PER_IMAGE,
    patch: int = PATCH,
    min_size: int = MIN_SIZE,
    seed: int = 0,
) -> tuple[list[Tensor], list[int]]:
    """Per level ``k < levels``: the ``(n_k, 3*patch*patch)`` float32 descriptors of every image that has level
    ``k`` (shorter side at 1/2^k >= ``min_size``), and how many images were too small for it.

    Level ``levels - 1`` is the low-pass residual; an image with fewer levels contributes band-pass levels only.
    Positions come from a generator seeded with ``seed``, image by image, so they depend only on the sizes.
    """
    gen = torch.Generator().manual_seed(seed)
    per_level: list[list[Tensor]] = [[] for _ in range(levels)]
    too_small = [0] * levels
    for img in _as_images(images, "images"):
        n = level_count(int(img.shape[-2]), int(img.shape[-1]), min_size)
        pyr = laplacian_pyramid(img.float(), min(n + 1, levels)) if n else []
        for k in range(levels):
            if k < n:  # k == levels - 1 < n only when n == levels: the residual of a full-size pyramid
                per_level[k].append(_patches(pyr[k], patches_per_image, gen, patch))
            else:
                too_small[k] += 1
    dim = 3 * patch * patch
    return [torch.cat(d) if d else torch.empty(0, dim) for d in per_level], too_small


# ------------------------------------------------------------------------------------ distance


def _exact_sum(t: Tensor) -> int:
    """Exact sum of an int64 tensor, whatever the thread count (int64 chunks of 1024, then Python ints)."""
    flat = t.reshape(-1)
    flat = torch.cat([flat, flat.new_zeros((-flat.numel()) % 1024)])
    return sum(flat.view(-1, 1024).sum(1).tolist())


def _channel_stats(desc: Tensor, channels: int = 3) -> tuple[Tensor, Tensor]:
    """Mean and (population) std of each colour channel over all rows of ``desc`` (n, channels*s*s), exactly."""
    q = torch.round(desc.double().view(desc.shape[0], channels, -1) * _STAT_GRID).long()
    means, stds = [], []
    for c in range(channels):
        v = q[:, c]
        m, s1, s2 = v.numel(), _exact_sum(v), _exact_sum(v * v)
        var = (m * s2 - s1 * s1) / (m * m * _STAT_GRID**2)  # exact integers until this division
        means.append(s1 / (m * _STAT_GRID))
        stds.append(math.sqrt(var) if var > 0 else 1.0)  # a constant channel stays 0 after centring
    return torch.tensor(means, dtype=torch.float64), torch.tensor(stds, dtype=torch.float64)


def _standardise(desc: Tensor, mean: Tensor, std: Tensor, channels: int = 3) -> Tensor:
    """``(desc - mean) / std`` per channel, clamped to +-64 and rounded to the 1/2^20 grid, in units of 1/2^20."""
    x = (desc.double().view(desc.shape[0], channels, -1) - mean[:, None]) / std[:, None]
    return torch.round(x.clamp(-_CLAMP, _CLAMP) * _GRID).reshape(desc.shape[0], -1)


def _directions(dim: int, count: int, gen: torch.Generator, chunk: int = 128) -> list[Tensor]:
    """``count`` random unit directions in chunks of ``chunk`` (the reference's repeats), ``(dim, chunk)`` each,
    rounded to the 1/2^20 grid (in those units)."""
    out = []
    for start in range(0, count, chunk):
        d = torch.randn(min(chunk, count - start), dim, generator=gen, dtype=torch.float64)
        d = d / d.norm(dim=1, keepdim=True)
        out.append(torch.round(d * _GRID).T.contiguous())
    return out


def sliced_wasserstein(a: Tensor, b: Tensor, directions: list[Tensor]) -> float:
    """Mean over ``directions`` and rows of |sorted projections of ``a`` - those of ``b``| (equal row counts).

    ``a``, ``b`` and ``directions`` are integer-valued float64 (units 1/2^20) with components bounded as in
    :func:`_standardise`, so every projection is an exact integer (< 2^50) in units 1/2^40.
    """
    assert a.shape == b.shape, (a.shape, b.shape)
    total, count = 0, 0
    for d in directions:
        pa, pb = torch.sort(a @ d, dim=0).values, torch.sort(b @ d, dim=0).values
        total += _exact_sum((pa - pb).abs().long())
        count += pa.numel()
    return total / count / _GRID**2


def swd_scores(
    originals: Tensor | Sequence[Tensor],
    recons: Tensor | Sequence[Tensor],
    *,
    patches_per_image: int = PATCHES_PER_IMAGE,
    directions: int = DIRECTIONS,
    patch: int = PATCH,
    min_size: int = MIN_SIZE,
    normalize: str = "joint",
    seed: int = 0,
) -> dict[str, float]:
    """Multi-scale SWD (x1e3) between two image sets (Karras et al. 2018, arXiv:1710.10196, Sec. 5, App. D).

    The sets need not be paired nor of equal size: a batch ``(N, 3, H, W)`` or a list of ``(3, H, W)``
    images each, float in [0, 1] (quantised to 8 bits) or uint8. The number of levels is that of the
    largest image; a level that some images are too small for uses the others (noted). ``normalize``:
    ``"joint"`` standardises each colour channel with the mean/std of both sets together (a blurred set
    keeps its lower contrast), ``"separate"`` each set with its own, as the reference code does.

    Keys: ``swd`` (mean over the levels computed; NaN with a note when none fits), ``swd_l{k}`` per
    level (k = 0 full resolution), ``swd_levels`` and ``swd_patches`` (descriptors per set at level 0).
    """
    if normalize not in ("joint", "separate"):
        raise ValueError(f"normalize must be 'joint' or 'separate', got {normalize!r}")
    if patch < 1 or patch % 2 == 0:
        raise ValueError(f"patch must be an odd positive size, got {patch}")
    if min_size < patch:
        raise ValueError(f"min_size ({min_size}) must be at least the patch size ({patch})")
    if patches_per_image < 1 or directions < 1:
        raise ValueError(f"patches_per_image and directions must be positive, got {patches_per_image}, {directions}")
    sets = [_as_images(originals, "originals"), _as_images(recons, "reconstructions")]
    if not all(sets):
        raise ValueError("SWD needs at least one image in each set")
    levels = max(level_count(int(im.shape[-2]), int(im.shape[-1]), min_size) for s in sets for im in s)
    if levels == 0:
        side = max(min(im.shape[-2:]) for s in sets for im in s)
        return {
            "swd": skipped(f"SWD skipped: every image's shorter side is < {min_size} px (largest {side} px)"),
            "swd_levels": 0,
            "swd_patches": 0,
        }
    opts = dict(levels=levels, patches_per_image=patches_per_image, patch=patch, min_size=min_size, seed=seed)
    (da, small_a), (db, small_b) = (descriptors(s, **opts) for s in sets)

    gen = torch.Generator().manual_seed(seed + 1)
    dirs = _directions(da[0].shape[1], directions, gen)
    out: dict[str, Any] = {}
    notes, values, patches = [], [], 0
    for k, (a, b) in enumerate(zip(da, db)):
        where = f"level {k} (1/{2**k} resolution{', low-pass residual' if k == levels - 1 else ''})"
        if small_a[k] or small_b[k]:
            notes.append(
                f"SWD {where}: {small_a[k]} of {len(sets[0])} originals and {small_b[k]} of "
                f"{len(sets[1])} reconstructions are too small (shorter side < {min_size} px there)"
            )
        if not len(a) or not len(b):
            notes.append(f"SWD {where} skipped: one set has no image that large")
            out[f"swd_l{k}"] = math.nan
            continue
        if len(a) != len(b):  # same count: a random subset of the larger set
            n = min(len(a), len(b))
            a, b = (t[torch.randperm(len(t), generator=gen)[:n]] if len(t) > n else t for t in (a, b))
        if normalize == "joint":
            mean, std = _channel_stats(torch.cat([a, b]))
            a, b = _standardise(a, mean, std), _standardise(b, mean, std)
        else:
            a, b = (_standardise(t, *_channel_stats(t)) for t in (a, b))
        patches = patches or len(a)
        out[f"swd_l{k}"] = SCALE * sliced_wasserstein(a, b, dirs)
        values.append(out[f"swd_l{k}"])
    if values:
        head: float = MetricValue(sum(values) / len(values), *notes)
    else:
        head = skipped("; ".join(notes) or "SWD: no level could be computed")
    return {"swd": head, **out, "swd_levels": len(values), "swd_patches": patches}


class SlicedWasserstein:
    """Multi-scale SWD (x1e3) of the reconstructions' Laplacian-pyramid patches against the originals'.

    Karras, Aila, Laine, Lehtinen 2018, "Progressive Growing of GANs ...", arXiv:1710.10196, Sec. 5 /
    App. D; see :func:`swd_scores`. A set metric that needs no network weights.
    """

    name: ClassVar[str] = "swd"
    title: ClassVar[str] = "SWD"
    kind: ClassVar[Kind] = "set"
    higher_is_better: ClassVar[bool] = False
    stand_in: ClassVar[bool] = False
    description: ClassVar[str] = (
        "sliced Wasserstein distance x1e3 between 7x7 Laplacian-pyramid patch distributions (Karras et al. 2018); "
        "weight-free realism proxy"
    )

    def __init__(
        self,
        patches_per_image: int = PATCHES_PER_IMAGE,
        directions: int = DIRECTIONS,
        *,
        min_size: int = MIN_SIZE,
        normalize: str = "joint",
        seed: int = 0,
    ):
        self.options: dict[str, Any] = dict(
            patches_per_image=patches_per_image,
            directions=directions,
            min_size=min_size,
            normalize=normalize,
            seed=seed,
        )

    def __repr__(self) -> str:
        return "SlicedWasserstein(" + ", ".join(f"{k}={v!r}" for k, v in self.options.items()) + ")"

    def compute_set(self, originals: list[Tensor], recons: list[Tensor]) -> dict[str, float]:
        a, b = prepare_sets(originals, recons)  # recons[i] must have the size of originals[i]
        return swd_scores(a, b, **self.options)
