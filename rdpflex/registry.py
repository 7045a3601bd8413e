"""Codec architectures by name: the built-in ones (:mod:`rdpflex.codecs`) and those plugins register.

It sits above :mod:`rdpflex.codecs` and :mod:`rdpflex.plugins` (whose plugins import the codecs), so
that the codec package never reaches up to the plugin manager.
"""

from __future__ import annotations

from typing import Any

from rdpflex.codecs import BUILTIN_CODECS, Codec
from rdpflex.errors import UnknownPluginError
from rdpflex.plugins import get_codecs


def codec_classes() -> dict[str, type[Codec]]:
    """Architecture name -> codec class: the built-ins, then every ``register_codecs`` plugin's."""
    return {**BUILTIN_CODECS, **get_codecs()}


def build_codec(arch: str, **config: Any) -> Codec:
    """A new codec of architecture ``arch`` (``config``: its constructor's keyword arguments)."""
    classes = codec_classes()
    if arch not in classes:
        raise UnknownPluginError(f"unknown codec architecture {arch!r}; available: {', '.join(sorted(classes))}")
    return classes[arch](**config)
