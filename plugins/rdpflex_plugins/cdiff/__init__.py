"""``cdiff`` decoder family: a conditional diffusion decoder on the shared latent.

Mari, Lazzaretti, Rosato, Lelli, Sabatini 2024, "Enhancing the Rate-Distortion-Perception Flexibility
of Learned Image Codecs with Conditional Diffusion Decoders" (arXiv:2403.02887), with the two-stage
design and shifted noise schedule of Hoogeboom et al. 2023, "High-Fidelity Image Compression with
Score-based Generative Models" (HFD, arXiv:2305.18231). See docs/decoders/cdiff.md.

- :mod:`.hooks` — the plugin module: cards of the decoder and its trainer (no torch)
- :mod:`.options`, :mod:`.settings` — decode-time options and training settings (pydantic)
- :mod:`.schedules` — noise schedules, HFD's shifted cosine
- :mod:`.model` — latent adapter + diffusers UNet2DModel (the conditional denoiser)
- :mod:`.sampling` — ddpm / ddim / dpm-solver (diffusion), flow-euler / flow-heun (rectified flow) via
  ``from_config``, per-step tiling
- :mod:`.plugin` — the :class:`CDiffDecoder` (inference only)
- :mod:`.objectives` — the training objectives: diffusion, rectified flow (Liu et al. 2023, arXiv:2209.03003)
- :mod:`.training` — the trainer for the ``decoder`` stage

Names below are imported on first use (PEP 562), so importing the package stays light.
"""

import importlib
from typing import Any

_EXPORTS = {
    **dict.fromkeys(["ConditionalDenoiser", "LatentAdapter", "build_unet"], "model"),
    **dict.fromkeys(["CDiffDecoder"], "plugin"),
    **dict.fromkeys(["CDiffOptions", "options_for"], "options"),
    **dict.fromkeys(["SCHEDULER_NAMES", "make_scheduler", "sample"], "sampling"),
    **dict.fromkeys(["SCHEDULES", "flow_scheduler_config", "scheduler_config", "shifted_cosine_betas"], "schedules"),
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
