"""HiFiC's conditional patch discriminator D(y_hat, x) (Mentzer et al. 2020; used by Agustsson et al. 2023,
arXiv:2212.13824, Sec. 3.1).

::

    y_hat ─stop-grad─conv3x3→12─LeakyReLU(0.2)─nearest↑ to (H, W)─┐
                                                                   concat ─► conv4x4 s2 64 ─LReLU─conv4x4 s2 128 ─LReLU─
    x (B, 3, H, W) ────────────────────────────────────────────────┘        conv4x4 s2 256 ─LReLU─conv4x4 s1 512 ─LReLU─
                                                                            conv1x1 → 1: per-patch logits
                                                                                         (B, 1, H/8, W/8)

Spectral normalisation on every conv, so each layer is (about) 1-Lipschitz: the residual between a
real image and a 29 dB reconstruction (RMS ~0.035 on [0, 1]) then barely moves the logits, and a small
D learns to see it only after many steps. ``input_scale`` multiplies the image input (2: the width of
[-1, 1] images) to give D that gain back at small scale. D outputs *logits* l; D(y_hat, x) = sigmoid(l) is the
probability that x is a real image for y_hat (Eq. 2, 3). Widths are configurable (small on a CPU).
Only used in training: it is not part of a saved ``multirealism`` decoder.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

#: HiFiC widths of the four 4x4 convs
HIFIC_CHANNELS = (64, 128, 256, 512)


class ConditionalPatchDiscriminator(nn.Module):
    """D(y_hat, x) -> per-patch logits. ``y_hat`` is detached inside (stop-gradient, as in HiFiC)."""

    def __init__(
        self,
        latent_channels: int,
        channels: tuple[int, ...] | list[int] = HIFIC_CHANNELS,
        latent_features: int = 12,
        negative_slope: float = 0.2,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2:
            raise ValueError("the discriminator needs at least one stride-2 conv and the stride-1 conv")
        self.cfg: dict[str, Any] = {
            "latent_channels": int(latent_channels),
            "channels": list(channels),
            "latent_features": int(latent_features),
            "negative_slope": float(negative_slope),
            "input_scale": float(input_scale),
        }
        self.slope, self.input_scale = negative_slope, float(input_scale)
        self.latent_conv = spectral_norm(nn.Conv2d(latent_channels, latent_features, kernel_size=3, padding=1))
        convs: list[nn.Module] = []
        c_in = 3 + latent_features
        for c in channels[:-1]:
            convs.append(spectral_norm(nn.Conv2d(c_in, c, kernel_size=4, stride=2, padding=1)))
            c_in = c
        # stride-1 4x4 conv with TensorFlow's "same" padding (1 before, 2 after), as in HiFiC
        convs.append(
            nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), spectral_norm(nn.Conv2d(c_in, channels[-1], kernel_size=4)))
        )
        self.convs = nn.ModuleList(convs)
        self.head = spectral_norm(nn.Conv2d(channels[-1], 1, kernel_size=1))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.cfg)

    def forward(self, y_hat: Tensor, x: Tensor) -> Tensor:
        h = F.leaky_relu(self.latent_conv(y_hat.detach()), self.slope)
        h = F.interpolate(h, size=x.shape[-2:], mode="nearest")
        h = torch.cat([x * self.input_scale, h], dim=1)
        for conv in self.convs:
            h = F.leaky_relu(conv(h), self.slope)
        return self.head(h)


def build_discriminator(
    latent_channels: int, channels: tuple[int, ...] | list[int] = HIFIC_CHANNELS, **kwargs: Any
) -> ConditionalPatchDiscriminator:
    """HiFiC's D for latents of ``latent_channels`` (paper widths by default)."""
    return ConditionalPatchDiscriminator(latent_channels, channels, **kwargs)
