"""Plugin metadata that loads without torch: *cards* for decoder families, training stages and trainers.

A card names what a plugin contributes and where its implementation lives, so that
``rdpflex decoders``, ``rdpflex plugins`` and ``rdpflex recipes validate`` answer without importing
torch, compressai or diffusers (seconds of start-up)::

    plugin hook module (light)            implementation module (heavy, imported on first use)
    ───────────────────────────────       ────────────────────────────────────────────────────
    DecoderCard(name, description,   ──►  "pkg.decoder:MyDecoder"   (DecoderBase subclass: decode ...)
                Options, capabilities,
                sweep, implementation)
    StageCard(name, Config, ...)     ──►  "pkg.training:MyStage"     (the Stage protocol)
    TrainerCard(family, Config, ...) ──►  "pkg.training:MyTrainer"   (trainer of the generic `decoder` stage)

A hook may register the class itself instead of a card (simplest for a third-party plugin that
imports torch anyway); :meth:`DecoderCard.of` derives the card from it. :meth:`DecoderCard.load`
imports the implementation and refuses one whose ``name``, ``Options`` or capability flags differ
from its card (the conformance suite, :mod:`rdpflex.testing`, checks the same).

This module also holds what describes decode-time options: :class:`NoOptions`,
:class:`Capabilities`, :func:`parse_options` (``--set KEY=VALUE`` with one-line errors), :func:`resolve_options`
(what a decoder's own methods call) and
:func:`describe` (``rdpflex decoders --json``), and the rule a decoder name follows (:func:`is_decoder_name`).
It imports pydantic and the standard library only.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from rdpflex.errors import OptionsError, RdpflexError

#: what a decoder family name may hold: it is a command-line word (``--decoder NAME``, ``compare`` specs
#: ``NAME:KEY=V1,V2``) and a folder name (``SYSTEM/decoders/NAME/``)
DECODER_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def is_decoder_name(name: str) -> bool:
    """Whether ``name`` is a valid decoder family name (:data:`DECODER_NAME`, the whole string)."""
    return DECODER_NAME.fullmatch(name) is not None


class NoOptions(BaseModel):
    """Options model of a decoder without decode-time knobs."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Capabilities:
    """What a decoder family declares about itself (see :mod:`rdpflex.decoders` for each flag)."""

    stochastic: bool = False
    needs_grad: bool = False
    needs_weights: bool = True
    trained_on_codec: bool = True
    supports_tiling: bool = False


CAPABILITY_FLAGS = tuple(Capabilities.__dataclass_fields__)


def capabilities(decoder: Any) -> Capabilities:
    """The flags of a decoder card, class or instance, defaults filled in for classes written against the protocol."""
    if isinstance(decoder, DecoderCard):
        return decoder.capabilities
    return Capabilities(**{f: bool(getattr(decoder, f, getattr(Capabilities, f))) for f in CAPABILITY_FLAGS})


def import_target(target: str, what: str) -> Any:
    """``"package.module:Attribute"`` imported; one-line :class:`RdpflexError` naming the target otherwise."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise RdpflexError(f"{what}: implementation {target!r} must look like 'package.module:ClassName'")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise RdpflexError(f"{what}: cannot import its implementation {target!r}: {exc}") from exc


def target_of(cls: type) -> str:
    """``"package.module:ClassName"`` of a class (what :func:`import_target` imports back)."""
    return f"{cls.__module__}:{cls.__qualname__}"


class _Card:
    """What the plugin cards share: :meth:`of` (the card of a class registered directly) and :meth:`load`
    (that class, or the ``implementation`` imported and checked against the card).

    A card subclass (a frozen dataclass with ``implementation`` and ``cls`` fields) says what it reads from
    a class (:meth:`_fields_of`), how it names itself in errors (:meth:`_label`) and what it checks
    (:meth:`_refusal`).
    """

    implementation: str
    cls: type | None

    @classmethod
    def _fields_of(cls, impl: Any) -> dict[str, Any]:
        """The card's fields (other than ``implementation`` and ``cls``) read from the class ``impl``."""
        raise NotImplementedError

    def _label(self) -> str:
        raise NotImplementedError

    def _refusal(self, impl: Any) -> str | None:
        """Why the imported class ``impl`` contradicts this card (None: it agrees)."""
        raise NotImplementedError

    @classmethod
    def of(cls, impl: type) -> Self:
        """The card of a class registered directly (no import needed to load it)."""
        return cls(**(cls._fields_of(impl) | {"implementation": target_of(impl), "cls": impl}))

    def load(self) -> type:
        """The class (imports the implementation); refuses one that contradicts this card."""
        if self.cls is not None:
            return self.cls
        impl: type = import_target(self.implementation, self._label())
        refusal = self._refusal(impl)
        if refusal:
            raise RdpflexError(refusal)
        return impl


@dataclass(frozen=True)
class DecoderCard(_Card):
    """A decoder family's metadata; its class (``implementation``) is imported only by :meth:`load`."""

    name: str
    description: str
    #: ``"package.module:ClassName"`` of the decoder class
    implementation: str
    Options: type[BaseModel] = NoOptions
    capabilities: Capabilities = Capabilities()
    #: the knob grid `rdpflex compare` runs by default (``{"beta": [0.0, 2.56]}``); {} = default options
    sweep: dict[str, list[Any]] = field(default_factory=dict)
    #: set by :meth:`of` for a class registered directly (no import needed)
    cls: type | None = field(default=None, compare=False, repr=False)

    @classmethod
    def _fields_of(cls, impl: Any) -> dict[str, Any]:
        return {
            "name": impl.name,
            "description": getattr(impl, "description", ""),
            "Options": impl.Options,
            "capabilities": capabilities(impl),
            "sweep": dict(getattr(impl, "sweep", None) or {}),
        }

    def _label(self) -> str:
        return f"decoder {self.name!r}"

    def _refusal(self, impl: Any) -> str | None:
        problems = card_mismatches(self, impl)
        if problems:
            return f"{self._label()}: card and class {self.implementation} disagree: {'; '.join(problems)}"
        return None


def card_mismatches(card: DecoderCard, decoder_cls: type) -> list[str]:
    """What a decoder class says differently from its card (empty when they agree)."""
    problems = []
    if getattr(decoder_cls, "name", None) != card.name:
        problems.append(f"name {getattr(decoder_cls, 'name', None)!r} != {card.name!r}")
    if getattr(decoder_cls, "Options", None) is not card.Options:
        problems.append("Options is not the card's Options model")
    if capabilities(decoder_cls) != card.capabilities:
        problems.append(f"capabilities {asdict(capabilities(decoder_cls))} != {asdict(card.capabilities)}")
    if dict(getattr(decoder_cls, "sweep", None) or {}) != card.sweep:
        problems.append("sweep differs")
    return problems


@dataclass(frozen=True)
class StageCard(_Card):
    """A training stage's metadata: ``name`` (the recipe's ``stage:``) and the pydantic ``Config`` of its section.

    ``check_recipe(recipe, config) -> [(dotted path, message)]`` (optional) adds cross-section checks
    that need no heavy import; the stage class's own ``check_recipe`` runs when it is loaded.
    """

    name: str
    description: str
    implementation: str
    Config: type[BaseModel]
    check_recipe: Callable[[Any, Any], list[tuple[str, str]]] | None = None
    cls: type | None = field(default=None, compare=False, repr=False)

    @classmethod
    def _fields_of(cls, impl: Any) -> dict[str, Any]:
        return {
            "name": impl.name,
            "description": getattr(impl, "description", ""),
            "Config": impl.Config,
            "check_recipe": getattr(impl, "check_recipe", None),
        }

    def _label(self) -> str:
        return f"stage {self.name!r}"

    def _refusal(self, impl: Any) -> str | None:
        if getattr(impl, "name", None) != self.name or getattr(impl, "Config", None) is not self.Config:
            return f"{self._label()}: card and class {self.implementation} disagree on name or Config"
        return None


@dataclass(frozen=True)
class TrainerCard(_Card):
    """A trainer of the generic ``decoder`` stage for one decoder ``family``; ``Config`` validates
    ``decoder.settings``."""

    family: str
    implementation: str
    Config: type[BaseModel]
    description: str = ""
    cls: type | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.family

    @classmethod
    def _fields_of(cls, impl: Any) -> dict[str, Any]:
        return {"family": impl.family, "Config": impl.Config, "description": getattr(impl, "description", "")}

    def _label(self) -> str:
        return f"trainer of {self.family!r}"

    def _refusal(self, impl: Any) -> str | None:
        if getattr(impl, "Config", None) is not self.Config:
            return f"{self._label()}: {self.implementation}.Config is not the card's Config"
        return None


@dataclass(frozen=True)
class CodecCard:
    """What recipe validation needs of a codec architecture: its constructor arguments and input granularity."""

    arch: str
    #: constructor argument names (``config:`` of a recipe); None: any (``**kwargs``)
    params: tuple[str, ...] | None
    #: input sides must be multiples of this
    downsample: int
    implementation: str

    @classmethod
    def of(cls, codec_cls: Any) -> "CodecCard":
        """The card of a codec class (``arch``, ``downsample``, constructor arguments)."""
        import inspect

        params = inspect.signature(codec_cls.__init__).parameters
        names = (
            None if any(p.kind is p.VAR_KEYWORD for p in params.values()) else tuple(n for n in params if n != "self")
        )
        return cls(codec_cls.arch, names, int(getattr(codec_cls, "downsample", 1)), target_of(codec_cls))


#: rdpflex's own codec architectures (rdpflex.codecs.BUILTIN_CODECS), described without importing compressai;
#: a test keeps this table equal to ``CodecCard.of`` of each class
BUILTIN_CODEC_CARDS = {
    c.arch: c
    for c in (
        CodecCard("msh", ("N", "M"), 64, "rdpflex.codecs.hyperprior:MeanScaleHyperprior"),
        CodecCard("elic", ("N", "M", "slices", "blocks", "hidden"), 64, "rdpflex.codecs.elic:ElicCharm"),
        CodecCard("compressai", ("zoo_arch", "N", "M", "net"), 64, "rdpflex.codecs.compressai_zoo:CompressAIZooCodec"),
    )
}


# -- decode-time options -----------------------------------------------------------------------------
def parse_options(decoder: Any, pairs: list[str] | dict[str, Any]) -> BaseModel:
    """Validate ``KEY=VALUE`` strings (or a dict) against ``decoder.Options``; one-line :class:`OptionsError`.

    ``decoder`` is a card, a class or a loaded decoder (pass the loaded one to check bounds that depend
    on its weights, e.g. ``multirealism``'s ``beta_max``).
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
        return decoder.Options(**raw)
    except ValidationError as exc:
        allowed = (
            ", ".join(option_range(k, v) for k, v in decoder.Options.model_json_schema().get("properties", {}).items())
            or "none"
        )
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise OptionsError(f"invalid options for decoder {decoder.name!r}: {problems} (options: {allowed})") from None


def resolve_options(decoder: Any, options: BaseModel | dict[str, Any] | None) -> BaseModel:
    """The options a loaded ``decoder`` decodes with. An instance of ``decoder.Options`` (what the pipeline passes,
    validated once by :func:`rdpflex.pipeline.resolve_decoder`) is returned as it is; anything else (a dict, another
    model, None: direct calls) is validated by :func:`parse_options` against the decoder's own bounds, a model's
    unset (None) fields left out so that the decoder's defaults apply."""
    if isinstance(options, decoder.Options):
        return options
    raw = options.model_dump(exclude_none=True) if isinstance(options, BaseModel) else dict(options or {})
    return parse_options(decoder, raw)


def option_range(name: str, prop: dict[str, Any]) -> str:
    """``0 <= beta <= 2.56`` from a JSON-schema property (bounds looked up in ``anyOf`` branches too)."""
    for branch in [prop, *prop.get("anyOf", [])]:
        lo = branch.get("minimum", branch.get("exclusiveMinimum"))
        hi = branch.get("maximum", branch.get("exclusiveMaximum"))
        if lo is not None or hi is not None:
            lo_op = "<" if "exclusiveMinimum" in branch else "<="
            hi_op = "<" if "exclusiveMaximum" in branch else "<="
            return (
                (f"{lo:g} {lo_op} " if lo is not None else "") + name + (f" {hi_op} {hi:g}" if hi is not None else "")
            )
    if "enum" in prop:
        return f"{name} in {{{', '.join(map(str, prop['enum']))}}}"
    return name


def describe(decoder: Any) -> dict[str, Any]:
    """Machine-readable description of a decoder card or class (``rdpflex decoders --json``)."""
    card = decoder if isinstance(decoder, DecoderCard) else DecoderCard.of(decoder)
    caps = asdict(card.capabilities)
    return {
        "name": card.name,
        "description": card.description,
        "needs_weights": caps["needs_weights"],
        "capabilities": caps,
        "options": card.Options.model_json_schema(),
        "sweep": card.sweep,
        "module": card.implementation.partition(":")[0],
        "implementation": card.implementation,
    }


__all__ = [
    "NoOptions",
    "DECODER_NAME",
    "is_decoder_name",
    "Capabilities",
    "CAPABILITY_FLAGS",
    "capabilities",
    "DecoderCard",
    "StageCard",
    "TrainerCard",
    "CodecCard",
    "BUILTIN_CODEC_CARDS",
    "card_mismatches",
    "parse_options",
    "resolve_options",
    "describe",
    "option_range",
    "import_target",
    "target_of",
]
