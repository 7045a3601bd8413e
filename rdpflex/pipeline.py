"""Library API of the two halves of rdpflex: encode images into one ``.rdp``, decode it with any decoder.

::

    compress_images(images, system)  ─► RdpFile (+ estimated bits)   write_rdp(path, rdp)

    decode_images(rdp, system, decoder="mse"|"cdiff"|..., options)  =  prepare_decoding(...) ─► DecodeJob.images()
      prepare_decoding: read ─► fingerprint ─► resolve_decoder (options validated once) ─► stems ─►
                        entropy-decode every latent (latents(): records -> Latent, symbol CRCs checked)
      DecodeJob.images: batches (same size) ─► run_decoder (pixel decoding) ─► crop
    save_images(pairs, DIR)  (the CLI's PNGs; ``rdpflex decompress`` is prepare_decoding + images + save_images)

"Entropy decoding" (records -> latents: :func:`latents`, ``_entropy_decode_*``) and "pixel decoding" (latents
-> images through a decoder family: :func:`decode_latents`, :func:`decode_group`, ``_pixel_decode_*``) are
the two halves; :func:`decode_images` does both.

Every ``system`` argument takes a :class:`~rdpflex.system.System`, a system directory, or ``None`` for
the default system (``$RDPFLEX_SYSTEM`` or the bundled demo system), as ``--system`` does::

    from rdpflex.bitstream import read_rdp
    from rdpflex.pipeline import decode_images, save_images

    save_images(decode_images(read_rdp("set.rdp"), None, "multirealism", {"beta": 1.28}), "out")

Decoded images are float tensors in [0, 1]; :func:`to_uint8` is the one 8-bit conversion (round half
up) that PNGs written by :func:`save_images` and ``rdpflex decompress`` use, so
``to_uint8(x)`` equals the pixels of the PNG the command line writes for the same file and options.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import BaseModel
from torch import Tensor

from rdpflex.bitstream import EncodedImage, RdpFile, Salvaged, read_rdp, read_rdp_salvaging
from rdpflex.codecs import Codec
from rdpflex.decoders import Decoder, parse_options, run_decoder
from rdpflex.errors import BitstreamError, DamagedImagesError, ForeignFileError, RdpflexError
from rdpflex.images import check_size, load_image, save_png
from rdpflex.images import psnr as psnr  # re-export: 8-bit PSNR, one helper for all of rdpflex
from rdpflex.images import to_uint8 as to_uint8  # re-export: the one 8-bit conversion (PNG files, PSNR)
from rdpflex.latent import Latent
from rdpflex.limits import max_pixels as pixel_cap
from rdpflex.limits import pixel_cap_message
from rdpflex.system import System
from rdpflex.tiling import TileSpec, analyse

#: what :func:`unique_stems` passes on with each stem (an image, a record)
_Item = TypeVar("_Item")

SystemLike = System | str | Path | None


def as_system(system: SystemLike) -> System:
    """A :class:`System` from a System, a system directory, or ``None`` (the default system)."""
    if isinstance(system, System):
        return system
    if system is None or isinstance(system, (str, Path)):
        return System.load(system)
    raise RdpflexError(
        f"system must be a rdpflex System, a system directory or None (the default system), not {type(system).__name__}"
    )


def _as_rdp(rdp: RdpFile | str | Path) -> RdpFile:
    if isinstance(rdp, RdpFile):
        return rdp
    if isinstance(rdp, (str, Path)):
        return read_rdp(rdp)
    raise RdpflexError(f"rdp must be an RdpFile (rdpflex.bitstream.read_rdp) or a .rdp path, not {type(rdp).__name__}")


@dataclass
class Encoded:
    """What compressing a set produced: the file contents and the model's own rate estimate."""

    rdp: RdpFile
    estimated_bits: list[float] = field(default_factory=list)

    def file_bpp(self, file_bytes: int | None = None) -> float:
        """bpp of the whole set from the file size (header included), the number to report."""
        pixels = sum(h * w for h, w in (im.image_size for im in self.rdp.images))
        return 8.0 * (file_bytes if file_bytes is not None else self.rdp.num_bytes()) / pixels


def _named(images: Iterable[Path | str | tuple[str, Tensor]]) -> Iterator[tuple[str, Tensor]]:
    if isinstance(images, (str, Path)):
        images = [images]
    for item in images:
        if isinstance(item, tuple):
            yield item
        else:
            yield Path(item).stem, load_image(item)


@torch.no_grad()
def encode_image(
    x: Tensor, system: System, stem: str = "image", estimate: bool = True, exact: bool = True
) -> tuple[EncodedImage, float, Tensor]:
    """Entropy-code one image (1, 3, H, W) in [0, 1]. Returns (record, estimated bits, y_hat).

    ``estimate`` also sums the model's own bits for what was coded, under the entropy parameters the
    coder used (reported beside the bpp from file bytes; an elementwise pass, no second network
    run); without it the estimate is NaN. ``exact`` selects the entropy-parameter path (see
    :meth:`rdpflex.codecs.Codec.compress`): exact fixed-point (decodes identically everywhere) or
    compressai's float path (byte-identical to CompressAI's strings).
    """
    system = as_system(system)
    codec = system.codec
    H, W = x.shape[-2:]
    check_size(H, W, stem)
    device = next(codec.parameters()).device
    xp = codec.pad(x.to(device))
    y = analyse(codec.g_a, xp, codec.latent_stride)  # tiled on large images (bounded memory)
    out = codec.entropy_encode(y, exact, estimate)
    bits = out.get("estimated_bits", math.nan)
    record = EncodedImage(
        stem=stem,
        image_size=(int(H), int(W)),
        padded_size=tuple(xp.shape[-2:]),
        latent_shape=tuple(out["y_hat"].shape[1:]),
        streams=[s[0] for s in out["strings"]],
        symbols_crc=out["symbols_crc"],
    )
    return record, bits, out["y_hat"]


def compress_images(
    images: Iterable[Path | str | tuple[str, Tensor]],
    system: SystemLike = None,
    estimate: bool = True,
    exact: bool = True,
) -> Encoded:
    """Encode image files (or ``(stem, tensor)`` pairs) into one :class:`RdpFile` (``estimate``, ``exact``:
    see :func:`encode_image`)."""
    system = as_system(system)
    records, bits = [], []
    for stem, x in unique_stems(_named(images), source=None):
        record, b, _ = encode_image(x, system, stem, estimate, exact)
        records.append(record)
        bits.append(b)
    return Encoded(RdpFile(fingerprint=system.fingerprint, images=records, arch=system.codec.arch, exact=exact), bits)


def check_compatible(rdp: RdpFile, system: System, source: str = "file") -> None:
    """Refuse a file written by another codec, naming both fingerprints."""
    if rdp.fingerprint != system.fingerprint:
        where = system.root or "(in memory)"
        raise ForeignFileError(
            f"{source} was written by codec {rdp.fingerprint[:16]} ({rdp.arch or '?'}), not by the codec of system "
            f"{where} ({system.fingerprint[:16]}, {system.codec.arch}); pass --system with the system that wrote it"
        )


def unique_stems(named: Iterable[tuple[str, _Item]], source: str | None = "file") -> Iterator[tuple[str, _Item]]:
    """``(stem, item)`` pairs as they come, refusing the first repeated stem before it is yielded: the two images'
    outputs (``<stem>.png``) would overwrite each other. ``source`` names the file in the message (None: no file,
    as for the images :func:`compress_images` encodes)."""
    seen: set[str] = set()
    for stem, item in named:
        if stem in seen:
            where = f"{source}: " if source is not None else ""
            raise BitstreamError(f"{where}two images share the stem {stem!r}; their outputs would overwrite each other")
        seen.add(stem)
        yield stem, item


def check_unique_stems(stems: Iterable[str], source: str = "file") -> None:
    """Refuse a file holding two images of one stem (all of ``stems`` now; see :func:`unique_stems`)."""
    for _ in unique_stems(((stem, None) for stem in stems), source):
        pass


# -- entropy decoding: records -> latents ---------------------------------------------------------------
def latents(
    rdp: RdpFile | str | Path, system: SystemLike = None, source: str = "file", max_pixels: int | None = None
) -> Iterator[Latent]:
    """Entropy-decode every image of a file into :class:`Latent`s, checked against the codec.

    Each image's decoded symbols are checked against the CRC the encoder recorded (format version
    2): a decoder that computed other entropy parameters raises :class:`EntropyMismatchError`
    instead of yielding a garbage latent. Version-1 files carry no such checksum.
    Every image's padded size is checked against the pixel cap (:mod:`rdpflex.limits`) before
    anything is entropy-decoded: a header claiming a huge image is refused before it is allocated.
    """
    rdp, system = _as_rdp(rdp), as_system(system)
    check_compatible(rdp, system, source)
    yield from _entropy_decode_file(rdp, system.codec, source, pixel_cap(max_pixels))


def _entropy_decode_file(rdp: RdpFile, codec: Codec, source: str, cap: int) -> Iterator[Latent]:
    """:func:`latents` of a file whose fingerprint was checked: sizes and geometry first, then the symbols."""
    for i, im in enumerate(rdp.images):
        _check_size(i, im, source, cap)
    for i, im in enumerate(rdp.images):
        _check_geometry(i, im, codec)
    for (_, im), y_hat in _entropy_decode_groups(rdp, codec):
        yield _latent(im, y_hat, rdp.exact)


def _latent(im: EncodedImage, y_hat: Tensor, exact: bool) -> Latent:
    return Latent(
        y_hat,
        (im.image_size[0], im.image_size[1]),
        (im.padded_size[0], im.padded_size[1]),
        im.stem,
        tuple(im.streams),
        exact,
    )


def _check_size(i: int, im: EncodedImage, source: str, cap: int) -> None:
    """Refuse a record whose padded size is above the pixel cap, before anything is allocated for it."""
    if im.padded_size[0] * im.padded_size[1] > cap:
        raise BitstreamError(pixel_cap_message(f"image {i} ({im.stem!r}) of {source}", *im.padded_size, cap))


def _check_geometry(i: int, im: EncodedImage, codec: Codec) -> None:
    """Refuse a record whose streams or sizes do not fit the codec."""
    if len(im.streams) != codec.num_streams:
        raise BitstreamError(
            f"image {i} ({im.stem!r}) has {len(im.streams)} streams; codec {codec.arch} writes {codec.num_streams}"
        )
    if tuple(im.padded_size) != codec.padded_size(im.image_size):
        raise BitstreamError(f"image {i} ({im.stem!r}): padded size {im.padded_size} inconsistent with {im.image_size}")
    if tuple(im.latent_shape) != codec.latent_shape(im.padded_size):
        raise BitstreamError(f"image {i} ({im.stem!r}): latent shape {im.latent_shape} does not fit codec {codec.arch}")


def _entropy_decode_salvaged(
    salvaged: Salvaged, codec: Codec, source: str, cap: int
) -> tuple[list[tuple[int, Latent]], list[str]]:
    """``keep_going``: ``(position, latent)`` of every intact record that passes the checks of :func:`latents` and
    entropy-decodes exactly, and one line per image that does not (damaged records included), in file order.
    The caller has checked the file's fingerprint."""
    rdp = salvaged.rdp
    lost: list[tuple[int, str]] = [(-1 if i is None else i, why) for i, why in salvaged.damaged]
    good: list[tuple[int, Latent]] = []
    for i, im in zip(salvaged.positions, rdp.images):
        try:
            _check_size(i, im, source, cap)
            _check_geometry(i, im, codec)
            good.append((i, _latent(im, _entropy_decode_one(codec, rdp.exact, i, im), rdp.exact)))
        except BitstreamError as exc:
            lost.append((i, str(exc)))
    lines = [f"{source}: {why}" for i, why in sorted(lost, key=lambda p: (p[0] < 0, p[0]))]
    return good, lines


#: images entropy-decoded per call on the exact path (consecutive in the file, one padded size)
ENTROPY_BATCH = 8


def _entropy_groups(images: list[EncodedImage], batchable: bool) -> Iterator[list[tuple[int, EncodedImage]]]:
    """Consecutive images of one padded size, at most :data:`ENTROPY_BATCH` each (one each if not ``batchable``)."""
    group: list[tuple[int, EncodedImage]] = []
    for i, im in enumerate(images):
        if group and (not batchable or len(group) == ENTROPY_BATCH or group[0][1].padded_size != im.padded_size):
            yield group
            group = []
        group.append((i, im))
    if group:
        yield group


def _entropy_decode_one(codec: Codec, exact: bool, i: int, im: EncodedImage) -> Tensor:
    try:
        return codec.decompress_latent(list(im.streams), im.padded_size, exact, im.symbols_crc)
    except BitstreamError as exc:
        raise type(exc)(f"image {i} ({im.stem!r}): {exc}") from exc


def _entropy_decode_groups(rdp: RdpFile, codec: Codec) -> Iterator[tuple[tuple[int, EncodedImage], Tensor]]:
    """((index, record), y_hat) per image in file order. On the exact path, same-size neighbours share one
    latent-codec call (0.83x the time of one call each, docs/benchmarks.md); if that call fails, the group
    is decoded image by image so that the error names its image."""
    for group in _entropy_groups(rdp.images, rdp.exact and codec.batch_entropy_decodable):
        y_hats = None
        if len(group) > 1:
            try:
                y_hats = codec.decompress_latents(
                    [list(im.streams) for _, im in group], group[0][1].padded_size, [im.symbols_crc for _, im in group]
                )
            except BitstreamError:
                pass  # decoded again one by one below, so that the error names its image
        if y_hats is None:
            y_hats = [_entropy_decode_one(codec, rdp.exact, i, im) for i, im in group]
        yield from zip(group, y_hats)


# -- pixel decoding: latents -> images -----------------------------------------------------------------
#: default images per decoder call, and the pixel budget that bounds a batch (memory)
DEFAULT_BATCH_SIZE = 4
MAX_BATCH_PIXELS = 4 * 1024 * 1024

#: decode-time options as the API takes them: the decoder's Options, a dict, ``KEY=VALUE`` strings or None
OptionsLike = BaseModel | dict[str, Any] | Sequence[str] | None


def batches(
    indexed: Iterable[tuple[int, Latent]], batch_size: int = DEFAULT_BATCH_SIZE, max_pixels: int = MAX_BATCH_PIXELS
) -> Iterator[list[tuple[int, Latent]]]:
    """Group ``(index, latent)`` pairs into batches of one padded size: at most ``batch_size`` images and
    ``max_pixels`` padded pixels each (a single larger image still forms a batch of one)."""
    if batch_size < 1:
        raise RdpflexError(f"batch size must be at least 1, got {batch_size}")
    open_: dict[tuple[int, ...], list[tuple[int, Latent]]] = {}
    for i, lat in indexed:
        group = open_.setdefault(tuple(lat.padded_size), [])
        h, w = lat.padded_size
        if group and (len(group) >= batch_size or (len(group) + 1) * h * w > max_pixels):
            yield open_.pop(tuple(lat.padded_size))
            group = open_.setdefault(tuple(lat.padded_size), [])
        group.append((i, lat))
    yield from (g for g in open_.values() if g)


def _raw_options(decoder: str, options: OptionsLike) -> BaseModel | dict[str, Any] | list[str]:
    """``options`` as :func:`~rdpflex.cards.parse_options` reads them (a model is kept), after checking the types of
    ``decoder`` and ``options``: one-line :class:`RdpflexError` naming what is expected."""
    if not isinstance(decoder, str):
        raise RdpflexError(
            f"decoder must be a family name such as 'mse' (see `rdpflex decoders`), not {type(decoder).__name__}"
        )
    settings_ok = isinstance(options, (list, tuple)) and all(isinstance(p, str) for p in options)
    if options is not None and not (isinstance(options, (BaseModel, dict)) or settings_ok):
        raise RdpflexError(
            f"options must be a dict such as {{'beta': 1.28}} or the decoder's Options, not {type(options).__name__}"
        )
    if isinstance(options, (BaseModel, dict)):
        return options
    return [str(p) for p in options or []]


def resolve_decoder(system: System, decoder: str, options: OptionsLike = None) -> tuple[Decoder, BaseModel]:
    """The decoder ``decoder`` of ``system`` (loaded and checked once) and ``options`` validated once, against the
    loaded decoder's own ``Options`` (its weight-specific bounds): what every pixel-decoding call passes on.

    An instance of that model is taken as it is; another model (e.g. the class-level one) is validated again
    from its set values (``None`` meaning the decoder's default); one-line :class:`OptionsError` otherwise."""
    raw = _raw_options(decoder, options)
    dec = system.decoder(decoder)
    if isinstance(raw, dec.Options):
        return dec, raw
    return dec, parse_options(dec, raw.model_dump(exclude_none=True) if isinstance(raw, BaseModel) else raw)


def precheck_options(decoder: str, options: OptionsLike = None) -> None:
    """``options`` checked against the family's card before any work (no file read, no weights loaded): a wrong
    type, an unknown family or option, or a value outside the card's bounds, is refused at once. The bounds that
    depend on the weights (e.g. ``multirealism``'s ``beta_max``) are checked by :func:`resolve_decoder`."""
    from rdpflex.plugins import get_decoder_card

    raw = _raw_options(decoder, options)
    if options is not None and not isinstance(raw, BaseModel):
        parse_options(get_decoder_card(decoder), raw)


def _checked_tile(tile: TileSpec | None, system: System) -> TileSpec | None:
    """``tile`` checked against the codec's latent stride (``--tile``), before any work."""
    return tile.check(system.codec.latent_stride) if tile is not None else None


def seed_of(options: BaseModel, seed: int) -> int:
    """The base seed: a decoder's own ``seed`` option, when it has one and it is set, overrides ``seed``."""
    own = getattr(options, "seed", None)
    return int(own) if own is not None else seed


def _pixel_decode_group(
    group: list[tuple[int, Latent]], codec: Codec, dec: Decoder, opts: BaseModel, seed: int, tile: TileSpec | None
) -> list[Tensor]:
    """Images of a batch of same-size ``(position, latent)`` pairs through a resolved decoder, cropped."""
    base = seed_of(opts, seed)
    device = group[0][1].y_hat.device
    gens = [torch.Generator(device=device).manual_seed(base + i) for i, _ in group]
    x = run_decoder(dec, [lat for _, lat in group], codec, opts, gens, tile)
    return [x[k : k + 1, :, : lat.image_size[0], : lat.image_size[1]] for k, (_, lat) in enumerate(group)]


def _pixel_decode_batches(
    indexed: Sequence[tuple[int, Latent]],
    codec: Codec,
    dec: Decoder,
    opts: BaseModel,
    seed: int,
    batch_size: int,
    tile: TileSpec | None,
) -> Iterator[tuple[str, Tensor]]:
    """``(stem, image)`` for ``(position, latent)`` pairs, in batches; the latent at position ``i`` of its file uses
    seed ``seed + i`` (so an image decodes to the same pixels whether or not its neighbours could be decoded)."""
    for group in batches(indexed, 1 if tile is not None else batch_size):
        for (_, lat), x in zip(group, _pixel_decode_group(group, codec, dec, opts, seed, tile)):
            yield lat.stem, x


def decode_group(
    group: list[tuple[int, Latent]],
    system: SystemLike,
    decoder: str = "mse",
    options: OptionsLike = None,
    seed: int = 0,
    tile: TileSpec | None = None,
) -> list[Tensor]:
    """Images (1, 3, H, W) in [0, 1], cropped, for a batch of same-size ``(index, latent)`` pairs.

    Image ``index`` is sampled with ``torch.Generator().manual_seed(seed + index)``: the same pixels
    whether it is decoded alone or in a batch.
    """
    system = as_system(system)
    dec, opts = resolve_decoder(system, decoder, options)
    return _pixel_decode_group(group, system.codec, dec, opts, seed, _checked_tile(tile, system))


def decode_latent(
    latent: Latent,
    system: SystemLike,
    decoder: str = "mse",
    options: OptionsLike = None,
    seed: int = 0,
    tile: TileSpec | None = None,
) -> Tensor:
    """One image (1, 3, H, W) in [0, 1], cropped to the original size (sampled with ``seed``)."""
    return decode_group([(0, latent)], system, decoder, options, seed, tile)[0]


def decode_latents(
    lats: Sequence[Latent],
    system: SystemLike,
    decoder: str = "mse",
    options: OptionsLike = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    tile: TileSpec | None = None,
) -> Iterator[tuple[str, Tensor]]:
    """``(stem, image)`` for already entropy-decoded latents (see :func:`decode_images`); latent ``i`` uses
    seed ``seed + i``."""
    system = as_system(system)
    dec, opts = resolve_decoder(system, decoder, options)
    tile = _checked_tile(tile, system)
    return _pixel_decode_batches(list(enumerate(lats)), system.codec, dec, opts, seed, batch_size, tile)


# -- a file, start to end -------------------------------------------------------------------------------
@dataclass
class DecodeJob:
    """A file ready to pixel-decode (:func:`prepare_decoding`): its decoder loaded and options validated once,
    every intact latent entropy-decoded and checked, before the first image is decoded or written."""

    system: System
    decoder: Decoder
    options: BaseModel
    #: ``(position in the file, latent)``: the latent at position ``i`` is sampled with seed ``seed + i``
    latents: list[tuple[int, Latent]]
    #: ``keep_going``: one line per image that is not decoded (empty for an intact file)
    lost: list[str]
    tile: TileSpec | None = None

    def images(self, seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[tuple[str, Tensor]]:
        """``(stem, image)`` of every intact image, batch by batch (not necessarily in file order)."""
        return _pixel_decode_batches(
            self.latents, self.system.codec, self.decoder, self.options, seed, batch_size, self.tile
        )


def prepare_decoding(
    rdp: RdpFile | Salvaged | str | Path,
    system: SystemLike = None,
    decoder: str = "mse",
    options: OptionsLike = None,
    tile: TileSpec | None = None,
    keep_going: bool = False,
    source: str | None = None,
) -> DecodeJob:
    """Everything :func:`decode_images` and ``rdpflex decompress`` check before the first image, in this order:
    ``options`` against the family's card (:func:`precheck_options`), the file read, the system loaded, the
    file's codec fingerprint checked against it, ``tile`` against the codec's stride, the decoder loaded and its
    ``options`` validated, the stems checked unique, each image offered to the decoder's ``check_image`` (from
    the header, e.g. a size it refuses), and every latent entropy-decoded and checked.

    ``rdp``: an :class:`RdpFile`, a ``.rdp`` path, or a :class:`Salvaged` (what
    :func:`~rdpflex.bitstream.read_rdp_salvaging` read, decoded as with ``keep_going``). With ``keep_going``,
    damaged images are left out and named in :attr:`DecodeJob.lost`; a damaged header or a file of another
    codec is still refused. ``source`` names the file in messages (default: its path, or "file").
    """
    precheck_options(decoder, options)
    keep_going = keep_going or isinstance(rdp, Salvaged)
    if isinstance(rdp, (str, Path)):
        source = source or str(rdp)
        rdp = read_rdp_salvaging(rdp) if keep_going else _as_rdp(rdp)
    salvaged, file = (rdp, rdp.rdp) if isinstance(rdp, Salvaged) else (None, _as_rdp(rdp))
    source = source or "file"
    system = as_system(system)
    check_compatible(file, system, source)
    tile = _checked_tile(tile, system)
    dec, opts = resolve_decoder(system, decoder, options)
    check_unique_stems((im.stem for im in file.images), source)
    check_image = getattr(dec, "check_image", None)  # DecoderBase's optional hook: refuse before entropy decoding
    if check_image is not None:
        for im in file.images:
            check_image(im.stem, tuple(im.padded_size), opts, tile)
    cap = pixel_cap()
    if not keep_going:
        return DecodeJob(
            system, dec, opts, list(enumerate(_entropy_decode_file(file, system.codec, source, cap))), [], tile
        )
    salvaged = salvaged or Salvaged(file, list(range(len(file.images))), [])
    good, lost = _entropy_decode_salvaged(salvaged, system.codec, source, cap)
    return DecodeJob(system, dec, opts, good, lost, tile)


def decode_images(
    rdp: RdpFile | str | Path,
    system: SystemLike = None,
    decoder: str = "mse",
    options: OptionsLike = None,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    tile: TileSpec | None = None,
    keep_going: bool = False,
) -> Iterator[tuple[str, Tensor]]:
    """``(stem, image)`` for every image of the file, same-size images decoded in batches of up to
    ``batch_size`` (yielded batch by batch, so not necessarily in file order). Image ``i`` is sampled
    with seed ``seed + i`` (or the decoder's own ``seed`` option + i).

    Every latent is entropy-decoded and checked before the first image is yielded, so a file that
    does not decode exactly (:class:`~rdpflex.errors.EntropyMismatchError`) yields nothing.
    ``keep_going=True`` (``rdpflex decompress --keep-going``) instead yields every intact image, the same
    pixels as from an undamaged file, and then raises :class:`~rdpflex.errors.DamagedImagesError` naming each
    damaged one (a damaged header or a file of another codec is still refused before anything is yielded).

    ``rdp``: an :class:`RdpFile` or a ``.rdp`` path; ``system``: a System, a directory or ``None`` (the
    default system); ``options``: a dict validated by the decoder's ``Options`` (one-line OptionsError).
    """
    job = prepare_decoding(rdp, system, decoder, options, tile, keep_going)
    return _then_raise(job.images(seed, batch_size), job.lost)


def _then_raise(images: Iterator[tuple[str, Tensor]], lost: list[str]) -> Iterator[tuple[str, Tensor]]:
    yield from images
    if lost:
        raise DamagedImagesError(lost)


def save_images(images: Iterable[tuple[str, Tensor]], directory: str | Path) -> list[Path]:
    """Write ``(stem, image)`` pairs (what :func:`decode_images` yields) as ``directory/<stem>.png``, exactly as
    ``rdpflex decompress`` does (8-bit through :func:`to_uint8`, atomic writes); returns the paths."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise RdpflexError(f"{directory} exists and is not a directory")
    return [save_png(x, directory / f"{stem}.png") for stem, x in images]
