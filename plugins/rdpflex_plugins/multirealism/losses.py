"""Losses of multi-realism training (Agustsson et al. 2023, Eq. 2, 3, 4; Sec. 4.5, 5.2).

Generator / encoder loss, per example, Eq. 4::

    L_EGD(beta) = lambda' r(y_hat) + MSE(x, x_hat)/100 + beta * ( -log D(y_hat, x_hat) + C_P * LPIPS(x, x_hat) )

with lambda' = 100 lambda, MSE on images scaled to 0..255, C_P = 4.26 and beta ~ U(0, 5.12) per
example (:func:`sample_beta`). The ablations of Sec. 5.2 decouple the LPIPS weight: beta C_P = C'_P,
i.e. ``... + beta * (-log D) + C'_P * LPIPS`` (``LossWeights(decoupled_c_p=...)``).

Discriminator loss, Eq. 3 (non-saturating GAN)::

    L_D = -log(1 - D(y_hat, x_hat)) - log D(y_hat, x)

D returns logits l with D = sigmoid(l); we use -log sigmoid(l) = softplus(-l) and
-log(1 - sigmoid(l)) = softplus(l) for numerical stability. GAN terms are averaged over D's
patches. The perceptual term is a pluggable ``perceptual(x, x_hat) -> (B,)`` callable (LPIPS
when its weights exist — the training engine decides); ``None`` means weight 0, never a random
backbone.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rdpflex_plugins.multirealism.conditioning import BETA_TRAIN_MAX

#: HiFiC's LPIPS weight, kept by Agustsson et al. 2023, arXiv:2212.13824 (Sec. 5.2.1)
C_P = 4.26

Perceptual = Callable[[Tensor, Tensor], Tensor]
DiscriminatorFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class LossWeights:
    """Weights of Eq. 4.

    - ``lmbda``: the rate-distortion lambda of Eq. 1; the rate weight is lambda' = 100 lambda
      (``lmbda=0.01`` -> lambda' = 1, where Eq. 4 without GAN/LPIPS equals Eq. 1).
    - ``c_p``: C_P, LPIPS weight relative to the GAN term (multiplied by beta).
    - ``decoupled_c_p``: when set, the Sec. 5.2 ablation: LPIPS weighted by this C'_P, not by beta C_P.
    """

    lmbda: float = 0.01
    c_p: float = C_P
    decoupled_c_p: float | None = None

    @property
    def lambda_prime(self) -> float:
        return 100.0 * self.lmbda


def sample_beta(
    batch: int,
    generator: torch.Generator | None = None,
    beta_max: float = BETA_TRAIN_MAX,
    device: torch.device | str | None = None,
) -> Tensor:
    """beta ~ U(0, beta_max), one per example: (batch,) (Sec. 3.2; beta_max = 5.12 in training)."""
    if generator is not None and device is None:
        device = generator.device
    return torch.rand(batch, generator=generator, device=device) * beta_max


def _flatten(likelihoods: Any) -> list[Tensor]:
    if isinstance(likelihoods, Tensor):
        return [likelihoods]
    if isinstance(likelihoods, Mapping):
        return [t for v in likelihoods.values() for t in _flatten(v)]
    if isinstance(likelihoods, (list, tuple)):
        return [t for v in likelihoods for t in _flatten(v)]
    raise TypeError(f"likelihoods must be tensors in (nested) dicts/lists, got {type(likelihoods).__name__}")


def rate_bpp(likelihoods: Any, num_pixels: int) -> Tensor:
    """r(y_hat) in bits per pixel, per example: sum of -log2 p over every likelihood tensor / pixels -> (B,)."""
    tensors = _flatten(likelihoods)
    if not tensors:
        raise ValueError("no likelihood tensors")
    bits = functools.reduce(operator.add, (-torch.log2(t.float()).reshape(t.shape[0], -1).sum(dim=1) for t in tensors))
    return bits / num_pixels


def mse_255(x: Tensor, x_hat: Tensor) -> Tensor:
    """MSE per example on images scaled from [0, 1] to 0..255 -> (B,) (float32 even under autocast)."""
    return ((x.float() - x_hat.float()) * 255.0).pow(2).flatten(1).mean(dim=1)


def nonsaturating_g(logits: Tensor) -> Tensor:
    """-log D(y_hat, x_hat) = softplus(-l), averaged over patches -> (B,) (Eq. 2)."""
    return F.softplus(-logits).flatten(1).mean(dim=1)


def generator_loss(
    x: Tensor,
    x_hat: Tensor,
    beta: Tensor | float,
    *,
    likelihoods: Any = None,
    y_hat: Tensor | None = None,
    discriminator: DiscriminatorFn | None = None,
    perceptual: Perceptual | None = None,
    weights: LossWeights = LossWeights(),
) -> dict[str, Tensor]:
    """Eq. 4 for a batch. Images in [0, 1], ``beta`` (B,) or scalar.

    ``likelihoods``: the codec's likelihoods dict (``None`` when the codec is frozen: rate 0);
    ``discriminator(y_hat, x_hat) -> logits`` (``None``: no GAN term); ``perceptual(x, x_hat) -> (B,)``
    (``None``: no perceptual term). Returns batch means of ``rate`` (bpp), ``mse`` (0..255
    scale), ``distortion`` (= mse/100), ``gan`` (-log D), ``perceptual`` and ``total`` (the loss
    to minimise; backpropagate it).
    """
    B = x.shape[0]
    beta = torch.as_tensor(beta, dtype=torch.float32, device=x_hat.device).reshape(-1).expand(B)
    zero = x_hat.new_zeros(B, dtype=torch.float32)
    rate = rate_bpp(likelihoods, x.shape[-2] * x.shape[-1]) if likelihoods is not None else zero
    mse = mse_255(x, x_hat)
    if discriminator is not None:
        if y_hat is None:
            raise ValueError("the GAN term needs y_hat (D is conditioned on it)")
        gan = nonsaturating_g(discriminator(y_hat, x_hat))
    else:
        gan = zero
    gan = gan.float()
    perc = perceptual(x, x_hat).reshape(B).float() if perceptual is not None else zero
    total = weights.lambda_prime * rate + mse / 100.0
    if weights.decoupled_c_p is None:
        total = total + beta * (gan + weights.c_p * perc)
    else:
        total = total + beta * gan + weights.decoupled_c_p * perc
    return {
        "rate": rate.mean(),
        "mse": mse.mean(),
        "distortion": mse.mean() / 100.0,
        "gan": gan.mean(),
        "perceptual": perc.mean(),
        "total": total.mean(),
    }


def discriminator_loss_from_logits(real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
    """Eq. 3 from D's logits on (y_hat, x) and (y_hat, x_hat): ``{"real", "fake", "total"}`` batch means."""
    real = F.softplus(-real_logits).flatten(1).mean(dim=1)  # -log D(y_hat, x)
    fake = F.softplus(fake_logits).flatten(1).mean(dim=1)  # -log(1 - D(y_hat, x_hat))
    return {"real": real.mean(), "fake": fake.mean(), "total": (real + fake).mean()}


def discriminator_loss(discriminator: DiscriminatorFn, y_hat: Tensor, x: Tensor, x_hat: Tensor) -> dict[str, Tensor]:
    """Eq. 3: -log D(y_hat, x) - log(1 - D(y_hat, x_hat)); x_hat and y_hat are detached (D step only)."""
    return discriminator_loss_from_logits(
        discriminator(y_hat.detach(), x), discriminator(y_hat.detach(), x_hat.detach())
    )


def paper_schedule(step: int, total_steps: int) -> dict[str, float]:
    """Sec. 4.5: 10x lambda in the first 15% of steps, learning rate /10 in the last 15%.

    Returns multipliers ``{"lambda": ..., "lr": ...}`` for ``LossWeights.lmbda`` and the base rate.
    """
    warm = math.ceil(0.15 * total_steps)
    decay_from = total_steps - math.ceil(0.15 * total_steps)
    return {"lambda": 10.0 if step < warm else 1.0, "lr": 0.1 if step >= decay_from else 1.0}
