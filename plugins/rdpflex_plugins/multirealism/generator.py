"""The beta-conditional generator G(y_hat, beta) (Agustsson et al. 2023, Sec. 3.2, Fig. 5).

``elic`` codecs — G mirrors the ELIC synthesis of the codec (:func:`rdpflex.codecs.elic.elic_synthesis`)
with width ``N`` (paper: N=256 instead of the codec's 192) and every residual bottleneck block
replaced by the conditional RB of Fig. 5::

    y_hat ─Attn(M)─deconv5↑─[CRB]xB─deconv5↑─Attn(N)─[CRB]xB─deconv5↑─[CRB]xB─deconv5↑─► x_hat (3 ch)

    CRB(x) = x + off3(conv1x1(relu(off2(conv3x3(relu(off1(conv1x1(x))))))))
    off_i  = W_i f(beta) added (FourierCond) or table scale/bias (TableCond), see conditioning.py

The attention blocks (whose inner residual units are part of the attention module, not G's
residual blocks) stay unconditional.

Other codecs (``msh``, CompressAI zoo hyperpriors — GDN synthesis without residual blocks): G
keeps the same upsampling structure as g_s (4 x deconv5 stride 2, inverse GDN after the first
three) and **inserts** ``blocks`` conditional RBs at each of the three inner scales::

    y_hat ─deconv5↑─IGDN─[CRB]xB─deconv5↑─IGDN─[CRB]xB─deconv5↑─IGDN─[CRB]xB─deconv5↑─► x_hat

``cond="none"`` gives the same network without beta conditioning (the fixed-beta GAN baseline
of Sec. 4.3). The output is the unclamped image (training uses it raw; the decoder clamps).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from compressai.layers import GDN, AttentionBlock
from compressai.models.utils import deconv
from torch import Tensor, nn

from rdpflex_plugins.multirealism.conditioning import (
    BETA_TRAIN_MAX,
    COND_HIDDEN,
    FOURIER_L,
    BetaEmbedding,
    ConditionalOffset,
    OffsetParams,
    as_beta,
    build_embedding,
)

#: codec architectures whose synthesis G mirrors block for block; every other arch gets the
#: "gdn" layout (g_s upsampling structure + inserted conditional residual blocks)
ELIC_ARCHS = ("elic",)
#: how many precomputed betas the generator keeps (least recently used are dropped)
CACHE_SIZE = 16


class ConditionalResidualBottleneck(nn.Module):
    """ELIC's residual bottleneck block (conv1x1 -> conv3x3 -> conv1x1, N/2 inside) with a beta
    offset after each conv, before its activation: the conditional RB of Fig. 5."""

    def __init__(self, N: int, embedding: BetaEmbedding) -> None:
        super().__init__()
        mid = max(N // 2, 1)
        self.conv1 = nn.Conv2d(N, mid, kernel_size=1)
        self.off1 = embedding.make_offset(mid)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, padding=1)
        self.off2 = embedding.make_offset(mid)
        self.conv3 = nn.Conv2d(mid, N, kernel_size=1)
        self.off3 = embedding.make_offset(N)

    def offsets(self) -> tuple[ConditionalOffset, ...]:
        return (self.off1, self.off2, self.off3)

    def forward(self, x: Tensor, offsets: dict[ConditionalOffset, OffsetParams]) -> Tensor:
        out = torch.relu(ConditionalOffset.modulate(self.conv1(x), offsets[self.off1]))
        out = torch.relu(ConditionalOffset.modulate(self.conv2(out), offsets[self.off2]))
        out = ConditionalOffset.modulate(self.conv3(out), offsets[self.off3])
        return x + out


class MultiRealismGenerator(nn.Module):
    """G(y_hat, beta): (B, M, h, w) latent + beta -> (B, 3, 16h, 16w) unclamped image.

    ``beta`` is a float, a 0-dim tensor, or a (B,) tensor (one realism weight per example, as
    in training where beta ~ U(0, beta_train_max) per example).

    Precomputation (Sec. 3.3): :meth:`precompute` computes the per-conv offsets of a beta once;
    later calls ``G(y_hat, beta)`` with the same scalar beta in eval mode reuse them. The cache is
    dropped on :meth:`train`, on device/dtype moves and on :meth:`load_state_dict`.
    """

    def __init__(
        self,
        codec_arch: str,
        latent_channels: int,
        N: int = 256,
        blocks: int = 3,
        cond: str = "fourier",
        beta_train_max: float = BETA_TRAIN_MAX,
        cond_hidden: int = COND_HIDDEN,
        table_bins: int = 64,
        fourier_L: int = FOURIER_L,
        fourier_scale: float = 1.0,
        cond_activation: str = "relu",
        cond_anchor: bool = False,
        cond_gain: bool = False,
    ) -> None:
        super().__init__()
        self.layout = "elic" if codec_arch in ELIC_ARCHS else "gdn"
        self.cfg: dict[str, Any] = {
            "codec_arch": codec_arch,
            "latent_channels": int(latent_channels),
            "N": int(N),
            "blocks": int(blocks),
            "cond": cond,
            "beta_train_max": float(beta_train_max),
            "cond_hidden": int(cond_hidden),
            "table_bins": int(table_bins),
            "fourier_L": int(fourier_L),
            "fourier_scale": float(fourier_scale),
            "cond_activation": cond_activation,
            "cond_anchor": bool(cond_anchor),
            "cond_gain": bool(cond_gain),
        }
        self.embedding = build_embedding(
            cond,
            beta_train_max=beta_train_max,
            cond_hidden=cond_hidden,
            table_bins=table_bins,
            fourier_L=fourier_L,
            fourier_scale=fourier_scale,
            cond_activation=cond_activation,
            cond_anchor=cond_anchor,
            cond_gain=cond_gain,
        )
        M = latent_channels

        def crbs() -> list[nn.Module]:
            return [ConditionalResidualBottleneck(N, self.embedding) for _ in range(blocks)]

        if self.layout == "elic":  # mirrors rdpflex.codecs.elic.elic_synthesis
            layers = [
                AttentionBlock(M),
                deconv(M, N, kernel_size=5, stride=2),
                *crbs(),
                deconv(N, N, kernel_size=5, stride=2),
                AttentionBlock(N),
                *crbs(),
                deconv(N, N, kernel_size=5, stride=2),
                *crbs(),
                deconv(N, 3, kernel_size=5, stride=2),
            ]
        else:  # g_s of the hyperprior codecs + conditional RBs inserted at each scale
            layers = [
                deconv(M, N),
                GDN(N, inverse=True),
                *crbs(),
                deconv(N, N),
                GDN(N, inverse=True),
                *crbs(),
                deconv(N, N),
                GDN(N, inverse=True),
                *crbs(),
                deconv(N, 3),
            ]
        self.body = nn.ModuleList(layers)
        self._cache: OrderedDict[float, dict[ConditionalOffset, OffsetParams]] = OrderedDict()

    # -- config --------------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments: ``MultiRealismGenerator(**g.config)`` rebuilds it."""
        return dict(self.cfg)

    @property
    def cond(self) -> str:
        return self.cfg["cond"]

    def conditional_offsets(self) -> list[ConditionalOffset]:
        return [off for m in self.body if isinstance(m, ConditionalResidualBottleneck) for off in m.offsets()]

    # -- beta offsets --------------------------------------------------------------------------
    def offsets(
        self, beta: float | Tensor, device: torch.device | None = None
    ) -> dict[ConditionalOffset, OffsetParams]:
        """Per-conv offset tensors for ``beta`` (computed from the global features once)."""
        if device is None:
            device = next(self.parameters()).device
        features = self.embedding(as_beta(beta, device=device))
        return {off: off.params(features) for off in self.conditional_offsets()}

    @torch.no_grad()
    def precompute(self, beta: float) -> None:
        """Compute and cache the offsets of a scalar ``beta`` for inference (Sec. 3.3). Safe from several
        threads: every cache operation is one atomic dict step, and a lost race only recomputes."""
        key = float(beta)
        if key not in self._cache:
            self._cache[key] = self.offsets(key)  # a pure function of beta: a thread racing here stores the same
        with contextlib.suppress(KeyError):  # each step is atomic; another thread may have dropped the key
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        self._cache.clear()

    def _cached(self, beta: float | Tensor) -> dict[ConditionalOffset, OffsetParams] | None:
        if self.training or torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters()):
            return None
        if isinstance(beta, Tensor):
            if beta.numel() != 1:
                return None
            beta = beta.item()
        return self._cache.get(float(beta))

    # -- forward -------------------------------------------------------------------------------
    def forward(self, y_hat: Tensor, beta: float | Tensor) -> Tensor:
        if isinstance(beta, Tensor):
            as_beta(beta, batch=y_hat.shape[0])  # shape check
        offsets = self._cached(beta)
        if offsets is None:
            offsets = self.offsets(beta, device=y_hat.device)
        x = y_hat
        for m in self.body:
            x = m(x, offsets) if isinstance(m, ConditionalResidualBottleneck) else m(x)
        return x

    # -- cache invalidation --------------------------------------------------------------------
    def train(self, mode: bool = True) -> "MultiRealismGenerator":
        self.clear_cache()
        return super().train(mode)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> MultiRealismGenerator:  # .to(), .half()
        self.clear_cache()
        return super()._apply(fn, recurse)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        self.clear_cache()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


def build_generator(
    codec_arch: str,
    latent_channels: int,
    N: int = 256,
    blocks: int = 3,
    cond: str = "fourier",
    beta_train_max: float = BETA_TRAIN_MAX,
    **kwargs: Any,
) -> MultiRealismGenerator:
    """G for a codec architecture (``"elic"`` mirrors ELIC; others use the GDN layout).

    ``cond``: ``"fourier"`` (paper), ``"table"`` (ablation) or ``"none"`` (fixed-beta GAN baseline).
    Extra keyword arguments: ``cond_hidden`` (512), ``table_bins`` (64), ``fourier_L`` (10),
    ``fourier_scale`` (1: raw beta; training builds use 1 / beta_train_max).
    """
    return MultiRealismGenerator(
        codec_arch, latent_channels, N=N, blocks=blocks, cond=cond, beta_train_max=beta_train_max, **kwargs
    )


def build_generator_for(codec: Any, **kwargs: Any) -> MultiRealismGenerator:
    """G for a :class:`rdpflex.codecs.Codec` instance (arch and latent channels taken from it)."""
    from rdpflex.errors import RdpflexError

    if getattr(codec, "latent_stride", 16) != 16:
        raise RdpflexError(
            f"multirealism generators upsample by 16; codec {codec.arch!r} has latent stride {codec.latent_stride}"
        )
    return build_generator(codec.arch, codec.latent_channels, **kwargs)
