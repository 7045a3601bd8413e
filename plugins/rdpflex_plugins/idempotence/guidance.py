"""Idempotence-guided sampling: invert an unconditional diffusion prior under a re-encoding constraint.

Xu, Zhang, Li, Ma, "Idempotence and Perceptual Image Compression", ICLR 2024, arXiv:2401.08920,
Sec. 4 (Eq. 8), with the diffusion posterior sampling update of Chung, Kim, Mccann, Klasky, Ye,
"Diffusion Posterior Sampling for General Noisy Inverse Problems", ICLR 2023, arXiv:2209.14687,
Alg. 1::

    for t in timesteps:
        ε = prior(x_t, t);  x0_hat = predicted clean image (Ho et al. 2020, Eq. 15)
        x0_hat ← project(x0_hat);  ε ← the noise that maps x_t to it         (``consistency`` > 0)
        x'_{t-1} = scheduler.step(ε, t, x_t)
        d = || target - A(x0_hat) ||_2                                  (unsquared, per image; ζ > 0)
        x_{t-1} = x'_{t-1} - ζ ∇_{x_t} d

    constraint "x": A(x) = g_s(Q_STE(g_a(x))), target = g_s(ŷ) (the MSE reconstruction of the file)
    constraint "y": A(x) = g_a(x),             target = ŷ (the latent decoded from the file)

``project`` is the back-projection onto the file's quantisation bins of :mod:`.projection` (DDNM-style
data consistency). Q_STE rounds onto the file's quantisation grid (means from the file's side information, see
:mod:`rdpflex.differentiable`). Sampling may start from the MSE reconstruction noised to a
fraction ``strength`` of the schedule (SDEdit, Meng et al. 2022, arXiv:2108.01073) instead of
pure noise: with a small prior and few steps this keeps the constraint satisfied at a fraction of
the reference implementation's 1000 DDPM steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from rdpflex.differentiable import QuantizationGrid, quantization_grid
from rdpflex.latent import Latent
from rdpflex.tiling import synthesize

from .projection import project

__all__ = ["Constraint", "make_constraint", "guided_sample", "SCHEDULERS"]

#: decode-time samplers (diffusers classes, built from the prior's scheduler config)
SCHEDULERS = ("ddpm", "ddim")


@dataclass
class Constraint:
    """The measurement of a batch of same-size latents and the operator A that predicts it from an image."""

    codec: Any
    grid: QuantizationGrid  # batched: (B, C, h, w) means and refinements
    y_hat: Tensor  # (B, C, h, w), from the file
    x_mse: Tensor  # (B, 3, Hp, Wp) in [0, 1], g_s(y_hat)
    domain: Literal["x", "y"]

    @property
    def centre(self) -> Tensor:
        """The centres of the file's quantisation bins (ŷ minus any latent refinement)."""
        return self.y_hat - self.grid.refine

    def distance(self, x01: Tensor) -> Tensor:
        """|| target - A(x) ||_2 per image, differentiable in ``x01`` (B, 3, Hp, Wp) in [0, 1]."""
        y = self.codec.g_a(x01)
        if self.domain == "y":
            r = y - self.y_hat
        else:
            r = self.codec.g_s(self.grid.quantize_ste(y)) - self.x_mse
        return r.flatten(1).norm(dim=1)

    def select(self, index: Tensor) -> "Constraint":
        """The constraint of the images ``index`` of the batch."""
        grid = QuantizationGrid(self.grid.means[index], self.grid.refine[index])
        return Constraint(self.codec, grid, self.y_hat[index], self.x_mse[index], self.domain)

    @torch.no_grad()
    def crop(self, window: tuple[int, int, int, int], stride: int) -> "Constraint":
        """The constraint of the pixel ``window`` (top, bottom, left, right; multiples of ``stride``): the file's
        grid and latent cropped, the target image synthesised from the cropped latent."""
        t, b, left, r = (v // stride for v in window)
        grid = QuantizationGrid(self.grid.means[..., t:b, left:r], self.grid.refine[..., t:b, left:r])
        y_hat = self.y_hat[..., t:b, left:r].contiguous()
        return Constraint(self.codec, grid, y_hat, self.codec.g_s(y_hat).clamp(0, 1), self.domain)

    @torch.no_grad()
    def agreement(self, x01: Tensor) -> Tensor:
        """Per image, the fraction of latent symbols that re-encoding ``x01`` on the file's grid reproduces."""
        mine = torch.round(self.codec.g_a(x01) - self.grid.means)
        theirs = torch.round(self.centre - self.grid.means)
        return (mine == theirs).flatten(1).float().mean(dim=1)


@torch.no_grad()
def make_constraint(codec: Any, latents: Sequence[Latent], domain: Literal["x", "y"]) -> Constraint:
    """Batch the file's grids, latents and MSE reconstructions of same-size latents."""
    grids = [quantization_grid(codec, lat) for lat in latents]
    grid = QuantizationGrid(torch.cat([g.means for g in grids]), torch.cat([g.refine for g in grids]))
    y_hat = torch.cat([lat.y_hat for lat in latents])
    return Constraint(codec, grid, y_hat, synthesize(codec.g_s, y_hat, codec.latent_stride).clamp(0, 1), domain)


def _sampler(name: str, config: dict[str, Any]) -> Any:
    from diffusers import DDIMScheduler, DDPMScheduler

    cls = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}[name]
    return cls.from_config(config)


def guided_sample(
    unet: Any,
    scheduler_config: dict[str, Any],
    constraint: Constraint,
    generators: Sequence[torch.Generator],
    *,
    zeta: float | Tensor,
    steps: int,
    scheduler: str = "ddim",
    strength: float = 1.0,
    consistency: int = 0,
) -> Tensor:
    """Images (B, 3, Hp, Wp) in [0, 1] sampled from ``unet`` under ``constraint`` (one generator per image)."""
    from diffusers.utils.torch_utils import randn_tensor

    sched = _sampler(scheduler, scheduler_config)
    sched.set_timesteps(steps)
    timesteps = sched.timesteps
    start = min(int(round(len(timesteps) * (1.0 - strength))), len(timesteps) - 1)
    timesteps = timesteps[start:]
    x_mse = constraint.x_mse
    device, dtype = x_mse.device, x_mse.dtype
    gens = list(generators)
    noise = randn_tensor(tuple(x_mse.shape), generator=gens, device=device, dtype=dtype)
    if strength < 1.0:
        x = sched.add_noise(x_mse * 2 - 1, noise, timesteps[:1].repeat(x_mse.shape[0]))
    else:
        x = noise * sched.init_noise_sigma
    extra = {"eta": 0.0} if scheduler == "ddim" else {}
    guide = bool((torch.as_tensor(zeta) != 0).any())
    abar = sched.alphas_cumprod.to(device, dtype)
    for t in timesteps:
        x = x.detach().requires_grad_(guide)
        with torch.set_grad_enabled(guide):
            eps = unet(x, t).sample
        if consistency:  # DDNM-style: x0_hat moved onto the file's bins, eps re-derived from it
            x0 = (eps_to_x0(x.detach(), eps.detach(), abar[t]).clamp(-1, 1) + 1) / 2
            x0, _ = project(constraint.codec.g_a, constraint.codec.g_s, x0, constraint.centre, steps=consistency)
            # the corrected noise in value; the gradient of the guidance still flows through the prior's eps
            eps = x0_to_eps(x.detach(), x0 * 2 - 1, abar[t]) + (eps - eps.detach())
        out = sched.step(eps, t, x, generator=gens, **extra)
        if guide:
            dist = constraint.distance((out.pred_original_sample.clamp(-1, 1) + 1) / 2)
            (grad,) = torch.autograd.grad(dist.sum(), x)
            x = out.prev_sample.detach() - zeta * grad
        else:
            x = out.prev_sample.detach()
    return ((x.detach() + 1) / 2).clamp(0, 1)


def eps_to_x0(x_t: Tensor, eps: Tensor, abar: Tensor) -> Tensor:
    """x̂0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t (Ho et al. 2020, arXiv:2006.11239, Eq. 15)."""
    return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()


def x0_to_eps(x_t: Tensor, x0: Tensor, abar: Tensor) -> Tensor:
    """The noise that Eq. 15 maps to ``x0`` from ``x_t``."""
    return (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()
