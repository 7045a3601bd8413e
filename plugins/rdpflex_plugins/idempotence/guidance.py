"""Idempotence-guided sampling: invert an unconditional diffusion prior under a re-encoding constraint.

Xu, Zhang, Li, Ma, "Idempotence and Perceptual Image Compression", ICLR 2024, arXiv:2401.08920,
Sec. 4 (Eq. 8), with the diffusion posterior sampling update of Chung, Kim, Mccann, Klasky, Ye,
"Diffusion Posterior Sampling for General Noisy Inverse Problems", ICLR 2023, arXiv:2209.14687,
Alg. 1::

    for t in timesteps:
        ε = prior(x_t, t);  x0_hat = predicted clean image;  x'_{t-1} = scheduler.step(ε, t, x_t)
        d = || target - A(x0_hat) ||_2                                  (unsquared, per image)
        x_{t-1} = x'_{t-1} - ζ ∇_{x_t} d

    constraint "x": A(x) = g_s(Q_STE(g_a(x))), target = g_s(ŷ) (the MSE reconstruction of the file)
    constraint "y": A(x) = g_a(x),             target = ŷ (the latent decoded from the file)

Q_STE rounds onto the file's quantisation grid (means from the file's side information, see
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

    def distance(self, x01: Tensor) -> Tensor:
        """|| target - A(x) ||_2 per image, differentiable in ``x01`` (B, 3, Hp, Wp) in [0, 1]."""
        y = self.codec.g_a(x01)
        if self.domain == "y":
            r = y - self.y_hat
        else:
            r = self.codec.g_s(self.grid.quantize_ste(y)) - self.x_mse
        return r.flatten(1).norm(dim=1)

    @torch.no_grad()
    def agreement(self, x01: Tensor) -> Tensor:
        """Per image, the fraction of latent symbols that re-encoding ``x01`` on the file's grid reproduces."""
        mine = torch.round(self.codec.g_a(x01) - self.grid.means)
        theirs = torch.round(self.y_hat - self.grid.means - self.grid.refine)
        return (mine == theirs).flatten(1).float().mean(dim=1)


@torch.no_grad()
def make_constraint(codec: Any, latents: Sequence[Latent], domain: Literal["x", "y"]) -> Constraint:
    """Batch the file's grids, latents and MSE reconstructions of same-size latents."""
    grids = [quantization_grid(codec, lat) for lat in latents]
    grid = QuantizationGrid(torch.cat([g.means for g in grids]), torch.cat([g.refine for g in grids]))
    y_hat = torch.cat([lat.y_hat for lat in latents])
    return Constraint(codec, grid, y_hat, codec.g_s(y_hat).clamp(0, 1), domain)


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
    zeta: float,
    steps: int,
    scheduler: str = "ddim",
    strength: float = 1.0,
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
    for t in timesteps:
        x = x.detach().requires_grad_(True)
        eps = unet(x, t).sample
        out = sched.step(eps, t, x, generator=gens, **extra)
        x0 = out.pred_original_sample
        dist = constraint.distance((x0.clamp(-1, 1) + 1) / 2)
        (grad,) = torch.autograd.grad(dist.sum(), x)
        x = out.prev_sample.detach() - zeta * grad
    return ((x.detach() + 1) / 2).clamp(0, 1)
