"""The unconditional diffusion prior of ``idempotence``: any diffusers UNet + scheduler, safetensors only.

A prior is codec-independent: it models natural images, not latents, so one prior serves every
codec. It is stored in diffusers' ``save_pretrained`` layout (``unet/`` + ``scheduler/``) inside
the decoder folder, or referenced by a local path or, when online, a Hugging Face hub id.

rdpflex's own priors (``prior`` training stage) are fully convolutional ``UNet2DModel`` s without
attention, so they denoise images of any size that is a multiple of 2^(levels - 1).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rdpflex.components import load_component, load_scheduler_config, save_component, save_scheduler
from rdpflex.errors import RdpflexError, WeightsMissingError

__all__ = ["build_prior", "build_scheduler", "save_prior", "load_prior"]


def build_prior(
    sample_size: int = 64,
    block_out_channels: tuple[int, ...] = (32, 64, 64),
    layers_per_block: int = 1,
    norm_num_groups: int = 8,
) -> Any:
    """A small fully convolutional pixel-space UNet (Ho, Jain, Abbeel 2020, arXiv:2006.11239) without attention."""
    from diffusers import UNet2DModel

    n = len(block_out_channels)
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=3,
        out_channels=3,
        layers_per_block=layers_per_block,
        block_out_channels=tuple(block_out_channels),
        norm_num_groups=norm_num_groups,
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
    )


def build_scheduler(num_train_timesteps: int = 1000, beta_schedule: str = "linear") -> Any:
    """DDPM's training schedule (the sampler is chosen at decode time with ``from_config``)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        prediction_type="epsilon",
        clip_sample=False,
    )


def save_prior(unet: Any, scheduler: Any, folder: Path) -> Path:
    """``folder/unet`` (safetensors) + ``folder/scheduler`` (JSON), loadable with diffusers' ``from_pretrained``."""
    folder = Path(folder)
    save_component(unet, folder, "unet")
    save_scheduler(scheduler, folder)
    return folder


def load_prior(reference: str, base: Path | None = None) -> tuple[Any, dict[str, Any]]:
    """(UNet, scheduler config) from a local folder (relative to ``base``) or a hub id; safetensors only.

    A hub id is fetched only when ``RDPFLEX_OFFLINE`` is unset; offline, a missing prior is a one-line
    error naming what was looked for.
    """
    from diffusers import UNet2DModel

    local = Path(reference) if Path(reference).is_absolute() or base is None else Path(base) / reference
    if local.is_dir():
        return load_component(UNet2DModel, local, "unet"), load_scheduler_config(local)
    if os.environ.get("RDPFLEX_OFFLINE", "") not in ("", "0") or "/" not in reference:
        raise WeightsMissingError(
            f"idempotence prior {reference!r} not found: no folder {local} (unet/ + scheduler/, from save_pretrained), "
            "and hub ids (owner/name) are only fetched online"
        )
    try:  # pragma: no cover - needs the network
        from diffusers import DDPMScheduler

        unet = UNet2DModel.from_pretrained(reference, subfolder="unet", use_safetensors=True)
        return unet, dict(DDPMScheduler.load_config(reference, subfolder="scheduler"))
    except Exception as exc:  # pragma: no cover  # noqa: BLE001 - offline, DNS, missing repo...
        raise WeightsMissingError(f"cannot fetch idempotence prior {reference!r}: {str(exc).splitlines()[0]}") from None


def check_prior_config(config: dict[str, Any]) -> None:
    """Refuse a prior that is not an epsilon-predicting pixel model of 3 channels."""
    pred = config.get("prediction_type", "epsilon")
    if pred not in ("epsilon", "v_prediction", "sample"):
        raise RdpflexError(f"idempotence prior: unsupported prediction_type {pred!r} (epsilon, v_prediction, sample)")
