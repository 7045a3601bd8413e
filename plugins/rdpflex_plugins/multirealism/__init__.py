"""``multirealism`` decoder family (Agustsson, Minnen, Toderici, Mentzer 2023, "Multi-Realism Image
Compression with a Conditional Generator", CVPR 2023, arXiv:2212.13824).

Modules (see docs/decoders/multirealism.md):

- :mod:`.hooks` — the plugin module: cards of the decoder, the ``joint`` stage and the trainer (no torch)
- :mod:`.options`, :mod:`.settings` — decode-time options and training settings (pydantic only)
- :mod:`.conditioning` — FourierCond / TableCond beta embeddings and per-conv offsets (Sec. 3.3, Fig. 5)
- :mod:`.generator` — the beta-conditional generator G(y_hat, beta) (Sec. 3.2, Fig. 5)
- :mod:`.discriminator` — HiFiC's conditional patch discriminator D(y_hat, x)
- :mod:`.losses` — Eq. 2/3/4, beta sampling, the Sec. 4.5 schedule
- :mod:`.plugin` — the :class:`MultiRealismDecoder` (inference only)
- :mod:`.training` — the ``joint`` stage and the frozen-codec trainer

Names below are imported on first use (PEP 562), so importing the package stays light.
"""

import importlib
from typing import Any

_EXPORTS = {
    **dict.fromkeys(["FourierCond", "NoCond", "TableCond", "fourier_features"], "conditioning"),
    **dict.fromkeys(["ConditionalPatchDiscriminator", "build_discriminator"], "discriminator"),
    **dict.fromkeys(["MultiRealismGenerator", "build_generator", "build_generator_for"], "generator"),
    **dict.fromkeys(
        ["LossWeights", "discriminator_loss", "generator_loss", "paper_schedule", "rate_bpp", "sample_beta"], "losses"
    ),
    **dict.fromkeys(["MultiRealismDecoder"], "plugin"),
    **dict.fromkeys(["PAPER_BETA_MAX", "options_for", "MultiRealismOptions"], "options"),
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
