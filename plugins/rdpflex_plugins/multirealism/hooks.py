"""The ``multirealism`` plugin module (entry point ``multirealism``): cards only, no torch.

Registers the decoder family, the ``joint`` stage and the trainer of the generic ``decoder`` stage;
their implementations (:mod:`.plugin`, :mod:`.training`) are imported when first used.
"""

from __future__ import annotations

from rdpflex.cards import Capabilities, DecoderCard, StageCard, TrainerCard
from rdpflex.plugins import registering
from rdpflex_plugins.multirealism.options import MultiRealismOptions
from rdpflex_plugins.multirealism.settings import JointConfig, MultiRealismSettings, joint_problems

DECODER = DecoderCard(
    name="multirealism",
    description="beta-conditional GAN generator G(y_hat, beta) of Multi-Realism (Agustsson et al. 2023): "
    "beta=0 lowest distortion ... beta_max most realistic",
    implementation="rdpflex_plugins.multirealism.plugin:MultiRealismDecoder",
    Options=MultiRealismOptions,
    # G is deterministic and fully convolutional; trained on the codec, needs weights
    capabilities=Capabilities(supports_tiling=True),
    # the paper's evaluation betas (Sec. 5.2.1): the chain `rdpflex compare` draws by default
    sweep={"beta": [0.0, 0.64, 1.28, 2.56]},
)
JOINT = StageCard(
    name="joint",
    description="multi-realism joint training: encoder + entropy model + beta-conditional generator + discriminator "
    "(Eq. 3, 4), alternating G/D steps",
    implementation="rdpflex_plugins.multirealism.training:JointStage",
    Config=JointConfig,
    check_recipe=joint_problems,
)
TRAINER = TrainerCard(
    family="multirealism",
    implementation="rdpflex_plugins.multirealism.training:MultiRealismTrainer",
    Config=MultiRealismSettings,
    description="G and HiFiC's D on a frozen codec (Eq. 3, 4 without the rate term)",
)


register_decoders = registering(DECODER)
register_stages = registering(JOINT)
register_trainers = registering(TRAINER)
