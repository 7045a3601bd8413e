"""Training objectives of the ``cdiff`` denoiser: what is noised, what the UNet regresses, how x̂_0 follows.

::

    diffusion  t ~ U{0..T−1}   x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε    target ε | v | x_0    (prediction_type)
    flow       σ ~ U(0, 1)     x_σ = (1 − σ) x_0 + σ ε                  target v = ε − x_0    timestep σ · T

- diffusion: Ho, Jain, Abbeel 2020, "Denoising Diffusion Probabilistic Models", arXiv 2006.11239, Eq. 14,
  with diffusers' prediction types (v: Salimans & Ho 2022, arXiv 2202.00512, Sec. 4);
- flow: the rectified flow of Liu, Gong, Liu 2023, "Flow Straight and Fast: Learning to Generate and
  Transfer Data with Rectified Flow", arXiv 2209.03003, Eq. 1 (the straight path from data to noise, its
  velocity regressed by least squares), in diffusers' flow-matching convention (σ = 1 is pure noise, the
  model predicts ε − x_0, timesteps σ · T) so that ``FlowMatchEulerDiscreteScheduler.step`` samples it.
  Hoogeboom et al. 2023 (HFD, "High-Fidelity Image Compression with Score-based Generative Models",
  arXiv 2305.18231) train their detail decoder either way.

Both give the predicted clean sample x̂_0 (the perceptual term's input); flow: x̂_0 = x_σ − σ v̂.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor


@dataclass(frozen=True)
class Noised:
    """One training draw: the model input x_t at timesteps t, the regression target, the noise level."""

    x_t: Tensor
    t: Tensor  # (B,) the UNet's timestep input
    target: Tensor
    level: Tensor  # (B, 1, 1, 1): ᾱ_t (diffusion) or σ (flow)


class Objective(Protocol):
    name: ClassVar[str]

    def noised(self, x0: Tensor, noise: Tensor) -> Noised: ...

    def predicted_x0(self, pred: Tensor, draw: Noised) -> Tensor: ...


def predicted_x0(pred: Tensor, x_t: Tensor, alpha_bar: Tensor, prediction_type: str) -> Tensor:
    """x̂_0 from the model output for each prediction type (alpha_bar broadcast to (B, 1, 1, 1))."""
    if prediction_type == "epsilon":
        return (x_t - (1 - alpha_bar).sqrt() * pred) / alpha_bar.sqrt()
    if prediction_type == "v_prediction":
        return alpha_bar.sqrt() * x_t - (1 - alpha_bar).sqrt() * pred
    return pred


class DiffusionObjective:
    """DDPM noising on the stored beta schedule (``DDPMScheduler.add_noise``), target by prediction type."""

    name: ClassVar[str] = "diffusion"

    def __init__(self, scheduler_config: dict[str, Any]) -> None:
        from diffusers import DDPMScheduler

        self.scheduler = DDPMScheduler.from_config(scheduler_config)
        self.prediction_type: str = self.scheduler.config.prediction_type

    def noised(self, x0: Tensor, noise: Tensor) -> Noised:
        s = self.scheduler
        t = torch.randint(0, s.config.num_train_timesteps, (x0.shape[0],), device=x0.device)
        x_t = s.add_noise(x0, noise, t)
        target = {"epsilon": noise, "sample": x0}.get(self.prediction_type)
        if target is None:
            target = s.get_velocity(x0, noise, t)
        alpha_bar = s.alphas_cumprod.to(x0.device)[t].view(-1, 1, 1, 1)
        return Noised(x_t, t, target, alpha_bar)

    def predicted_x0(self, pred: Tensor, draw: Noised) -> Tensor:
        return predicted_x0(pred, draw.x_t, draw.level, self.prediction_type)


class FlowObjective:
    """Rectified flow (Liu et al. 2023, Eq. 1): x_σ = (1 − σ) x_0 + σ ε, σ ~ U(0, 1), target v = ε − x_0."""

    name: ClassVar[str] = "flow"

    def __init__(self, scheduler_config: dict[str, Any]) -> None:
        self.num_train_timesteps = int(scheduler_config["num_train_timesteps"])

    def noised(self, x0: Tensor, noise: Tensor) -> Noised:
        sigma = torch.rand(x0.shape[0], device=x0.device)
        level = sigma.view(-1, 1, 1, 1).to(x0.dtype)
        x_t = (1 - level) * x0 + level * noise
        return Noised(x_t, sigma * self.num_train_timesteps, noise - x0, level)

    def predicted_x0(self, pred: Tensor, draw: Noised) -> Tensor:
        return draw.x_t - draw.level * pred


OBJECTIVES: dict[str, type[DiffusionObjective] | type[FlowObjective]] = {
    "diffusion": DiffusionObjective,
    "flow": FlowObjective,
}


def make_objective(name: str, scheduler_config: dict[str, Any]) -> Objective:
    """The training objective ``name`` on the decoder's stored scheduler config."""
    return OBJECTIVES[name](scheduler_config)
