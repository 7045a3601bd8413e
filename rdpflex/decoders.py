"""The decoder-plugin interface, declared once.

A decoder family is a class with a stable ``name``, a pydantic ``Options`` model of its
decode-time knobs (``extra="forbid"``, bounds checked) and the methods below. Register it from a
plugin module::

    @rdpflex.hookspecs.hookimpl
    def register_decoders(register):
        register(MyDecoder)

Trained decoders live in ``SYSTEM/decoders/<name>/`` (``config.json`` + ``model.safetensors``);
:meth:`rdpflex.system.System.decoder` loads them and refuses weights trained on another codec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import Tensor

from rdpflex.codecs import Codec
from rdpflex.errors import OptionsError
from rdpflex.latent import Latent


class NoOptions(BaseModel):
    """Options model of a decoder without decode-time knobs."""

    model_config = ConfigDict(extra="forbid")


@runtime_checkable
class Decoder(Protocol):
    """What every decoder family provides."""

    name: ClassVar[str]
    #: one line for ``rdpflex decoders``
    description: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    #: False when the family needs no weights of its own (``mse``)
    needs_weights: ClassVar[bool]

    @classmethod
    def from_pretrained(cls, path: Path | None, codec: Codec) -> "Decoder":
        """Load from ``decoders/<name>/`` (``None`` when the family needs no weights)."""
        ...

    def save_pretrained(self, path: Path) -> None:
        """Write ``config.json`` + ``model.safetensors`` into ``path``."""
        ...

    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        """Images (1, 3, *latent.padded_size) in [0, 1] from one latent. ``generator`` seeds any sampling."""
        ...


def parse_options(decoder_cls: Any, pairs: list[str] | dict[str, Any]) -> BaseModel:
    """Validate ``KEY=VALUE`` strings (or a dict) against ``decoder_cls.Options``; one-line errors.

    Pass a loaded decoder instead of its class to check bounds that depend on its weights.
    """
    if isinstance(pairs, dict):
        raw = dict(pairs)
    else:
        raw = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise OptionsError(f"--set expects KEY=VALUE, got {pair!r}")
            raw[key.strip()] = value.strip()
    try:
        return decoder_cls.Options(**raw)
    except ValidationError as exc:
        allowed = ", ".join(_describe_field(k, v) for k, v in decoder_cls.Options.model_json_schema().get("properties", {}).items()) or "none"
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise OptionsError(f"invalid options for decoder {decoder_cls.name!r}: {problems} (options: {allowed})") from None


def _describe_field(name: str, prop: dict[str, Any]) -> str:
    """``0 <= beta <= 2.56`` from a JSON-schema property (bounds looked up in ``anyOf`` branches too)."""
    for branch in [prop, *prop.get("anyOf", [])]:
        lo = branch.get("minimum", branch.get("exclusiveMinimum"))
        hi = branch.get("maximum", branch.get("exclusiveMaximum"))
        if lo is not None or hi is not None:
            lo_op = "<" if "exclusiveMinimum" in branch else "<="
            hi_op = "<" if "exclusiveMaximum" in branch else "<="
            return (f"{lo:g} {lo_op} " if lo is not None else "") + name + (f" {hi_op} {hi:g}" if hi is not None else "")
    if "enum" in prop:
        return f"{name} in {{{', '.join(map(str, prop['enum']))}}}"
    return name


def describe(decoder_cls: type) -> dict[str, Any]:
    """Machine-readable description (``rdpflex decoders --json``)."""
    return {
        "name": decoder_cls.name,
        "description": getattr(decoder_cls, "description", ""),
        "needs_weights": getattr(decoder_cls, "needs_weights", True),
        "options": decoder_cls.Options.model_json_schema(),
        "module": decoder_cls.__module__,
    }
