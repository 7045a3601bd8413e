"""``cdiff`` decoder family: a conditional diffusion decoder on the shared latent.

Mari, Lazzaretti, Rosato, Lelli, Sabatini 2024, "Enhancing the Rate-Distortion-Perception Flexibility
of Learned Image Codecs with Conditional Diffusion Decoders" (arXiv 2403.02887), with the two-stage
design and shifted noise schedule of Hoogeboom et al. 2023, "High-Fidelity Image Compression with
Score-based Generative Models" (HFD, arXiv 2305.18231). See docs/decoders/cdiff.md.

- :mod:`.schedules` — noise schedules, HFD's shifted cosine
- :mod:`.model` — latent adapter + diffusers UNet2DModel (the conditional denoiser)
- :mod:`.sampling` — ddpm / ddim / dpm-solver via ``from_config``, per-step tiling
- :mod:`.plugin` — the :class:`CDiffDecoder` registered with rdpflex
- :mod:`.training` — the trainer for the ``decoder`` stage (imported only when training)
"""

from rdpflex_plugins.cdiff.model import ConditionalDenoiser, LatentAdapter, build_unet
from rdpflex_plugins.cdiff.plugin import CDiffDecoder, CDiffOptions, options_for
from rdpflex_plugins.cdiff.sampling import SCHEDULER_NAMES, make_scheduler, sample
from rdpflex_plugins.cdiff.schedules import SCHEDULES, scheduler_config, shifted_cosine_betas

__all__ = [
    "ConditionalDenoiser", "LatentAdapter", "build_unet", "CDiffDecoder", "CDiffOptions", "options_for",
    "SCHEDULER_NAMES", "make_scheduler", "sample", "SCHEDULES", "scheduler_config", "shifted_cosine_betas",
]
