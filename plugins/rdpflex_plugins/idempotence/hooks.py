"""The ``idempotence`` plugin module (entry point ``idempotence``): cards only, no torch.

Registers the decoder family (Xu, Zhang, Li, Ma 2024, "Idempotence and Perceptual Image Compression",
ICLR 2024, arXiv:2401.08920) and the ``prior`` stage that trains its unconditional diffusion prior.
"""

from __future__ import annotations

from rdpflex.cards import Capabilities, DecoderCard, StageCard
from rdpflex.plugins import registering

from .options import DEFAULT_ZETA, IdempotenceOptions
from .settings import PriorConfig, prior_problems

DECODER = DecoderCard(
    name="idempotence",
    description="unconditional diffusion prior inverted under a re-encoding constraint (Xu et al. 2024); "
    "zeta, steps, strength, project",
    implementation="rdpflex_plugins.idempotence.plugin:IdempotenceDecoder",
    Options=IdempotenceOptions,
    capabilities=Capabilities(stochastic=True, needs_grad=True, trained_on_codec=False, supports_tiling=True),
    # one point by default: guidance (zeta > 0) costs a backward pass per step (compare takes explicit grids)
    sweep={"zeta": [DEFAULT_ZETA]},
)
PRIOR = StageCard(
    name="prior",
    description="train the unconditional diffusion prior of the idempotence decoder (codec-independent)",
    implementation="rdpflex_plugins.idempotence.training:PriorStage",
    Config=PriorConfig,
    check_recipe=prior_problems,
)


register_decoders = registering(DECODER)
register_stages = registering(PRIOR)
