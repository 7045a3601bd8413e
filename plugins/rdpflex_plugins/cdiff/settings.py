"""Training settings of the ``cdiff`` family: the ``decoder.settings`` of ``family: cdiff`` (pydantic, numpy only).

Mari, Lazzaretti, Rosato, Lelli, Sabatini 2024, "Enhancing the Rate-Distortion-Perception Flexibility of
Learned Image Codecs with Conditional Diffusion Decoders", arXiv:2403.02887; the shifted noise schedule of
Hoogeboom et al. 2023, "High-Fidelity Image Compression with Score-based Generative Models", arXiv:2305.18231;
``objective: flow``, the rectified flow of Liu, Gong, Liu 2023, "Flow Straight and Fast: Learning to Generate and
Transfer Data with Rectified Flow", arXiv:2209.03003 (HFD train their decoder either way).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from rdpflex.train.recipe import Strict
from rdpflex_plugins.cdiff.options import DEFAULT_SCHEDULER, SCHEDULERS_OF, Objective, SchedulerName
from rdpflex_plugins.cdiff.schedules import Schedule


class UNetSettings(Strict):
    """The diffusers UNet2DModel."""

    block_out_channels: list[int] = Field(
        default=[32, 64, 64],
        min_length=1,
        description="Channels per resolution level (Mari et al. 2024 use a DDPM-size UNet; CPU: 16-64).",
    )
    layers_per_block: int = Field(default=1, ge=1, description="ResNet layers per level.")
    attention_levels: int = Field(
        default=0,
        ge=0,
        description="Self-attention on this many lowest-resolution levels (Mari et al. 2024: 2). "
        "Memory grows with the image: decode large images with --tile.",
    )
    norm_num_groups: int = Field(default=8, ge=1, description="GroupNorm groups (must divide every level's channels).")

    @model_validator(mode="after")
    def _check(self) -> "UNetSettings":
        if self.attention_levels > len(self.block_out_channels):
            raise ValueError(
                f"attention_levels ({self.attention_levels}) exceeds the {len(self.block_out_channels)} levels"
            )
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"norm_num_groups {self.norm_num_groups} does not divide channels {bad}")
        return self


class AdapterSettings(Strict):
    """The latent adapter: y_hat -> conditioning planes at image resolution."""

    hidden: int = Field(default=64, ge=1, description="Width of the adapter's two 3x3 convs.")
    cond_channels: int = Field(default=8, ge=1, description="Conditioning planes concatenated to the UNet input.")


class NoiseSettings(Strict):
    """The training noise schedule (stored with the weights; every sampler reuses it).

    With ``objective: flow`` only ``num_train_timesteps`` applies (the UNet's timestep is σ · T, and
    ``steps <= T`` at decode time); ``schedule``, ``shift`` and ``prediction_type`` are diffusion's.
    """

    schedule: Schedule = Field(
        default="shifted_cosine",
        description="diffusers' linear / scaled_linear / squaredcos_cap_v2, or HFD's shifted_cosine (detail-focused). "
        "Diffusion only.",
    )
    shift: float = Field(
        default=2 * math.log(2),
        description="shifted_cosine: added to logSNR "
        "(SNR x e^shift at every t; 2 ln 2 = SNR x 4: alpha_bar(0.5) 0.5 -> 0.8). Diffusion only.",
    )
    num_train_timesteps: int = Field(
        default=1000,
        ge=2,
        le=1000,
        description="T, the discrete training timesteps (flow: the timestep scale, sigma x T).",
    )
    prediction_type: Literal["epsilon", "v_prediction", "sample"] = Field(
        default="epsilon",
        description="What the UNet predicts (diffusers naming). Diffusion only: a flow predicts eps - x0.",
    )


class EMASettings(Strict):
    """diffusers' EMAModel over the denoiser's weights (exported and used for sampling)."""

    decay: float = Field(default=0.999, gt=0, lt=1, description="Maximum EMA decay.")
    use_warmup: bool = Field(
        default=True, description="EMA warm-up: decay grows as 1 - (1 + step)^-power (short runs need it)."
    )
    power: float = Field(default=2 / 3, gt=0, description="Warm-up power (2/3 suits runs of up to ~1M steps).")
    update_after_step: int = Field(default=0, ge=0, description="Start averaging after this many steps.")


class ValidationSampler(Strict):
    """How the held-out images are sampled during training (cheap)."""

    scheduler: SchedulerName | None = Field(
        default=None, description="A sampler of the objective (unset: ddim for diffusion, flow-euler for flow)."
    )
    steps: int = Field(default=4, ge=1)


class CDiffSettings(Strict):
    """The ``decoder.settings`` of ``family: cdiff``."""

    objective: Objective = Field(
        default="diffusion",
        description="`diffusion` (DDPM noising, epsilon / v / x0 prediction; ddpm, ddim, dpm-solver) or `flow` "
        "(rectified flow, Liu et al. 2023: x_t = (1 - t) x0 + t eps, velocity eps - x0; flow-euler, flow-heun).",
    )
    unet: UNetSettings = Field(default_factory=UNetSettings)
    adapter: AdapterSettings = Field(default_factory=AdapterSettings)
    noise: NoiseSettings = Field(default_factory=NoiseSettings)
    ema: EMASettings = Field(default_factory=EMASettings)
    condition_on_mse: bool = Field(
        default=True, description="Also condition on the MSE reconstruction g_s(y_hat) (HFD two-stage)."
    )
    target: Literal["image", "residual"] = Field(
        default="residual",
        description="Diffuse the image, or the residual x - x_mse over the MSE reconstruction (HFD).",
    )
    perceptual: Literal["none", "lpips", "st-lpips"] = Field(
        default="none",
        description="Perceptual term on the predicted clean image: `lpips` (LPIPS-alex, needs the AlexNet "
        "weights), `st-lpips` (shift-tolerant LPIPS, weights in the stlpips-pytorch wheel: works offline), `none`.",
    )
    lpips_weight: float = Field(
        default=0.0, ge=0, description="Weight of the perceptual term (with perceptual: lpips or st-lpips)."
    )
    lpips_weights: str | None = Field(
        default=None,
        description="Weight file of the perceptual network (lpips: alexnet-owt-7be5be79.pth from the torch "
        "hub cache; st-lpips: the wheel's alex_shift_tolerant.pth).",
    )
    validation: ValidationSampler = Field(default_factory=ValidationSampler)

    @model_validator(mode="after")
    def _check(self) -> "CDiffSettings":
        if (self.perceptual != "none") != (self.lpips_weight > 0):
            raise ValueError("a perceptual term (lpips, st-lpips) and lpips_weight > 0 go together")
        fitting = SCHEDULERS_OF[self.objective]
        if self.validation.scheduler is not None and self.validation.scheduler not in fitting:
            raise ValueError(
                f"validation.scheduler {self.validation.scheduler!r} does not fit objective {self.objective!r}; "
                f"use one of: {', '.join(fitting)} (unset: {DEFAULT_SCHEDULER[self.objective]})"
            )
        return self

    @property
    def validation_scheduler(self) -> str:
        """The validation sampler: the one set, or the objective's default."""
        return self.validation.scheduler or DEFAULT_SCHEDULER[self.objective]
