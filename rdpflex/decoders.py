"""The decoder-plugin interface, declared once.

A decoder family is a class with a stable ``name``, a pydantic ``Options`` model of its
decode-time knobs (``extra="forbid"``, bounds checked) and the methods below. Register it from a
plugin module::

    @rdpflex.hookspecs.hookimpl
    def register_decoders(register):
        register(MyDecoder)

Decoding is batched: ``decode_batch(latents, codec, options, generators)`` takes same-size latents
and one ``torch.Generator`` per image, so image ``i`` gets the same pixels alone or in a batch.
:class:`DecoderBase` gives every family the defaults (a ``decode_batch`` that decodes one latent
at a time, tiling, save/load of a weight-free family) and declares the capability flags once::

    flag               default  meaning
    stochastic         False    output depends on the generator (seed)
    needs_grad         False    decode runs with autograd enabled (guidance); otherwise inference mode
    needs_weights      True     loaded from SYSTEM/decoders/<name>/
    trained_on_codec   True     weights belong to one codec: its fingerprint is recorded and checked
                                (False: codec-independent weights, e.g. an unconditional prior)
    supports_tiling    False    a large image may be decoded in overlapping tiles (rdpflex.tiling)

Classes that do not subclass :class:`DecoderBase` (third-party plugins written against the
protocol) still work: :func:`capabilities` and :func:`run_decoder` (the framework's side of a decoder call,
also importable under its documented name ``decode_batch``) fill in the same defaults.
A plugin may register a :class:`rdpflex.cards.DecoderCard` (metadata + the class's import path)
instead of the class, so listing decoders never imports torch; the options helpers
(:func:`parse_options`, :func:`describe`, :class:`NoOptions`) live in :mod:`rdpflex.cards` and are
re-exported here. Reference: docs/plugins/decoder-interface.md; conformance suite: :mod:`rdpflex.testing`.

Trained decoders live in ``SYSTEM/decoders/<name>/``: a ``config.json`` plus either
``model.safetensors`` or component folders in diffusers' ``save_pretrained`` layout
(:mod:`rdpflex.components`), safetensors only; :meth:`rdpflex.system.System.decoder` loads them
and refuses weights trained on another codec.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import torch
from pydantic import BaseModel
from torch import Tensor

from rdpflex.cards import CAPABILITY_FLAGS, Capabilities, DecoderCard, NoOptions, capabilities, describe, parse_options
from rdpflex.codecs import Codec
from rdpflex.errors import OptionsError
from rdpflex.latent import Latent

if TYPE_CHECKING:
    from rdpflex.tiling import TileSpec


@runtime_checkable
class Decoder(Protocol):
    """What every decoder family provides (:class:`DecoderBase` implements all but ``decode``)."""

    name: ClassVar[str]
    #: one line for ``rdpflex decoders``
    description: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    @classmethod
    def from_pretrained(cls, path: Path | None, codec: Codec) -> "Decoder":
        """Load from ``decoders/<name>/`` (``None`` when the family needs no weights)."""
        ...

    def save_pretrained(self, path: Path) -> None:
        """Write ``config.json`` + ``model.safetensors`` or component folders into ``path``."""
        ...

    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        """Images (1, 3, *latent.padded_size) in [0, 1] from one latent. ``generator`` seeds any sampling."""
        ...


class DecoderBase:
    """Defaults and capability flags of a decoder family; subclasses set ``name``/``Options`` and ``decode``.

    Override :meth:`decode_batch` when the family batches natively (``cdiff`` does) and
    :meth:`decode_tiled` when tiles must be blended inside the decoder (``cdiff`` blends every
    denoising step); the default tiles the latent and blends the decoded tiles.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions

    stochastic: ClassVar[bool] = False
    needs_grad: ClassVar[bool] = False
    needs_weights: ClassVar[bool] = True
    trained_on_codec: ClassVar[bool] = True
    supports_tiling: ClassVar[bool] = False

    def __init_subclass__(cls, card: DecoderCard | None = None, **kwargs: Any) -> None:
        """``class MyDecoder(DecoderBase, card=DECODER)`` takes name, description, ``Options``, the capability
        flags and the sweep from the family's card, so they are declared once and cannot disagree with it."""
        super().__init_subclass__(**kwargs)
        if card is not None:
            attrs = {"name": card.name, "description": card.description, "Options": card.Options, "sweep": card.sweep}
            for attr, value in (attrs | {f: getattr(card.capabilities, f) for f in CAPABILITY_FLAGS}).items():
                setattr(cls, attr, value)

    @classmethod
    def from_pretrained(cls, path: Path | None, codec: Codec) -> "DecoderBase":
        if cls.needs_weights:
            raise NotImplementedError(f"{cls.__name__} needs weights: implement from_pretrained")
        return cls()

    def save_pretrained(self, path: Path) -> None:
        if self.needs_weights:
            raise NotImplementedError(f"{type(self).__name__} needs weights: implement save_pretrained")

    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def decode_batch(
        self, latents: Sequence[Latent], codec: Codec, options: BaseModel, generators: Sequence[torch.Generator]
    ) -> Tensor:
        """(B, 3, Hp, Wp) from B latents of one padded size; default: one :meth:`decode` per latent."""
        return torch.cat([self.decode(lat, codec, options, g) for lat, g in zip(latents, generators)])

    def check_image(self, stem: str, padded_size: tuple[int, int], options: BaseModel, tile: "TileSpec | None") -> None:
        """Refuse an image this decoder cannot decode with these options (a one-line :class:`OptionsError`), e.g.
        one above the size it samples whole. Called by the pipeline from the file's header, before any latent is
        entropy-decoded, so a refusal costs nothing. Optional: the default accepts every image."""

    def decode_tiled(
        self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator, tile: "TileSpec"
    ) -> Tensor:
        """One latent decoded tile by tile (bounded memory), seams blended: :func:`decode_tile_by_tile`."""
        return decode_tile_by_tile(self, latent, codec, options, generator, tile)


def decode_tile_by_tile(
    decoder: Decoder, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator, tile: "TileSpec"
) -> Tensor:
    """One latent decoded by ``decoder.decode`` on overlapping sub-latents, seams blended
    (:func:`rdpflex.tiling.decode_in_tiles`): the default ``decode_tiled`` of every family."""
    from rdpflex.tiling import decode_in_tiles

    return decode_in_tiles(lambda sub: decoder.decode(sub, codec, options, generator), latent, codec, tile)


def run_decoder(
    decoder: Decoder,
    latents: Sequence[Latent],
    codec: Codec,
    options: BaseModel,
    generators: Sequence[torch.Generator],
    tile: "TileSpec | None" = None,
) -> Tensor:
    """Pixels from same-size latents through any decoder (base class or bare protocol): the framework's side of
    a decoder call, around the family's own ``decode_batch`` / ``decode_tiled`` / ``decode`` method.

    Inference mode by default; autograd enabled for a family that declares ``needs_grad``. With
    ``tile`` (families with ``supports_tiling`` only), each latent is decoded in overlapping tiles.
    Returns (B, 3, Hp, Wp) float32 in [0, 1] (not yet cropped to the image size).
    """
    if len(latents) != len(generators):
        raise ValueError(f"{len(latents)} latents but {len(generators)} generators: pass one generator per image")
    if len({tuple(lat.y_hat.shape) for lat in latents}) > 1:
        raise ValueError("run_decoder needs latents of one shape; group them first (rdpflex.pipeline.batches)")
    caps = capabilities(decoder)
    if tile is not None and not caps.supports_tiling:
        raise OptionsError(f"decoder {decoder.name!r} does not support tiling; decode it whole (no --tile)")
    mode = torch.enable_grad() if caps.needs_grad else torch.inference_mode()
    with mode:
        if tile is not None:
            own_tiled = getattr(decoder, "decode_tiled", None)
            out = torch.cat(
                [
                    own_tiled(lat, codec, options, g, tile)
                    if own_tiled is not None
                    else decode_tile_by_tile(decoder, lat, codec, options, g, tile)
                    for lat, g in zip(latents, generators)
                ]
            )
        elif hasattr(decoder, "decode_batch"):
            out = decoder.decode_batch(list(latents), codec, options, list(generators))
        else:
            out = torch.cat([decoder.decode(lat, codec, options, g) for lat, g in zip(latents, generators)])
    # cloned outside inference mode: callers may modify the result in place
    return out.detach().float().clamp(0, 1).clone()


#: the documented name of :func:`run_decoder` (docs/plugins/decoder-interface.md; :mod:`rdpflex.testing`,
#: the benchmarks and plugin tests call it): kept so that plugins written against it keep working
decode_batch = run_decoder


__all__ = [
    "Decoder",
    "DecoderBase",
    "run_decoder",
    "decode_batch",
    "decode_tile_by_tile",
    "NoOptions",
    "Capabilities",
    "CAPABILITY_FLAGS",
    "capabilities",
    "describe",
    "parse_options",
]
