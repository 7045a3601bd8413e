"""The ``mse`` plugin module (entry point ``mse``): the card of the codec's own synthesis, no torch."""

from __future__ import annotations

from rdpflex.cards import Capabilities, DecoderCard, NoOptions
from rdpflex.plugins import registering

DECODER = DecoderCard(
    name="mse",
    description="the codec's own synthesis g_s (minimal distortion, deterministic)",
    implementation="rdpflex_plugins.mse.decoder:MSEDecoder",
    Options=NoOptions,
    capabilities=Capabilities(needs_weights=False, supports_tiling=True),
)


register_decoders = registering(DECODER)
