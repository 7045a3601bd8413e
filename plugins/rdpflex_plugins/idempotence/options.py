"""Decode-time options of ``idempotence`` (pydantic only, no torch).

Xu, Zhang, Li, Ma 2024, "Idempotence and Perceptual Image Compression", ICLR 2024, arXiv:2401.08920.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: the reference implementation's guidance scale per DDPM step over 1000 steps (Xu et al. 2024, code release)
PAPER_ZETA = 0.6
#: rdpflex's default: no guidance gradient, the back-projections enforce the constraint (measured,
#: docs/decoders/idempotence.md: as idempotent and closer to the original, at a fraction of the time)
DEFAULT_ZETA = 0.0


class IdempotenceOptions(BaseModel):
    """Decode-time knobs of ``idempotence``."""

    model_config = ConfigDict(extra="forbid")

    zeta: float = Field(
        DEFAULT_ZETA,
        ge=0.0,
        le=1000.0,
        allow_inf_nan=False,
        description="DPS guidance scale per sampling step (0 = no guidance gradient: the back-projections "
        "enforce the constraint; higher pulls the re-encoding towards the file at one prior backward pass per step) "
        f"(the reference code's {PAPER_ZETA} is per step of 1000 DDPM steps)",
    )
    steps: int = Field(
        10,
        ge=1,
        le=1000,
        description="sampling steps of the full schedule "
        "(at most the prior's training timesteps; strength x steps are run)",
    )
    scheduler: Literal["ddpm", "ddim"] = Field(
        "ddim", description="diffusers sampler built from the prior's scheduler config"
    )
    constraint: Literal["x", "y"] = Field(
        "y",
        description="x: compare g_s(Q(g_a(x))) with the MSE reconstruction; y: compare g_a(x) with the file's latent",
    )
    strength: float = Field(
        0.1,
        gt=0.0,
        le=1.0,
        description="start from the MSE reconstruction noised to this fraction of the schedule "
        "(1 = pure noise, as in the paper)",
    )
    consistency: int = Field(
        1,
        ge=0,
        le=10,
        description="back-projection steps that move the predicted clean image onto the file's quantisation bins "
        "at every sampling step (DDNM-style data consistency; 0 = off)",
    )
    project: int = Field(
        2,
        ge=0,
        le=20,
        description="back-projection steps that move the output onto the file's quantisation bins "
        "(final data consistency; 0 = off)",
    )
    retries: int = Field(
        0,
        ge=0,
        le=5,
        description="resample an image whose re-encoding agreement stays below `target`, "
        "with zeta x1.5 (the reference code's rule) and twice the projection steps each time",
    )
    target: float = Field(
        0.9, ge=0.0, le=1.0, description="re-encoding agreement (fraction of latent symbols) that ends retries"
    )
