"""Decode-time options of ``cdiff`` (pydantic only, no torch): sampler, steps, eta, seed.

Which samplers fit a decoder depends on its training ``objective`` (stored with the weights):
``diffusion`` samples with ddpm / ddim / dpm-solver, ``flow`` (rectified flow) with flow-euler /
flow-heun. A loaded decoder validates against :func:`options_for` (its objective and training
timesteps): an unset ``scheduler`` becomes the objective's default, one of the other objective is
refused with a one-line :class:`~rdpflex.errors.OptionsError`.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from rdpflex.errors import OptionsError

MAX_STEPS = 1000
Objective = Literal["diffusion", "flow"]
SchedulerName = Literal["ddpm", "ddim", "dpm-solver", "flow-euler", "flow-heun"]
ALL_SCHEDULERS: tuple[str, ...] = ("ddpm", "ddim", "dpm-solver", "flow-euler", "flow-heun")
#: the samplers that fit each training objective, and its default one
SCHEDULERS_OF: dict[str, tuple[str, ...]] = {
    "diffusion": ("ddpm", "ddim", "dpm-solver"),
    "flow": ("flow-euler", "flow-heun"),
}
DEFAULT_SCHEDULER: dict[str, str] = {"diffusion": "ddim", "flow": "flow-euler"}
#: default steps of each objective: a rectified flow is nearly straight, so few Euler steps suffice
#: (Liu et al. 2023, arXiv 2209.03003; measured at demo scale in docs/decoders/cdiff.md)
DEFAULT_STEPS: dict[str, int] = {"diffusion": 16, "flow": 2}
_SCHEDULER_DOC = (
    "sampler of the decoder's objective: diffusion: ddpm (ancestral), ddim (eta), dpm-solver (DPM-Solver++, "
    "few steps); rectified flow: flow-euler, flow-heun (2nd order). Unset: ddim (diffusion), flow-euler (flow)"
)


def scheduler_mismatch(scheduler: str, objective: str) -> str | None:
    """The one-line refusal of a sampler that does not fit ``objective`` (None when it fits)."""
    fitting = SCHEDULERS_OF[objective]
    if scheduler in fitting:
        return None
    return (
        f"cdiff: scheduler {scheduler!r} does not fit this decoder's objective {objective!r}; "
        f"use one of: {', '.join(fitting)}"
    )


class CDiffOptions(BaseModel):
    """Sampling options. Class level (no weights loaded): every sampler, steps <= 1000, ``scheduler`` unset
    means the decoder's default; a loaded decoder's :func:`options_for` model knows its objective and T."""

    model_config = ConfigDict(extra="forbid")
    #: the training objective of the decoder this model validates for (None: class level, any objective)
    objective: ClassVar[str | None] = None

    scheduler: SchedulerName | None = Field(
        None, description=_SCHEDULER_DOC, json_schema_extra={"enum": list(ALL_SCHEDULERS)}
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

    @field_validator("scheduler")
    @classmethod
    def _fits_the_objective(cls, scheduler: str | None) -> str | None:
        if cls.objective is None:
            return scheduler
        if scheduler is None:
            return DEFAULT_SCHEDULER[cls.objective]
        problem = scheduler_mismatch(scheduler, cls.objective)
        if problem:
            raise OptionsError(problem)  # not a ValueError: reaches the caller as this one line
        return scheduler

    @model_validator(mode="after")
    def _eta_needs_ddim(self) -> "CDiffOptions":
        scheduler = self.scheduler or "ddim"  # unset at class level: checked again against the loaded decoder
        if self.eta != 0.0 and scheduler != "ddim":
            raise ValueError(f"eta applies to scheduler ddim only (got scheduler={scheduler}, eta={self.eta})")
        return self


@cache
def options_for(max_steps: int, objective: Objective = "diffusion") -> type[CDiffOptions]:
    """:class:`CDiffOptions` of a loaded decoder: ``steps <= max_steps`` (its training timesteps) and the
    samplers of its ``objective``, whose defaults are that objective's (``ddim``, 16 steps / ``flow-euler``, 2)."""
    fields: dict[str, Any] = {
        "scheduler": (
            SchedulerName | None,
            Field(
                DEFAULT_SCHEDULER[objective],
                description=_SCHEDULER_DOC,
                json_schema_extra={"enum": list(SCHEDULERS_OF[objective])},
            ),
        ),
        "steps": (
            int,
            Field(
                min(DEFAULT_STEPS[objective], max_steps),
                ge=1,
                le=max_steps,
                description=CDiffOptions.model_fields["steps"].description,
            ),
        ),
    }
    model = create_model("CDiffOptions", __base__=CDiffOptions, **fields)
    model.objective = objective
    return model
