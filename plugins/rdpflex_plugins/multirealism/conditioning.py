"""beta-conditioning of the generator: FourierCond and TableCond (Agustsson, Minnen, Toderici,
Mentzer, "Multi-Realism Image Compression with a Conditional Generator", CVPR 2023, arXiv:2212.13824,
Sec. 3.3, Fig. 5).

Both schemes share one interface, so the generator does not care which one it uses::

    beta (B,) ──BetaEmbedding──► features  (computed once per forward, "global" in the paper)
    conv_i(x) ──ConditionalOffset_i(features)──► conv_i(x) + W_i f(beta)        FourierCond
                                               ► conv_i(x) * s_i(beta) + b_i(beta)  TableCond

- :class:`FourierCond` — f(beta) = MLP(Fourier(beta)): NeRF Fourier features with L=10
  (the positional encoding gamma of Mildenhall et al., "NeRF: Representing Scenes as Neural Radiance
  Fields for View Synthesis", ECCV 2020, arXiv:2003.08934, Sec. 5.1; plus beta itself: 21 dims), then
  Linear(21, 512) ReLU Linear(512, 512) ReLU.
  Each conditional conv owns a bias-free projection W_i: R^512 -> R^{C_i}; W_i f(beta) is
  added to the conv output (broadcast over H, W). This is the paper's main model. Two options depart
  from it: ``anchor`` (f(beta) - f(0): G(y, 0) is exactly the unconditional G) and ``gain`` (FiLM's
  per-channel scale 1 + S_i f(beta) beside the additive offset).
- :class:`TableCond` — the ablation (Sec. 3.3, 5.2.2, inspired by multi-rate codecs): a learned
  lookup table of per-channel scales and biases indexed by beta. rdpflex uses ``bins`` table
  rows placed uniformly on [0, beta_train_max] and interpolates linearly between neighbouring
  rows, so the table is differentiable and defined for any beta (clamped to the table's ends).
- :class:`NoCond` — no conditioning (the fixed-beta "GAN baseline" of Sec. 4.3).

Offsets depend on beta only, so for a fixed beta they can be computed once and reused ("for any
beta, we can pre-compute the offset that gets applied to the residual blocks", Sec. 3.3):
:meth:`ConditionalOffset.params` returns the per-conv tensors, :meth:`ConditionalOffset.apply`
uses them; the generator caches them per beta (``MultiRealismGenerator.precompute``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

#: the paper's training range of beta, U(0, 5.12) (Sec. 3.2)
BETA_TRAIN_MAX = 5.12
#: NeRF frequency count L (Sec. 3.3)
FOURIER_L = 10
#: width of the two dense layers of FourierCond's MLP (Sec. 3.3)
COND_HIDDEN = 512

#: FourierCond MLP activations: the paper's ReLU, or SiLU, whose units cannot die (over beta's 1-D range a
#: ReLU unit whose pre-activation turns negative everywhere never recovers: measured on the demo G)
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "silu": nn.SiLU}

#: per-conv offset tensors: (scale or None, shift or None), each (B or 1, C, 1, 1)
OffsetParams = tuple[Tensor | None, Tensor | None]


def as_beta(beta: float | Tensor, batch: int | None = None, device: torch.device | None = None) -> Tensor:
    """beta as a float32 tensor of shape (B,) (a scalar gives (1,), broadcast by the generator)."""
    b = torch.as_tensor(beta, dtype=torch.float32, device=device)
    if b.dim() == 0:
        b = b.reshape(1)
    if b.dim() != 1:
        raise ValueError(f"beta must be a scalar or a (batch,) tensor, got shape {tuple(b.shape)}")
    if batch is not None and b.shape[0] not in (1, batch):
        raise ValueError(f"beta has {b.shape[0]} values for a batch of {batch}")
    return b


def fourier_features(beta: Tensor, L: int = FOURIER_L, scale: float = 1.0) -> Tensor:
    """NeRF positional encoding of beta (Mildenhall et al. 2020, arXiv:2003.08934, Sec. 5.1) with beta itself
    prepended: (B,) -> (B, 1 + 2L).

    ``[b, sin(2^0 pi b), cos(2^0 pi b), ..., sin(2^(L-1) pi b), cos(2^(L-1) pi b)]`` with ``b = scale * beta``
    (21 dims for L=10, as in Agustsson et al. 2023, arXiv:2212.13824, Sec. 3.3). NeRF encodes
    coordinates normalised to [-1, 1]; ``scale = 1 / beta_train_max`` does the same for beta. With
    ``scale = 1`` (raw beta in [0, 5.12]) the top frequencies wrap hundreds of times over the range,
    so those features are noise to the MLP (measured: the conditioning of such a G died, see
    docs/decoders/multirealism.md).
    """
    beta = beta.reshape(-1, 1).float() * scale
    freqs = (2.0 ** torch.arange(L, device=beta.device, dtype=beta.dtype)) * math.pi  # (L,)
    angles = beta * freqs  # (B, L)
    sincos = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(beta.shape[0], 2 * L)
    return torch.cat([beta, sincos], dim=1)


class ConditionalOffset(nn.Module):
    """The beta-dependent modulation applied right after one conv (Fig. 5, right).

    ``offset(x, features)`` == ``offset.modulate(x, offset.params(features))``; the split lets the
    generator precompute :meth:`params` once per beta.
    """

    channels: int

    def params(self, features: Tensor | None) -> OffsetParams:
        raise NotImplementedError

    @staticmethod
    def modulate(x: Tensor, params: OffsetParams) -> Tensor:
        """``x * scale + shift`` (either may be absent). Not ``apply``: that is nn.Module's, which it shadowed."""
        scale, shift = params
        if scale is not None:
            x = x * scale
        if shift is not None:
            x = x + shift
        return x

    def forward(self, x: Tensor, features: Tensor | None) -> Tensor:
        return self.modulate(x, self.params(features))


class BetaEmbedding(nn.Module):
    """Global beta features, shared by all conditional convs; also makes the per-conv offsets."""

    kind: str

    def forward(self, beta: Tensor) -> Tensor | None:  # (B,) -> features
        raise NotImplementedError

    def make_offset(self, channels: int) -> ConditionalOffset:
        raise NotImplementedError

    def config(self) -> dict:
        return {}


# -- FourierCond ---------------------------------------------------------------------------------
class FourierOffset(ConditionalOffset):
    """W_i f(beta): a bias-free Linear(hidden, C_i) added to the conv output (Fig. 5).

    With ``gain`` it also scales the conv output by 1 + S_i f(beta) (a second bias-free projection): the
    feature-wise affine modulation of FiLM (Perez et al., "FiLM: Visual Reasoning with a General Conditioning
    Layer", AAAI 2018, arXiv:1709.07871), which can amplify or damp what a channel carries, where an additive
    offset only shifts it.
    """

    def __init__(self, hidden: int, channels: int, gain: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.proj = nn.Linear(hidden, channels, bias=False)
        self.gain = nn.Linear(hidden, channels, bias=False) if gain else None

    def params(self, features: Tensor | None) -> OffsetParams:
        assert features is not None, "FourierOffset needs FourierCond features"
        scale = None if self.gain is None else 1.0 + self.gain(features)[:, :, None, None]
        return scale, self.proj(features)[:, :, None, None]


class FourierCond(BetaEmbedding):
    """f(beta) = MLP(Fourier(scale * beta)) with L=10 and a 2 x ``hidden`` ReLU MLP (paper: 512), Sec. 3.3."""

    kind = "fourier"

    def __init__(
        self,
        hidden: int = COND_HIDDEN,
        L: int = FOURIER_L,
        scale: float = 1.0,
        activation: str = "relu",
        anchor: bool = False,
        gain: bool = False,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown FourierCond activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.hidden, self.L, self.scale, self.activation = hidden, L, float(scale), activation
        self.anchor, self.gain = bool(anchor), bool(gain)
        act = ACTIVATIONS[activation]
        self.mlp = nn.Sequential(nn.Linear(1 + 2 * L, hidden), act(), nn.Linear(hidden, hidden), act())

    def forward(self, beta: Tensor) -> Tensor:
        """f(beta); anchored: f(beta) - f(0), so every offset vanishes at beta = 0 and G(y, 0) is the
        unconditional G exactly. The conditioning then learns only how beta departs from the distortion G,
        instead of spending most of its gradient on the beta-independent shift the biases already hold."""
        features = self.mlp(fourier_features(beta, self.L, self.scale))
        if self.anchor:
            features = features - self.mlp(fourier_features(beta.new_zeros(1), self.L, self.scale))
            # exactly 0 at beta = 0: a batched matmul may round the two rows differently
            features = torch.where(beta.reshape(-1, 1) == 0, 0.0, features)
        return features

    def make_offset(self, channels: int) -> ConditionalOffset:
        return FourierOffset(self.hidden, channels, gain=self.gain)

    def config(self) -> dict:
        return {
            "cond_hidden": self.hidden,
            "fourier_L": self.L,
            "fourier_scale": self.scale,
            "cond_activation": self.activation,
            "cond_anchor": self.anchor,
            "cond_gain": self.gain,
        }


# -- TableCond -----------------------------------------------------------------------------------
class TableOffset(ConditionalOffset):
    """x * scale(beta) + bias(beta): rows of a (bins, C_i) table mixed by the interpolation weights.

    Initialised near the identity (scale 1, bias 0) with a small random perturbation (std
    ``init_std``) so that an untrained generator already depends on beta, like FourierCond does.
    """

    def __init__(self, bins: int, channels: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.channels = channels
        self.scale = nn.Parameter(1.0 + init_std * torch.randn(bins, channels))
        self.bias = nn.Parameter(init_std * torch.randn(bins, channels))

    def params(self, features: Tensor | None) -> OffsetParams:
        assert features is not None, "TableOffset needs TableCond interpolation weights"
        return (features @ self.scale)[:, :, None, None], (features @ self.bias)[:, :, None, None]


class TableCond(BetaEmbedding):
    """Lookup table indexed by beta (the TableCond ablation, Sec. 3.3 / 5.2.2).

    The "features" are linear-interpolation weights over ``bins`` rows at
    ``linspace(0, beta_train_max, bins)``: (B, bins), at most two non-zero entries per row that
    sum to 1. beta outside [0, beta_train_max] is clamped to the end rows.
    """

    kind = "table"

    def __init__(self, bins: int = 64, beta_train_max: float = BETA_TRAIN_MAX) -> None:
        super().__init__()
        if bins < 2:
            raise ValueError("TableCond needs at least 2 bins")
        self.bins, self.beta_train_max = bins, float(beta_train_max)

    def forward(self, beta: Tensor) -> Tensor:
        pos = (beta.float() / self.beta_train_max * (self.bins - 1)).clamp(0, self.bins - 1)
        lo = pos.floor().long().clamp(max=self.bins - 2)
        frac = (pos - lo.float()).unsqueeze(1)
        w = torch.zeros(beta.shape[0], self.bins, device=beta.device, dtype=torch.float32)
        w.scatter_(1, lo.unsqueeze(1), 1.0 - frac)
        w.scatter_add_(1, (lo + 1).unsqueeze(1), frac)
        return w

    def make_offset(self, channels: int) -> ConditionalOffset:
        return TableOffset(self.bins, channels)

    def config(self) -> dict:
        return {"table_bins": self.bins}


# -- no conditioning -----------------------------------------------------------------------------
class IdentityOffset(ConditionalOffset):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def params(self, features: Tensor | None) -> OffsetParams:
        return None, None


class NoCond(BetaEmbedding):
    """beta is ignored: the non-conditional G of the fixed-beta GAN baseline (Sec. 4.3)."""

    kind = "none"

    def forward(self, beta: Tensor) -> None:
        return None

    def make_offset(self, channels: int) -> ConditionalOffset:
        return IdentityOffset(channels)


COND_TYPES = ("fourier", "table", "none")


def build_embedding(
    cond: str,
    *,
    beta_train_max: float = BETA_TRAIN_MAX,
    cond_hidden: int = COND_HIDDEN,
    table_bins: int = 64,
    fourier_L: int = FOURIER_L,
    fourier_scale: float = 1.0,
    cond_activation: str = "relu",
    cond_anchor: bool = False,
    cond_gain: bool = False,
) -> BetaEmbedding:
    """``"fourier"`` | ``"table"`` | ``"none"`` -> the matching :class:`BetaEmbedding`."""
    if cond == "fourier":
        return FourierCond(cond_hidden, fourier_L, fourier_scale, cond_activation, cond_anchor, cond_gain)
    if cond == "table":
        return TableCond(table_bins, beta_train_max)
    if cond == "none":
        return NoCond()
    raise ValueError(f"unknown beta conditioning {cond!r}; choose one of {', '.join(COND_TYPES)}")
