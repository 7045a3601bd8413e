"""Sampling — the decode-time RDP knob: diffusers schedulers swapped with ``from_config``.

::

    x_T = randn_tensor(shape, generator=[g_0 .. g_{B-1}])        one generator per image: batch-invariant
    for t in scheduler.timesteps:                                 (steps of `trailing` spacing, t_0 = T-1)
        out = denoiser(x_t, t, cond)            whole image, or blended over tiles at every step
        x_t = scheduler.step(out, t, x_t, [eta,] generator=gens).prev_sample
    image = to_image(x_0, x_mse)

A ``diffusion`` decoder (ε / v / x_0 prediction) samples with

- ``ddpm``  — ancestral sampling (Ho et al. 2020), stochastic at every step;
- ``ddim``  — Song et al. 2021 (arXiv 2010.02502, Eq. 12): ``eta`` = 0 deterministic ... 1 DDPM-like noise;
- ``dpm-solver`` — DPM-Solver++ (Lu et al. 2022, arXiv 2211.01095), 2nd-order multistep, for few steps.

A rectified-flow decoder (``objective: flow``, velocity v = ε − x_0) integrates the ODE dx/dσ = v from
σ = 1 (x_1 = ε) to σ = 0 (Liu, Gong, Liu 2023, arXiv 2209.03003, Eq. 1; timesteps σ · T):

- ``flow-euler`` — diffusers' ``FlowMatchEulerDiscreteScheduler``: x_{σ'} = x_σ + (σ' − σ) v̂, on ``steps``
  uniform sigmas 1, 1 − 1/steps, ..., 1/steps, then 0 (one step: x_0 = x_1 − v̂(x_1, σ = 1));
- ``flow-heun`` — ``FlowMatchHeunDiscreteScheduler`` (2nd order, 2·steps − 1 model calls) on diffusers' own
  sigmas linspace(1, 1/T, steps), then 0 (its ``set_timesteps`` takes no sigmas).

Mari et al. 2024 (arXiv 2403.02887) use the sampler and its number of steps to move along the
distortion–perception trade-off from one latent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

# the defining modules, not the package's lazy names: mypy reads those as diffusers' placeholder classes
from diffusers.configuration_utils import ConfigMixin
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_flow_match_euler_discrete import FlowMatchEulerDiscreteScheduler
from diffusers.schedulers.scheduling_flow_match_heun_discrete import FlowMatchHeunDiscreteScheduler
from diffusers.utils.torch_utils import randn_tensor
from torch import Tensor

from rdpflex.tiling import TileSpec, Window, blend

SCHEDULERS: dict[str, tuple[type[ConfigMixin], dict[str, Any]]] = {
    "ddpm": (DDPMScheduler, {}),
    "ddim": (DDIMScheduler, {"set_alpha_to_one": True}),
    "dpm-solver": (
        DPMSolverMultistepScheduler,
        {
            "algorithm_type": "dpmsolver++",
            "solver_order": 2,
            "lower_order_final": True,
            "final_sigmas_type": "zero",
            # diffusers' setting for cosine-type schedules: skip logSNR < -10.2 (stability)
            "lambda_min_clipped": -5.1,
        },
    ),
    "flow-euler": (FlowMatchEulerDiscreteScheduler, {}),
    "flow-heun": (FlowMatchHeunDiscreteScheduler, {}),
}
SCHEDULER_NAMES = tuple(SCHEDULERS)  # == options.ALL_SCHEDULERS (tested)
#: the scheduler class whose config is saved with the weights of each objective
BASE_SCHEDULER: dict[str, Any] = {"diffusion": DDPMScheduler, "flow": FlowMatchEulerDiscreteScheduler}


def uniform_sigmas(steps: int) -> list[float]:
    """1, 1 − 1/steps, ..., 1/steps: equal Euler steps of the flow ODE (the scheduler appends σ = 0)."""
    return [float(s) for s in np.linspace(1.0, 1.0 / steps, steps)]


def make_scheduler(name: str, base_config: dict[str, Any], steps: int) -> Any:
    """A fresh scheduler ``name`` from the model's saved config (same betas / T, prediction type), ``steps`` set."""
    cls, extra = SCHEDULERS[name]
    scheduler = cls.from_config(base_config, **extra)
    assert not isinstance(scheduler, tuple)  # a tuple only with return_unused_kwargs
    if isinstance(scheduler, FlowMatchEulerDiscreteScheduler):
        # its default spacing linspace(1, 1/T, steps) would spend one of 2 steps on σ = 1/T -> 0
        scheduler.set_timesteps(sigmas=uniform_sigmas(steps))
    else:
        scheduler.set_timesteps(steps)
    return scheduler


Denoise = Callable[[Tensor, Tensor], Tensor]

#: DDIM's eta is applied as at most this: with eta = 1 exactly, the first step from t = T-1 (alpha_bar ~ 0)
#: takes the square root of 1 - alpha_bar_prev - sigma^2 = 0, which float32 rounding can make negative (NaN)
MAX_DDIM_ETA = 0.999


#: the conditioning planes under an image window (``ConditionalDenoiser.condition_window``)
WindowCondition = Callable[[Window], Tensor]


def tiled_denoiser(denoiser: Any, cond: WindowCondition, height: int, width: int, tile: TileSpec | None) -> Denoise:
    """(x_t, t) -> model output over the whole ``height x width`` image, or blended over overlapping tiles.

    ``cond`` gives the conditioning planes of a window: computed once for the whole image, per window when
    tiled (then never held whole, so memory follows the tile)."""
    if tile is None:
        whole = cond((0, height, 0, width))
        return lambda x, t: denoiser(x, t, whole)

    def run(x: Tensor, t: Tensor) -> Tensor:
        def window(win: Window) -> Tensor:
            top, bottom, left, right = win
            return denoiser(x[..., top:bottom, left:right], t, cond(win))

        return blend(window, height, width, tile)

    return run


def sample(
    denoise: Denoise,
    scheduler: Any,
    shape: tuple[int, ...],
    generators: Sequence[torch.Generator],
    device: torch.device,
    dtype: torch.dtype,
    eta: float | None = None,
) -> Tensor:
    """Run the reverse process from x_T ~ N(0, I) (drawn per image from its generator); returns x_0."""
    gens = list(generators)
    # the flow-matching schedulers start from x_1 = ε as is (they have no init_noise_sigma / scale_model_input)
    x = randn_tensor(shape, generator=gens, device=device, dtype=dtype) * getattr(scheduler, "init_noise_sigma", 1.0)
    scale_model_input = getattr(scheduler, "scale_model_input", lambda x, t: x)
    step_kwargs: dict[str, Any] = {"generator": gens}
    if eta is not None:
        step_kwargs["eta"] = min(eta, MAX_DDIM_ETA)
    for t in scheduler.timesteps:
        model_in = scale_model_input(x, t)
        out = denoise(model_in, t.to(device))
        x = scheduler.step(out, t, x, **step_kwargs).prev_sample
    return x
