"""Perceptual training losses (LPIPS, ST-LPIPS), shared by the decoder families that use a perceptual term.

``perceptual: lpips | st-lpips | none`` in a recipe picks one through :func:`perceptual_loss`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import Tensor

from rdpflex.metrics.image import build_lpips
from rdpflex.metrics.weights import ALEXNET

PerceptualLoss = Callable[[Tensor, Tensor], Tensor]
PerceptualName = Literal["lpips", "st-lpips", "none"]
#: the choices of a recipe's ``perceptual`` setting
PERCEPTUAL_CHOICES = ("lpips", "st-lpips", "none")


def lpips_loss(weights: str | None = None) -> PerceptualLoss:
    """LPIPS(alex)(x, x_hat) per example, images in [0, 1]. Never a randomly initialised backbone:
    the AlexNet weights come from ``weights`` or the torch hub cache (WeightsMissingError names the file)."""
    model = build_lpips(ALEXNET.resolve(weights))

    def lpips_fn(x: Tensor, x_hat: Tensor) -> Tensor:
        m = model.to(x.device)
        return m(x_hat.float() * 2 - 1, x.float() * 2 - 1).flatten(1).mean(1)

    return lpips_fn


def perceptual_loss(name: str, weights: str | None = None) -> PerceptualLoss | None:
    """The recipe's ``perceptual`` term: LPIPS(alex) (AlexNet weights from ``weights`` or the torch hub
    cache), ST-LPIPS(alex) (weights from the stlpips-pytorch wheel, or ``weights``), or None for ``none``."""
    if name == "none":
        return None
    if name == "lpips":
        return lpips_loss(weights)
    if name == "st-lpips":
        from rdpflex.metrics.stlpips import stlpips_loss

        return stlpips_loss("alex", weights)
    raise ValueError(f"unknown perceptual loss {name!r}; choose one of {', '.join(PERCEPTUAL_CHOICES)}")
