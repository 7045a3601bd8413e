"""``mse``: the codec's own synthesis transform g_s — the minimal-distortion reconstruction.

:mod:`.hooks` is the plugin module (a card, no torch); :mod:`.decoder` holds :class:`MSEDecoder`,
imported on first use (PEP 562).
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "MSEDecoder":
        from rdpflex_plugins.mse.decoder import MSEDecoder

        return MSEDecoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
