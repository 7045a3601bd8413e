"""LPIPS as a training loss, shared by the decoder families that use a perceptual term."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from rdpflex.metrics.image import build_lpips
from rdpflex.metrics.weights import ALEXNET

PerceptualLoss = Callable[[Tensor, Tensor], Tensor]


def lpips_loss(weights: str | None = None) -> PerceptualLoss:
    """LPIPS(alex)(x, x_hat) per example, images in [0, 1]. Never a randomly initialised backbone:
    the AlexNet weights come from ``weights`` or the torch hub cache (WeightsMissingError names the file)."""
    model = build_lpips(ALEXNET.resolve(weights))

    def lpips_fn(x: Tensor, x_hat: Tensor) -> Tensor:
        m = model.to(x.device)
        return m(x_hat.float() * 2 - 1, x.float() * 2 - 1).flatten(1).mean(1)

    return lpips_fn
