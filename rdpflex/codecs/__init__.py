"""Codec registry: architecture name -> :class:`~rdpflex.codecs.base.Codec` subclass.

Plugins add architectures through the ``register_codecs`` hook.
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


def codec_classes() -> dict[str, type[Codec]]:
    from rdpflex.plugins import get_codecs

    return {**BUILTIN_CODECS, **get_codecs()}


def build_codec(arch: str, **config: Any) -> Codec:
    from rdpflex.errors import UnknownPluginError

    classes = codec_classes()
    if arch not in classes:
        raise UnknownPluginError(f"unknown codec architecture {arch!r}; available: {', '.join(sorted(classes))}")
    return classes[arch](**config)


__all__ = ["Codec", "build_codec", "codec_classes", "TINY", "MeanScaleHyperprior", "ElicCharm", "CompressAIZooCodec"]
