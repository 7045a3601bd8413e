"""``multirealism`` decoder family (Agustsson et al. 2023, "Multi-Realism Image Compression with a Conditional Generator").

Modules (see docs/decoders/multirealism.md):

- :mod:`.conditioning` — FourierCond / TableCond beta embeddings and per-conv offsets (Sec. 3.3, Fig. 5)
- :mod:`.generator` — the beta-conditional generator G(y_hat, beta) (Sec. 3.2, Fig. 5)
- :mod:`.discriminator` — HiFiC's conditional patch discriminator D(y_hat, x)
- :mod:`.losses` — Eq. 2/3/4, beta sampling, the Sec. 4.5 schedule
- :mod:`.plugin` — the :class:`MultiRealismDecoder` registered with rdpflex
"""

from rdpflex_plugins.multirealism.conditioning import FourierCond, NoCond, TableCond, fourier_features
from rdpflex_plugins.multirealism.discriminator import ConditionalPatchDiscriminator, build_discriminator
from rdpflex_plugins.multirealism.generator import MultiRealismGenerator, build_generator, build_generator_for
from rdpflex_plugins.multirealism.losses import (
    LossWeights,
    discriminator_loss,
    generator_loss,
    paper_schedule,
    rate_bpp,
    sample_beta,
)
from rdpflex_plugins.multirealism.plugin import PAPER_BETA_MAX, MultiRealismDecoder, options_for

__all__ = [
    "FourierCond", "TableCond", "NoCond", "fourier_features",
    "ConditionalPatchDiscriminator", "build_discriminator",
    "MultiRealismGenerator", "build_generator", "build_generator_for",
    "LossWeights", "generator_loss", "discriminator_loss", "rate_bpp", "sample_beta", "paper_schedule",
    "MultiRealismDecoder", "options_for", "PAPER_BETA_MAX",
]
