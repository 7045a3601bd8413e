"""Data consistency: move an image onto {x : Q(g_a(x)) = ŷ}, the set idempotence samples from.

Xu, Zhang, Li, Ma, "Idempotence and Perceptual Image Compression", ICLR 2024, arXiv:2401.08920,
Eq. 8 constrains the sample to re-encode to the file's latent; guidance (:mod:`.guidance`) only
pulls towards that set. This step enforces it. DDNM (Wang, Yu, Zhang, "Zero-Shot Image Restoration
Using Denoising Diffusion Null-Space Model", ICLR 2023, arXiv:2212.00490, Eq. 13) projects onto
{x : A x = y} with the pseudo-inverse, x ← x + A⁺(y − A x). The codec's own synthesis is a
pseudo-inverse of its analysis (the MSE decoder re-encodes to its latent), so the non-linear
analogue is iterative back-projection (Irani, Peleg 1991)::

    x ← x + α (g_s(ŷ) − g_s(g_a(x)))                one g_a and one g_s, no gradient

Each step is accepted only when it lowers the bin-aware distance to the file's bins

    D(x) = Σ_i max(0, |d_i| − τ)²,   d = g_a(x) − c,   c = ŷ − r (the centre of the file's bin)

and does not lower the number of elements inside their quantisation bins (|d_i| < 1/2);
otherwise α is halved and the step retried (α doubles again, up to 1, after an accepted step).
So the agreement never falls, and the loop stops once every element is within τ of its centre,
or after ``steps`` accepted steps. The target of each step, c + clamp(d, ±τ), moves only the
elements farther than τ from their centre. A stricter rule — no element may leave its bin — was
measured and rejected: even at α = 1/32 a step that brings thousands of elements into their bins
pushes a few (1e-4) borderline ones out, so the strict rule stalls at the sampler's agreement
(docs/decoders/idempotence.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Projection", "project"]

#: halvings of α tried in a row before an image's projection is given up
HALVINGS = 5


@dataclass
class Projection:
    """What :func:`project` did, per image."""

    steps: Tensor  # accepted steps
    in_bin: Tensor  # fraction of latent elements inside their bin (|d| < 1/2) at the end
    distance: Tensor  # D(x) at the end


def _distance(d: Tensor, tau: float) -> Tensor:
    return (d.abs() - tau).clamp_min(0).square().flatten(1).sum(dim=1)


def _agreeing(d: Tensor) -> Tensor:
    """Latent elements inside their bin (|d| < 1/2), per image."""
    return (d.abs() < 0.5).flatten(1).sum(dim=1)


@torch.no_grad()
def project(
    g_a: Callable, g_s: Callable, x01: Tensor, centre: Tensor, *, steps: int, tau: float = 0.0
) -> tuple[Tensor, Projection]:
    """(x, report): ``x01`` (B, 3, Hp, Wp) in [0, 1] moved onto the file's bins by at most ``steps``
    accepted back-projection steps; ``centre`` (B, C, h, w) holds the centres of the file's bins
    (ŷ minus any latent refinement)."""
    x = x01.detach().clamp(0, 1)
    B = x.shape[0]
    y = g_a(x)
    dist, agree = _distance(y - centre, tau), _agreeing(y - centre)
    alpha = torch.ones(B, device=x.device, dtype=x.dtype)
    accepted = torch.zeros(B, dtype=torch.long, device=x.device)
    strikes = torch.zeros(B, dtype=torch.long, device=x.device)
    for _ in range((HALVINGS + 1) * steps):
        active = (accepted < steps) & (strikes <= HALVINGS) & (dist > 0)
        if not active.any():
            break
        direction = g_s(centre + (y - centre).clamp(-tau, tau)) - g_s(y)
        trial = (x + (alpha * active).view(-1, 1, 1, 1) * direction).clamp(0, 1)
        ty = g_a(trial)
        tdist, tagree = _distance(ty - centre, tau), _agreeing(ty - centre)
        ok = active & (tdist < dist) & (tagree >= agree)
        sel = ok.view(-1, 1, 1, 1)
        x, y = torch.where(sel, trial, x), torch.where(sel, ty, y)
        dist, agree = torch.where(ok, tdist, dist), torch.where(ok, tagree, agree)
        accepted += ok.long()
        alpha = torch.where(ok, (alpha * 2).clamp_max(1), torch.where(active, alpha / 2, alpha))
        strikes = torch.where(ok, 0, strikes + (active & ~ok).long())
    return x, Projection(accepted, agree.float() / centre[0].numel(), dist)
