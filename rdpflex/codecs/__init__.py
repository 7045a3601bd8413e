"""Built-in codec architectures: name -> :class:`~rdpflex.codecs.base.Codec` subclass.

Plugins add architectures through the ``register_codecs`` hook; :func:`rdpflex.registry.build_codec`
looks a name up in both (this package never imports the plugin manager).
"""

from __future__ import annotations

from typing import Any

from rdpflex.codecs.base import Codec
from rdpflex.codecs.compressai_zoo import CompressAIZooCodec
from rdpflex.codecs.elic import ElicCharm
from rdpflex.codecs.hyperprior import MeanScaleHyperprior

BUILTIN_CODECS: dict[str, type[Codec]] = {c.arch: c for c in (MeanScaleHyperprior, ElicCharm, CompressAIZooCodec)}

#: test-sized configurations, one call away: ``build_codec("msh", **TINY["msh"])``
TINY: dict[str, dict[str, Any]] = {
    "msh": {"N": 8, "M": 12},
    "elic": {"N": 16, "M": 20, "slices": 10, "blocks": 1, "hidden": 16},
}


__all__ = ["BUILTIN_CODECS", "Codec", "TINY", "MeanScaleHyperprior", "ElicCharm", "CompressAIZooCodec"]
