"""The plugin module (entry point ``refine``): registers the decoder and its trainer as cards.

Cards carry the metadata (`rdpflex decoders`, `rdpflex recipes validate` read them without torch);
the classes named in ``implementation`` are imported the first time they are needed.
"""

from rdpflex.cards import Capabilities, DecoderCard, TrainerCard
from rdpflex.hookspecs import hookimpl

from rdpflex_refine.options import RefineOptions
from rdpflex_refine.settings import RefineSettings

DECODER = DecoderCard(
    name="refine",
    description="mse reconstruction + a small learned residual CNN (example plugin rdpflex-refine)",
    implementation="rdpflex_refine.decoder:RefineDecoder",
    Options=RefineOptions,
    capabilities=Capabilities(needs_weights=True, trained_on_codec=True),
    sweep={"strength": [0.0, 0.5, 1.0]},  # the chain `rdpflex compare` draws by default
)
TRAINER = TrainerCard(
    family="refine",
    implementation="rdpflex_refine.training:RefineTrainer",
    Config=RefineSettings,
    description="the refiner on a frozen codec (MSE loss)",
)


@hookimpl
def register_decoders(register):
    register(DECODER)


@hookimpl
def register_trainers(register):
    register(TRAINER)
