"""The ``cdiff`` plugin module (entry point ``cdiff``): cards only, no torch.

Registers the decoder family and the trainer of the generic ``decoder`` stage; :mod:`.plugin` and
:mod:`.training` are imported when first used.
"""

from __future__ import annotations

from rdpflex.cards import Capabilities, DecoderCard, TrainerCard
from rdpflex.plugins import registering
from rdpflex_plugins.cdiff.options import CDiffOptions
from rdpflex_plugins.cdiff.settings import CDiffSettings

DECODER = DecoderCard(
    name="cdiff",
    description="conditional diffusion decoder on the latent (Mari et al. 2024; HFD two-stage over the mse image): "
    "scheduler/steps/eta move along the distortion-realism trade-off",
    implementation="rdpflex_plugins.cdiff.plugin:CDiffDecoder",
    Options=CDiffOptions,
    capabilities=Capabilities(stochastic=True, supports_tiling=True),
    # steps only, at the decoder's own sampler (ddim for diffusion, flow-euler for rectified flow): a sweep that
    # named a sampler would not fit a decoder of the other objective. 21 network calls per image
    sweep={"steps": [1, 4, 16]},
)
TRAINER = TrainerCard(
    family="cdiff",
    implementation="rdpflex_plugins.cdiff.training:CDiffTrainer",
    Config=CDiffSettings,
    description="the conditional denoiser on a frozen codec (DDPM or rectified-flow loss, EMA weights)",
)


register_decoders = registering(DECODER)
register_trainers = registering(TRAINER)
