"""Which decoders ``compare`` runs, and with which knobs.

A *decoder spec* names a decoder family and, optionally, a list of values per decode-time knob::

    mse                                  the family at its default options
    multirealism:beta=0,0.64,1.28,2.56   four settings (one per value)
    cdiff:steps=10,50:scheduler=ddim,ddpm  the cartesian product: 2 x 2 = 4 settings

Knobs are separated by ``:`` (or ``;``), values by ``,``. Every expanded setting is validated by the
decoder's ``Options`` model before any work is done. Without any spec, ``compare`` runs ``mse`` and
every decoder trained in the system, each at its class attribute ``sweep`` (``{"beta": [...]}``)
when it defines one, else at its default options.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from rdpflex.cards import is_decoder_name
from rdpflex.decoders import parse_options
from rdpflex.errors import OptionsError, RdpflexError, UnknownPluginError
from rdpflex.plugins import get_decoder_class

DEFAULT_LABEL = "default"


@dataclass(frozen=True)
class DecoderSpec:
    """A parsed ``NAME[:KEY=V1,V2,...]...`` (knob values still strings, or values from a sweep)."""

    name: str
    knobs: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def __str__(self) -> str:
        return self.name + "".join(f":{k}={','.join(map(str, vs))}" for k, vs in self.knobs)


@dataclass
class DecoderSetting:
    """One decoder at one point of its knob grid."""

    decoder: str
    #: the knobs set explicitly (spec or sweep), in order; {} means the decoder's defaults
    knobs: dict[str, Any] = field(default_factory=dict)
    #: the validated options model handed to ``decode``
    options: BaseModel | None = None

    @property
    def label(self) -> str:
        """``"beta=0.64"``, ``"steps=10,scheduler=ddim"``, or ``"default"``."""
        if not self.knobs:
            return DEFAULT_LABEL
        return ",".join(f"{k}={_fmt(v)}" for k, v in self.knobs.items())

    @property
    def key(self) -> str:
        return f"{self.decoder}[{self.label}]"

    def options_dict(self) -> dict[str, Any]:
        """Every option of the validated model (defaults included), JSON-friendly."""
        if self.options is None:
            return {k: _jsonable(v) for k, v in self.knobs.items()}
        return {k: _jsonable(v) for k, v in self.options.model_dump().items()}

    def options_json(self) -> str:
        return json.dumps(self.options_dict(), sort_keys=True)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return str(getattr(v, "value", v))


def parse_decoder_spec(text: str) -> DecoderSpec:
    """``"NAME:KEY=V1,V2:KEY2=A,B"`` -> :class:`DecoderSpec`; one-line :class:`OptionsError` when malformed."""
    raw = str(text).strip()
    parts = [p.strip() for p in re.split(r"[:;]", raw)]
    name = parts[0]
    if not is_decoder_name(name):
        raise OptionsError(f"--decoder expects NAME or 'NAME:KEY=V1,V2,...', got {text!r}")
    knobs: dict[str, tuple[str, ...]] = {}
    for part in parts[1:]:
        if not part:
            continue
        key, sep, values = part.partition("=")
        key = key.strip()
        vals = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or not key or not vals:
            raise OptionsError(f"--decoder {text!r}: expected KEY=V1,V2,... after {name!r}, got {part!r}")
        if key in knobs:
            raise OptionsError(f"--decoder {text!r}: knob {key!r} given twice")
        knobs[key] = vals
    return DecoderSpec(name, tuple(knobs.items()))


def _grid(knobs: tuple[tuple[str, tuple[Any, ...]], ...]) -> list[dict[str, Any]]:
    if not knobs:
        return [{}]
    keys = [k for k, _ in knobs]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(vs for _, vs in knobs))]


def sweep_of(decoder_cls: Any) -> dict[str, list[Any]]:
    """The ``sweep`` class attribute of a decoder family (``{}`` when it has none)."""
    sweep = getattr(decoder_cls, "sweep", None) or {}
    if not isinstance(sweep, dict) or not all(isinstance(v, (list, tuple)) and v for v in sweep.values()):
        raise RdpflexError(
            f"decoder {getattr(decoder_cls, 'name', decoder_cls)!r} has a malformed 'sweep' (expected dict[str, list])"
        )
    return {str(k): list(v) for k, v in sweep.items()}


def expand(
    spec: DecoderSpec, decoder: Any, strict: bool = True, notes: list[str] | None = None
) -> list[DecoderSetting]:
    """Every setting of ``spec`` validated against ``decoder.Options`` (an instance's own model when it has one).

    ``strict=False`` (sweeps): settings that fail validation are dropped with a note instead of raising.
    """
    out = []
    for knobs in _grid(spec.knobs):
        try:
            options = parse_options(decoder, dict(knobs)) if knobs else parse_options(decoder, {})
        except OptionsError as exc:
            if strict:
                raise
            if notes is not None:
                notes.append(
                    f"{spec.name}: sweep setting {','.join(f'{k}={_fmt(v)}' for k, v in knobs.items())} skipped ({exc})"
                )
            continue
        # report the knob values as validated (beta "0" -> 0.0), in spec order
        dumped = options.model_dump()
        resolved = {k: dumped.get(k, v) for k, v in knobs.items()}
        out.append(DecoderSetting(spec.name, resolved, options))
    return out


def resolve_settings(
    system: Any,
    decoders: Sequence[str | DecoderSpec] | None = None,
    notes: list[str] | None = None,
) -> list[DecoderSetting]:
    """Expand decoder specs (or the default choice) into validated, de-duplicated settings.

    Loads each decoder through ``system.decoder(name)`` (so missing weights or a fingerprint mismatch
    fail here, before anything is encoded). Default (``decoders`` None/empty): ``mse``, every installed
    weight-free family (``needs_weights = False``) that declares a ``sweep``, and every decoder trained in
    the system, each at its ``sweep`` or default options; a trained decoder whose plugin is not installed
    is skipped with a note.
    """
    from rdpflex.plugins import get_decoder_cards

    notes = notes if notes is not None else []
    specs: list[tuple[DecoderSpec, bool]] = []  # (spec, strict)
    if decoders:
        for d in decoders:
            spec = d if isinstance(d, DecoderSpec) else parse_decoder_spec(d)
            get_decoder_class(spec.name)  # unknown family: one line naming the installed ones
            specs.append((spec, True))
    else:
        installed = get_decoder_cards()
        weight_free = [n for n, c in installed.items() if not c.capabilities.needs_weights and c.sweep and n != "mse"]
        names = ["mse", *weight_free] + [n for n in system.trained_decoders() if n != "mse" and n not in weight_free]
        for n in names:
            if n not in installed:
                notes.append(f"decoder {n!r} is trained in the system but no installed plugin provides it: skipped")
                continue
            sweep = sweep_of(installed[n])
            specs.append((DecoderSpec(n, tuple((k, tuple(v)) for k, v in sweep.items())), False))
        if not specs:
            raise UnknownPluginError(
                "no decoder to compare: the 'mse' plugin is not installed and the system has no trained decoder"
            )

    settings: list[DecoderSetting] = []
    seen: set[tuple[str, str]] = set()
    for spec, strict in specs:
        decoder = system.decoder(spec.name)
        for s in expand(spec, decoder, strict=strict, notes=notes):
            key = (s.decoder, s.options_json())
            if key in seen:
                notes.append(f"{s.decoder} {s.label}: listed more than once; run once")
                continue
            seen.add(key)
            settings.append(s)
    if not settings:
        raise OptionsError("no valid decoder setting to compare")
    return settings
