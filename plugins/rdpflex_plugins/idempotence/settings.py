"""The ``prior:`` section of the ``prior`` stage (pydantic only, no torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from rdpflex.train.recipe import Strict


class PriorConfig(Strict):
    """The ``prior:`` section."""

    system: str | None = Field(
        default=None,
        description="Attach the trained prior to this system directory as its `idempotence` decoder "
        "(exported to OUTPUT/system).",
    )
    block_out_channels: list[int] = Field(
        default=[32, 64, 64], min_length=1, description="Channels per UNet level (no attention: fully convolutional)."
    )
    layers_per_block: int = Field(default=1, ge=1, le=4, description="Residual blocks per UNet level.")
    norm_num_groups: int = Field(
        default=8, ge=1, description="GroupNorm groups (must divide every entry of block_out_channels)."
    )
    num_train_timesteps: int = Field(
        default=1000, ge=2, le=4000, description="DDPM timesteps T (the reference prior uses 1000)."
    )
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = Field(
        default="linear", description="DDPM noise schedule (diffusers naming)."
    )
    ema_decay: float = Field(default=0.999, ge=0.0, lt=1.0, description="EMA decay of the weights used for sampling.")


def prior_problems(recipe: Any, config: PriorConfig) -> list[tuple[str, str]]:
    """``data.crop`` must suit the UNet's levels; GroupNorm groups must divide every level's channels."""
    problems = []
    levels = len(config.block_out_channels)
    if recipe.data.crop % 2 ** (levels - 1):
        problems.append(
            ("data.crop", f"{recipe.data.crop} is not a multiple of 2^{levels - 1} (the UNet's {levels} levels)")
        )
    bad = [c for c in config.block_out_channels if c % config.norm_num_groups]
    if bad:
        problems.append(("prior.norm_num_groups", f"{config.norm_num_groups} does not divide block_out_channels {bad}"))
    return problems
