"""Exact entropy parameters: the same scale-table indices and means on every machine.

Why: a Gaussian entropy model codes each symbol with the CDF picked by the scale predicted from
side information (``GaussianConditional.build_indexes``). Those scales and means come out of
convolutions; a different summation order (thread count, CPU, GPU, TF32) moves a scale across a
table boundary, the rANS decoder reads with another CDF and every later symbol is garbage
(Ballé, Johnston, Minnen, "Integer Networks for Data Compression with Latent-Variable Models",
ICLR 2019, Sec. 1 and 3; CompressAI issues #279 and #309).

How: when a codec entropy-codes on this path, every network that computes entropy parameters (``h_s``, the
Gaussian ``entropy_parameters``, Charm's slice and LRP networks, a raster-scan context model) is
evaluated by :func:`exact_forward`, a fixed-point interpreter in float64 in the spirit of Ballé et
al.'s integer networks, without retraining:

* weights are rounded to ``WEIGHT_BITS`` significant bits per tensor (a power-of-two scale), biases
  and every activation to the grid ``2**-GRID_BITS``;
* so every product is a multiple of ``2**-(GRID_BITS + weight scale)`` and every partial sum is an
  integer multiple of that unit below ``2**53``: float64 adds it *exactly*, so the result does not
  depend on the order of the sums (threads, BLAS, device). The bound is checked on every call;
* nonlinearities use only correctly rounded IEEE operations (+, *, /, round, comparisons; ReLU,
  leaky ReLU, and GELU / tanh through a polynomial ``exp`` built here), never a libm whose last
  bit differs between CPUs and GPUs; the result is rounded back to the grid;
* convolutions are sums of exact products: im2col + GEMM (torch's own float64 kernels on the CPU,
  :func:`gemm_conv2d` / :func:`gemm_conv_transpose2d` on a GPU), never cuDNN, whose FFT and
  Winograd algorithms are not. No global torch setting is touched.

The encoder runs the same path, so encoder and decoder agree bit for bit; the rounding costs a
fraction of a percent of rate (measured in ``docs/reliability.md``).
"""

from __future__ import annotations

import math
from typing import Any, cast
from weakref import WeakKeyDictionary

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdpflex.errors import RdpflexError

__all__ = [
    "GRID_BITS",
    "WEIGHT_BITS",
    "ExactPathError",
    "exact_forward",
    "exact_valid_conv",
    "EXACT_NETWORKS",
    "ExactNetworks",
    "exact_exp",
    "exact_tanh",
    "exact_gelu",
]

#: activations (and biases) are multiples of 2**-GRID_BITS
GRID_BITS = 14
#: each weight tensor keeps this many significant bits (relative to its largest magnitude)
WEIGHT_BITS = 14
_GRID = float(2**GRID_BITS)
#: every partial sum must stay below this many units of its grid (2**53 is float64's exact range)
_SUM_LIMIT = float(2**52)


class ExactPathError(RdpflexError):
    """A network cannot be evaluated exactly (unsupported layer, or values beyond the exact range)."""


def to_grid(x: Tensor) -> Tensor:
    """Round to the activation grid (multiplying by a power of two and rounding are exact)."""
    return torch.round(x * _GRID) / _GRID


def _to_grid_(x: Tensor) -> Tensor:
    """:func:`to_grid` in place, on a tensor nothing else holds (the same values, no new allocations)."""
    return x.mul_(_GRID).round_().div_(_GRID)


# ------------------------------------------------------------------------- exact nonlinearities

_LN2 = math.log(2.0)
# Taylor coefficients of exp(r) for |r| <= ln(2)/2, degree 13: truncation error < 1e-17.
_EXP_COEFFS = [1.0 / math.factorial(k) for k in range(13, -1, -1)]


def exact_exp(x: Tensor) -> Tensor:
    """exp(x) in float64 from correctly rounded operations only: identical on every device.

    x = k ln2 + r with |r| <= ln2/2; exp(r) by Horner's rule; 2**k assembled from its bits.
    """
    x = x.clamp(-700.0, 700.0)
    k = torch.floor(x / _LN2 + 0.5)
    r = x - k * _LN2
    p = torch.full_like(r, _EXP_COEFFS[0])
    for c in _EXP_COEFFS[1:]:
        p = p * r + c
    two_k = ((k.to(torch.int64) + 1023) << 52).view(torch.float64)
    return p * two_k


def exact_tanh(x: Tensor) -> Tensor:
    """tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|), with :func:`exact_exp`."""
    e = exact_exp(-2.0 * x.abs())
    return torch.where(x < 0, -1.0, 1.0) * ((1.0 - e) / (1.0 + e))


# Abramowitz & Stegun 7.1.26: erf(x) = 1 - t (a1 + t (a2 + ...)) exp(-x^2), t = 1/(1 + p x),
# absolute error below 1.5e-7 (far under the 2**-14 activation grid).
_AS_P = 0.3275911
_AS_A = [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592]


def _exact_erf(x: Tensor) -> Tensor:
    ax = x.abs()
    t = 1.0 / (1.0 + _AS_P * ax)
    poly = torch.full_like(t, _AS_A[0])
    for a in _AS_A[1:]:
        poly = poly * t + a
    y = 1.0 - (poly * t) * exact_exp(-(ax * ax))
    return torch.where(x < 0, -y, y)


def exact_gelu(x: Tensor) -> Tensor:
    """GELU(x) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2 (Hendrycks & Gimpel 2016, arXiv:1606.08415)."""
    return x * (1.0 + _exact_erf(x / math.sqrt(2.0))) * 0.5


# ---------------------------------------------------------------------------- the interpreter


def _quantised_weight(w: Tensor) -> tuple[Tensor, float]:
    """(weight rounded to WEIGHT_BITS significant bits, 1 / its unit). Deterministic: max and frexp are exact."""
    w = w.detach().to(torch.float64)
    peak = w.abs().max()
    if float(peak) == 0.0:
        return torch.zeros_like(w), 1.0
    exponent = int(torch.frexp(peak).exponent)
    scale = 2.0 ** (WEIGHT_BITS - exponent)  # |w| * scale < 2**WEIGHT_BITS
    return torch.round(w * scale) / scale, scale


#: per module: (parameter versions and storage, (weight, weight scale, bias, max row L1 of |weight|, max |bias|))
_FixedPoint = tuple[Tensor, float, Tensor | None, float, float]
_FIXED_POINT: WeakKeyDictionary[nn.Module, tuple[tuple[Any, ...], _FixedPoint]] = WeakKeyDictionary()


def _fixed_point_params(
    m: nn.Conv2d | nn.ConvTranspose2d, l1_dims: tuple[int, ...]
) -> tuple[Tensor, float, Tensor | None, float, float]:
    """A layer's parameters on their grids, computed once and reused until the parameters change.

    The raster-scan context model calls the same small networks once per latent position; the key
    (version counters and storage of weight and bias) invalidates the entry after an optimiser step,
    ``load_state_dict`` or a move to another device or dtype.
    """
    key = tuple((t._version, t.data_ptr(), t.dtype, t.device) for t in (m.weight, m.bias) if t is not None)
    hit = _FIXED_POINT.get(m)
    if hit is not None and hit[0] == key:
        return hit[1]
    weight = m.weight * cast(Tensor, m.mask) if hasattr(m, "mask") else m.weight  # compressai MaskedConv2d
    w, scale = _quantised_weight(weight)
    b = to_grid(m.bias.detach().to(torch.float64)) if m.bias is not None else None
    l1 = float(w.abs().sum(dim=l1_dims).max())  # exact: few terms on a coarse grid
    params = (w, scale, b, l1, float(b.abs().max()) if b is not None else 0.0)
    _FIXED_POINT[m] = (key, params)
    return params


def _checked_params(
    m: nn.Conv2d | nn.ConvTranspose2d, x: Tensor, l1_dims: tuple[int, ...]
) -> tuple[Tensor, Tensor | None]:
    """(weight, bias) on their grids, after checking that every partial sum of ``m`` on ``x`` stays
    exact: it is bounded by max_o sum|w_o| * max|x| (+ |b|), which must stay below 2**52 units."""
    w, scale, b, l1, b_max = _fixed_point_params(m, l1_dims)
    bound = l1 * scale * float(x.abs().max()) * _GRID + b_max * scale * _GRID
    if not bound < _SUM_LIMIT:
        raise ExactPathError(
            f"exact entropy path: values in {type(m).__name__} exceed the exact float64 range (bound "
            f"{bound:.3g} >= 2**52 units); "
            "the latent is far outside what the codec was trained on"
        )
    return w, b


def gemm_conv2d(x: Tensor, w: Tensor, stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
    """``F.conv2d`` (no bias) as im2col and one matrix product: sums of exact products on any device."""
    n, _, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    (s0, s1), (p0, p1), (d0, d1) = _pair(stride), _pair(padding), _pair(dilation)
    oh, ow = (h + 2 * p0 - d0 * (kh - 1) - 1) // s0 + 1, (wd + 2 * p1 - d1 * (kw - 1) - 1) // s1 + 1
    cols = F.unfold(x, (kh, kw), dilation=(d0, d1), padding=(p0, p1), stride=(s0, s1))
    cols = cols.view(n, groups, cin_g * kh * kw, oh * ow)
    out = w.reshape(groups, cout // groups, cin_g * kh * kw) @ cols
    return out.reshape(n, cout, oh, ow)


def gemm_conv_transpose2d(
    x: Tensor, w: Tensor, stride: Any, padding: Any, output_padding: Any, dilation: Any
) -> Tensor:
    """``F.conv_transpose2d`` (no bias, one group) as one matrix product and col2im: exact on any device."""
    n, cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    (s0, s1), (p0, p1), (o0, o1), (d0, d1) = _pair(stride), _pair(padding), _pair(output_padding), _pair(dilation)
    oh, ow = (h - 1) * s0 - 2 * p0 + d0 * (kh - 1) + o0 + 1, (wd - 1) * s1 - 2 * p1 + d1 * (kw - 1) + o1 + 1
    cols = w.reshape(cin, cout * kh * kw).t() @ x.reshape(n, cin, h * wd)
    return F.fold(cols, (oh, ow), (kh, kw), dilation=(d0, d1), padding=(p0, p1), stride=(s0, s1))


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _conv(m: nn.Conv2d, x: Tensor, padding: Any = None) -> Tensor:
    if m.padding_mode != "zeros" or isinstance(m.padding, str):
        raise ExactPathError(
            f"exact entropy path: padding_mode={m.padding_mode!r}, padding={m.padding!r} is not supported"
        )
    w, b = _checked_params(m, x, (1, 2, 3))
    pad = m.padding if padding is None else padding
    if x.is_cuda:  # never cuDNN: its FFT and Winograd algorithms do not sum exact products
        out = gemm_conv2d(x, w, m.stride, pad, m.dilation, m.groups)
    else:  # float64 convolutions on the CPU are im2col + GEMM already
        out = F.conv2d(x, w, None, m.stride, pad, m.dilation, m.groups)
    return out if b is None else out.add_(b.view(1, -1, 1, 1))


def _deconv(m: nn.ConvTranspose2d, x: Tensor) -> Tensor:
    w, b = _checked_params(m, x, (0, 2, 3))
    if x.is_cuda and m.groups == 1:
        out = gemm_conv_transpose2d(x, w, m.stride, m.padding, m.output_padding, m.dilation)
    elif x.is_cuda:
        raise ExactPathError("exact entropy path: grouped transposed convolutions are not supported on a GPU")
    else:
        out = F.conv_transpose2d(
            x, w, None, m.stride, cast(tuple[int, int], m.padding), m.output_padding, m.groups, m.dilation
        )
    return out if b is None else out.add_(b.view(1, -1, 1, 1))


def _layer(m: nn.Module, x: Tensor) -> Tensor:
    """One layer on grid values; the result is rounded back to the grid."""
    if isinstance(m, nn.Sequential):
        for child in m:
            x = _layer(child, x)
        return x
    if isinstance(m, nn.Identity):
        return x
    if isinstance(m, nn.PixelShuffle):
        return F.pixel_shuffle(x, m.upscale_factor)
    if isinstance(m, nn.ReLU):
        return x.clamp_min(0.0)
    if isinstance(m, nn.Conv2d):
        out = _conv(m, x)
    elif isinstance(m, nn.ConvTranspose2d):
        out = _deconv(m, x)
    elif isinstance(m, nn.LeakyReLU):
        out = torch.where(x >= 0, x, x * m.negative_slope)
    elif isinstance(m, nn.GELU):
        out = exact_gelu(x)
    elif isinstance(m, nn.Tanh):
        out = exact_tanh(x)
    else:
        raise ExactPathError(
            f"exact entropy path: layer {type(m).__name__} is not supported "
            "(Conv2d, ConvTranspose2d, MaskedConv2d, ReLU, LeakyReLU, GELU, Tanh, PixelShuffle, "
            "Identity, Sequential are)"
        )
    return _to_grid_(out)


def exact_forward(module: nn.Module, x: Tensor) -> Tensor:
    """Evaluate ``module`` on ``x`` with order-independent arithmetic; float32 result on the grid."""
    return _layer(module, _to_grid_(x.detach().to(torch.float64, copy=True))).to(x.dtype)


def exact_valid_conv(m: nn.Conv2d, x: Tensor) -> Tensor:
    """``m`` applied without padding (a raster-scan context crop), exactly; float32 on the grid."""
    return _to_grid_(_conv(m, _to_grid_(x.detach().to(torch.float64, copy=True)), padding=0)).to(x.dtype)


class ExactNetworks:
    """:class:`~rdpflex.codecs.entropy_coder.ParameterNetworks` in fixed point: what the exact entropy path runs."""

    def __call__(self, net: nn.Module, x: Tensor) -> Tensor:
        return exact_forward(net, x)

    def context(self, conv: nn.Conv2d, y_crop: Tensor) -> Tensor:
        return exact_valid_conv(conv, y_crop)


EXACT_NETWORKS = ExactNetworks()
