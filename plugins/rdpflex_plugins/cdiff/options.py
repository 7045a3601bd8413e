"""Decode-time options of ``cdiff`` (pydantic only, no torch): sampler, steps, eta, seed."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

MAX_STEPS = 1000
SchedulerName = Literal["ddpm", "ddim", "dpm-solver"]


class CDiffOptions(BaseModel):
    """Sampling options (class level: steps <= 1000; a loaded decoder bounds steps by its training timesteps)."""

    model_config = ConfigDict(extra="forbid")

    scheduler: SchedulerName = Field(
        "ddim", description="sampler: ddpm (ancestral), ddim (eta), dpm-solver (DPM-Solver++, few steps)"
    )
    steps: int = Field(16, ge=1, le=MAX_STEPS, description="denoising steps (more: slower; with noise, more realistic)")
    eta: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="ddim only: 0 deterministic ... 1 DDPM-like noise per step",
    )
    seed: int | None = Field(
        None, ge=0, description="base seed of the initial noise (default: --seed); image i uses seed + i"
    )

    @model_validator(mode="after")
    def _eta_needs_ddim(self) -> "CDiffOptions":
        if self.eta != 0.0 and self.scheduler != "ddim":
            raise ValueError(f"eta applies to scheduler ddim only (got scheduler={self.scheduler}, eta={self.eta})")
        return self


@cache
def options_for(max_steps: int) -> type[BaseModel]:
    """:class:`CDiffOptions` with ``steps <= max_steps`` (the decoder's training timesteps)."""
    return create_model(
        "CDiffOptions",
        __base__=CDiffOptions,
        steps=(
            int,
            Field(
                16 if max_steps >= 16 else max_steps,
                ge=1,
                le=max_steps,
                description=CDiffOptions.model_fields["steps"].description,
            ),
        ),
    )
