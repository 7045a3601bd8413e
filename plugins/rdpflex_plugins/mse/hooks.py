"""The ``mse`` plugin module (entry point ``mse``): the card of the codec's own synthesis, no torch."""

from __future__ import annotations

from rdpflex.cards import Capabilities, DecoderCard, NoOptions
from rdpflex.hookspecs import hookimpl

DECODER = DecoderCard(
    name="mse",
    description="the codec's own synthesis g_s (minimal distortion, deterministic)",
    implementation="rdpflex_plugins.mse.decoder:MSEDecoder",
    Options=NoOptions,
    capabilities=Capabilities(needs_weights=False, supports_tiling=True),
)


@hookimpl
def register_decoders(register):
    register(DECODER)
