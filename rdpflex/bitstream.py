"""The ``.rdp`` container: a strict, bounds-checked file holding any number of coded images.

All integers are little-endian; the full field-by-field description is in ``docs/format.md``.
Version 3 (written) stores counts, sizes and lengths as varints (LEB128) and the fields every
image of one codec shares once in the header; versions 1 and 2 (fixed-width u16/u32) are still read.

::

    version 3 header (45 + A bytes with 1-byte varints)
    +-------+---------+---------+-------------+-----+---------+-----+-----+-----+-------+
    | magic | version | flags v | fingerprint | A v | arch    | K v | C v | N v | CRC32 |
    | RDPF  | u16 = 3 | bit 0   | 32 raw B    |<=64 | A bytes |     |     |     | u32   |
    +-------+---------+---------+-------------+-----+---------+-----+-----+-----+-------+
      K: streams per image, C: latent channels (the same for every image of a codec)

    version 3 image record, repeated N times
    +-----+------+-----+-----+--------+--------+-----+-----+---------------+---------+-------+
    | S v | stem | H v | W v | Hp-H v | Wp-W v | h v | w v | K x (L v + L  | SYM CRC | CRC32 |
    |     | UTF-8|     |     |        |        |     |     |   bytes)      | u32     | u32   |
    +-----+------+-----+-----+--------+--------+-----+-----+---------------+---------+-------+
      v: unsigned LEB128 varint, 1-5 bytes, shortest form only
      SYM CRC: CRC32 of every scale-table index and coded symbol (int32 LE) in coding order, checked after decoding
      CRC32 covers the record from S to the SYM CRC; the header CRC every header byte before it

    version 2 (still read): flags u16, A u8, N u32 header; per record S u16, H W Hp Wp C h w u32,
    K u16, K x (L u32 + L bytes), SYM CRC, CRC32 (40 + S + sum(4 + L_k) bytes)
    version 1 (still read): as version 2 with flags 0 (float entropy path) and no SYM CRC field

    nothing after the last record (trailing bytes are an error)

Parsing never trusts a field: every length, count and dimension is checked against its bound
and against the bytes actually left *before* anything is sliced or allocated, and every failure
is a :class:`~rdpflex.errors.BitstreamError` with a one-line message.
"""

from __future__ import annotations

import operator
import os
import secrets
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from rdpflex.errors import BitstreamError

T = TypeVar("T")

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "READ_VERSIONS",
    "FLAG_EXACT",
    "MAX_FILE_BYTES",
    "MAX_IMAGES",
    "MAX_SIDE",
    "MAX_CHANNELS",
    "MAX_STREAMS",
    "MAX_STEM_BYTES",
    "MAX_ARCH_BYTES",
    "HEADER_MIN_BYTES",
    "RECORD_MIN_BYTES",
    "EncodedImage",
    "RdpFile",
    "dumps",
    "loads",
    "record_bytes",
    "write_rdp",
    "read_rdp",
]

MAGIC = b"RDPF"
FORMAT_VERSION = 3
READ_VERSIONS = (1, 2, 3)
FLAG_EXACT = 0x0001  # entropy parameters from the exact fixed-point path

MAX_FILE_BYTES = 1 << 31
MAX_IMAGES = 1_000_000
MAX_SIDE = 1 << 16  # bound of H, W, Hp, Wp, h, w
MAX_CHANNELS = 4096  # bound of C
MAX_STREAMS = 256
MAX_STEM_BYTES = 255
MAX_ARCH_BYTES = 64

_HEADER_FIXED = struct.Struct("<4sHH32sB")  # magic, version, flags, fingerprint, arch length
HEADER_MIN_BYTES = _HEADER_FIXED.size + 4 + 4  # + image count + CRC (arch empty) = 49
_DIMS = struct.Struct("<7I")  # H, W, Hp, Wp, C, h, w
RECORD_MIN_BYTES = 2 + 1 + _DIMS.size + 2 + 4 + 4  # 1-byte stem, no streams, symbol CRC = 41
_RECORD_MIN_BYTES_V1 = RECORD_MIN_BYTES - 4
_RECORD_MIN_BYTES_V3 = 1 + 1 + 6 + 4 + 4  # 1-byte varints, 1-byte stem, symbol CRC, CRC (+ K one-byte lengths)
_MAX_VARINT_BYTES = 5  # every varint field is below 2**32
_U8, _U16, _U32 = struct.Struct("<B"), struct.Struct("<H"), struct.Struct("<I")
_HEX = frozenset("0123456789abcdef")


@dataclass
class EncodedImage:
    """One image's entropy-coded streams and the geometry needed to decode them."""

    stem: str  # input file name without extension
    image_size: tuple[int, int]  # original (H, W)
    padded_size: tuple[int, int]  # (Hp, Wp) after padding to the codec multiple
    latent_shape: tuple[int, int, int]  # (C, h, w) of y_hat
    streams: list[bytes] = field(default_factory=list)  # one per entropy-model stream
    symbols_crc: int | None = None  # CRC32 of the coded symbols (None only in version-1 files)


@dataclass
class RdpFile:
    """The contents of one ``.rdp`` file."""

    fingerprint: str  # codec fingerprint: sha256 hexdigest (64 lowercase hex chars)
    images: list[EncodedImage]
    arch: str = ""  # codec architecture name, informative (printable ASCII, <= 64 bytes)
    exact: bool = True  # entropy parameters computed on the exact path (header flag bit 0)
    version: int = FORMAT_VERSION  # 3 (written); 1 or 2 for files read from those versions (re-written as they were)

    def num_bytes(self) -> int:
        """Size in bytes of :func:`dumps` of this file (what bpp must be computed from)."""
        return len(dumps(self))


# --------------------------------------------------------------------------------- validation


def _check_stem(stem: object, where: str) -> bytes:
    """Return the UTF-8 bytes of a valid stem, else raise naming ``where``."""
    if not isinstance(stem, str):
        raise BitstreamError(f"{where}: stem must be a str, got {type(stem).__name__}")
    try:
        raw = stem.encode("utf-8")
    except UnicodeEncodeError:
        raise BitstreamError(f"{where}: stem {stem!r} is not encodable as UTF-8") from None
    if not 1 <= len(raw) <= MAX_STEM_BYTES:
        raise BitstreamError(f"{where}: stem is {len(raw)} UTF-8 bytes, must be 1..{MAX_STEM_BYTES}")
    if stem in (".", ".."):
        raise BitstreamError(f"{where}: stem {stem!r} is not a usable file name")
    bad = [c for c in stem if c in "/\\" or ord(c) < 0x20 or ord(c) == 0x7F]
    if bad:
        raise BitstreamError(f"{where}: stem {stem!r} contains {bad[0]!r} (no '/', '\\', NUL or control characters)")
    return raw


def _check_geometry(size: tuple[int, int], padded: tuple[int, int], latent: tuple[int, int, int], where: str) -> None:
    (H, W), (Hp, Wp), (C, h, w) = size, padded, latent
    for name, value, hi in (
        ("H", H, MAX_SIDE), ("W", W, MAX_SIDE), ("Hp", Hp, MAX_SIDE), ("Wp", Wp, MAX_SIDE),
        ("C", C, MAX_CHANNELS), ("h", h, MAX_SIDE), ("w", w, MAX_SIDE),
    ):  # fmt: skip
        if not 1 <= value <= hi:
            raise BitstreamError(f"{where}: {name}={value} out of range 1..{hi}")
    if Hp < H or Wp < W:
        raise BitstreamError(f"{where}: padded size {Hp}x{Wp} is smaller than image size {H}x{W}")


def _ints(value: object, n: int, name: str, where: str) -> tuple[int, ...]:
    try:
        items = tuple(operator.index(v) for v in value)  # type: ignore[attr-defined]
    except TypeError:
        raise BitstreamError(f"{where}: {name} must be {n} integers, got {value!r}") from None
    if len(items) != n:
        raise BitstreamError(f"{where}: {name} must be {n} integers, got {value!r}")
    return items


def _check_fingerprint(fp: object) -> bytes:
    if not (isinstance(fp, str) and len(fp) == 64 and set(fp) <= _HEX):
        raise BitstreamError(f"fingerprint must be 64 lowercase hex characters (a sha256 hexdigest), got {fp!r}")
    return bytes.fromhex(fp)


def _check_arch(arch: object) -> bytes:
    if not isinstance(arch, str) or not all(" " <= c <= "~" for c in arch):
        raise BitstreamError(f"arch must be printable ASCII, got {arch!r}")
    if len(arch) > MAX_ARCH_BYTES:
        raise BitstreamError(f"arch is {len(arch)} bytes, at most {MAX_ARCH_BYTES} allowed")
    return arch.encode("ascii")


# ------------------------------------------------------------------------------------ writing


def _show(path: object) -> str:
    """A path for a one-line message: quoted, with any control characters escaped."""
    return repr(os.fspath(path))  # type: ignore[call-overload]


def _varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, low bits first, high bit set on every byte but the last."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def dumps(rdp: RdpFile) -> bytes:
    """Serialise ``rdp``; raise :class:`BitstreamError` if any field is out of bounds.

    Written in ``rdp.version``: 3 by default; an ``RdpFile`` read from a version-1 or version-2 file
    re-serialises byte for byte in its own version.
    """
    if not isinstance(rdp, RdpFile):
        raise BitstreamError(f"expected an RdpFile, got {type(rdp).__name__}")
    fp, arch = _check_fingerprint(rdp.fingerprint), _check_arch(rdp.arch)
    images = list(rdp.images)
    if len(images) > MAX_IMAGES:
        raise BitstreamError(f"{len(images)} images, at most {MAX_IMAGES} per file")
    if rdp.version not in READ_VERSIONS:
        raise BitstreamError(f"cannot write format version {rdp.version!r}; versions {READ_VERSIONS} exist")
    version = rdp.version
    if version == 1 and rdp.exact:
        raise BitstreamError("format version 1 has no exact entropy path flag; write version 2 or 3")
    flags = FLAG_EXACT if rdp.exact else 0
    checked = [_checked_image(im, i, version) for i, im in enumerate(images, 1)]
    if version == 3:
        shared = {(len(streams), latent[0]) for _, _, _, latent, streams, _ in checked}
        if len(shared) > 1:
            raise BitstreamError(
                "format version 3 stores the stream count and latent channels once per file; these images differ "
                f"({sorted(shared)}): write them to separate files"
            )
        k, c = shared.pop() if shared else (0, 0)
        head = MAGIC + _U16.pack(3) + _varint(flags) + fp + _varint(len(arch)) + arch
        head += _varint(k) + _varint(c) + _varint(len(images))
    else:
        head = _HEADER_FIXED.pack(MAGIC, version, flags, fp, len(arch)) + arch + _U32.pack(len(images))
    parts = [head, _U32.pack(zlib.crc32(head))]
    total = len(head) + 4
    tail = 4 if version == 1 else 8  # (symbol CRC +) record CRC
    for where, stem, (H, W, Hp, Wp), (C, h, w), streams, symbols_crc in checked:
        if version == 3:
            rec = bytearray(_varint(len(stem)) + stem)
            for v in (H, W, Hp - H, Wp - W, h, w):
                rec += _varint(v)
        else:
            rec = bytearray(_U16.pack(len(stem)) + stem + _DIMS.pack(H, W, Hp, Wp, C, h, w))
            rec += _U16.pack(len(streams))
        for j, s in enumerate(streams, 1):
            length = _varint(len(s)) if version == 3 else _U32.pack(len(s))
            if total + len(rec) + len(length) + len(s) + tail > MAX_FILE_BYTES:  # checked before copying
                raise BitstreamError(f"{where} stream {j}: file would exceed {MAX_FILE_BYTES} B")
            rec += length
            rec += s
        if version != 1:
            rec += _U32.pack(symbols_crc)
        rec += _U32.pack(zlib.crc32(rec))
        total += len(rec)
        parts.append(bytes(rec))
    return b"".join(parts)


def _checked_image(
    im: object, i: int, version: int
) -> tuple[str, bytes, tuple[int, ...], tuple[int, ...], list[bytes], int | None]:
    """Validate one image for writing:
    ``(where, stem bytes, (H, W, Hp, Wp), (C, h, w), streams as bytes, symbols_crc)``."""
    where = f"image {i}"
    if not isinstance(im, EncodedImage):
        raise BitstreamError(f"{where}: expected an EncodedImage, got {type(im).__name__}")
    stem = _check_stem(im.stem, where)
    where = f"image {i} ({im.stem!r})"
    size = _ints(im.image_size, 2, "image_size", where)
    padded = _ints(im.padded_size, 2, "padded_size", where)
    latent = _ints(im.latent_shape, 3, "latent_shape", where)
    _check_geometry(size, padded, latent, where)  # type: ignore[arg-type]
    streams = list(im.streams)
    if len(streams) > MAX_STREAMS:
        raise BitstreamError(f"{where}: {len(streams)} streams, at most {MAX_STREAMS}")
    for j, s in enumerate(streams, 1):
        if not isinstance(s, (bytes, bytearray, memoryview)):
            raise BitstreamError(f"{where} stream {j}: expected bytes, got {type(s).__name__}")
        if (s.nbytes if isinstance(s, memoryview) else len(s)) > MAX_FILE_BYTES:  # never copy a stream that cannot fit
            raise BitstreamError(f"{where} stream {j}: file would exceed {MAX_FILE_BYTES} B")
    if version != 1 and (not isinstance(im.symbols_crc, int) or not 0 <= im.symbols_crc < 1 << 32):
        raise BitstreamError(f"{where}: symbols_crc must be a 32-bit unsigned int, got {im.symbols_crc!r}")
    return (
        where,
        stem,
        (*size, *padded),
        latent,
        [s if isinstance(s, bytes) else bytes(s) for s in streams],
        im.symbols_crc,
    )


def write_rdp(path: str | os.PathLike[str], rdp: RdpFile) -> int:
    """Atomically write ``rdp`` to ``path``; return the number of bytes written.

    The data is serialised (and validated) first, then written to a temporary file in the same
    directory and moved over ``path`` with :func:`os.replace`: ``path`` either keeps its old
    contents or holds the complete new file, never a partial one.
    """
    data = dumps(rdp)
    dest = Path(path)
    tmp = dest.with_name(f".{dest.name[:200]}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        raise BitstreamError(f"cannot write {_show(dest)}: {e.strerror or e}") from None
    return len(data)


# ------------------------------------------------------------------------------------ reading


class _Reader:
    """A cursor over the file that refuses to read past the end."""

    __slots__ = ("buf", "pos", "record_end")

    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0
        self.record_end = 0  # where the last record whose CRC field was read ends (framing still known)

    def left(self) -> int:
        return len(self.buf) - self.pos

    def need(self, n: int, what: str) -> None:
        if n > self.left():
            raise BitstreamError(f"truncated file: {what} needs {n} bytes, {self.left()} left")

    def take(self, n: int, what: str) -> memoryview:
        self.need(n, what)
        self.pos += n
        return self.buf[self.pos - n : self.pos]

    def unpack(self, st: struct.Struct, what: str) -> tuple[int, ...]:
        self.need(st.size, what)
        self.pos += st.size
        return st.unpack_from(self.buf, self.pos - st.size)

    def u8(self, what: str) -> int:
        return self.unpack(_U8, what)[0]

    def u16(self, what: str) -> int:
        return self.unpack(_U16, what)[0]

    def u32(self, what: str) -> int:
        return self.unpack(_U32, what)[0]

    def varint(self, what: str) -> int:
        """An unsigned LEB128 varint below 2**32 in its shortest form (1-5 bytes)."""
        value = 0
        for i in range(_MAX_VARINT_BYTES):
            self.need(1, what)
            byte = self.buf[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if i and not byte:
                    raise BitstreamError(f"{what}: varint not in its shortest form")
                if value >= 1 << 32:
                    raise BitstreamError(f"{what}: varint {value} exceeds 32 bits")
                return value
        raise BitstreamError(f"{what}: varint longer than {_MAX_VARINT_BYTES} bytes")


def record_bytes(rdp: RdpFile) -> list[int]:
    """Bytes of each image's record inside the file (so that header + sum(records) == file size).

    Each is a file of that one image in ``rdp.version`` less its header, as the reader finds it (version 3 stores
    the stream count and latent channels in the header as varints: an empty file's header can be shorter)."""
    out = []
    for im in rdp.images:
        data = dumps(replace(rdp, images=[im]))
        out.append(len(data) - _read_header(data).reader.pos)
    return out


def loads(data: bytes | bytearray | memoryview) -> RdpFile:
    """Parse a whole ``.rdp`` file; any problem raises :class:`BitstreamError`, nothing else."""
    h = _read_header(data)
    r, count = h.reader, h.count
    if count > r.left() // h.min_record:  # each record is at least min_record bytes long
        raise BitstreamError(
            f"truncated file: {count} images need at least {count * h.min_record} bytes, {r.left()} left"
        )
    h.rdp.images = [_read_image(r, i, h.rdp.version, h.shared) for i in range(1, count + 1)]
    if r.left():
        raise BitstreamError(f"{r.left()} trailing bytes after the last image")
    return h.rdp


@dataclass
class Salvaged:
    """What a damaged file still holds: the header and every intact record, each with its position.

    ``rdp.images[k]`` is image ``positions[k]`` of the file (0-based; the decoders' seed offset);
    ``damaged`` lists ``(position, one-line reason)`` for each record that is lost (position None:
    damage after the last record).
    """

    rdp: RdpFile
    positions: list[int]
    damaged: list[tuple[int | None, str]]


def salvage(data: bytes | bytearray | memoryview) -> Salvaged:
    """Parse a file keeping every intact record (per-record CRC32s): a record that fails its CRC or a check
    made after it is skipped and reading goes on after it; damage to the framing itself (a length, a
    truncated tail) loses that record and all later ones. A damaged header is still a :class:`BitstreamError`.
    """
    h = _read_header(data)
    r, count = h.reader, h.count
    salvaged = Salvaged(h.rdp, [], [])
    for i in range(1, count + 1):
        start = r.pos
        try:
            h.rdp.images.append(_read_image(r, i, h.rdp.version, h.shared))
            salvaged.positions.append(i - 1)
        except BitstreamError as exc:
            framed = r.record_end > start  # its CRC field was reached: the next record starts after it
            after = salvaged.damaged and salvaged.damaged[-1][0] == i - 2  # right after a damaged record
            why = f"image {i} cannot be located (the damage to image {i - 1} reaches its lengths): {exc}"
            salvaged.damaged.append((i - 1, why if after and not framed else str(exc)))
            if not framed:  # the record's own framing is damaged: the rest cannot be located
                lost = f"the framing of image {i} is damaged, so this record cannot be located"
                salvaged.damaged += [(j - 1, f"image {j}: {lost}") for j in range(i + 1, count + 1)]
                return salvaged
            r.pos = r.record_end
    if r.left():
        salvaged.damaged.append((None, f"{r.left()} trailing bytes after the last image"))
    return salvaged


@dataclass
class _Header:
    """A checked header: the reader at the first record, the file without its images, and the record layout."""

    reader: _Reader
    rdp: RdpFile
    count: int
    shared: tuple[int, int] | None  # version 3: (stream count, latent channels) of every record
    min_record: int  # bytes of the smallest possible record


def _read_header(data: bytes | bytearray | memoryview) -> _Header:
    """Parse and check the header; any problem raises :class:`BitstreamError`."""
    try:
        buf = memoryview(data).cast("B")
    except TypeError:
        raise BitstreamError(f"expected bytes, got {type(data).__name__}") from None
    if len(buf) > MAX_FILE_BYTES:
        raise BitstreamError(f"file is {len(buf)} bytes, larger than the {MAX_FILE_BYTES} limit")
    if len(buf) == 0:
        raise BitstreamError("empty file: not an rdpflex file")
    head = bytes(buf[:4])
    if not MAGIC.startswith(head):
        raise BitstreamError(f"not an rdpflex file (magic {head!r}, expected {MAGIC!r})")
    r = _Reader(buf)
    r.take(4, "magic")
    version = r.u16("header field 'version'")
    if version not in READ_VERSIONS:
        raise BitstreamError(
            f"unsupported format version {version} (this rdpflex reads versions {', '.join(map(str, READ_VERSIONS))})"
        )
    v3 = version == 3
    flags = r.varint("header field 'flags'") if v3 else r.u16("header field 'flags'")
    fp = bytes(r.take(32, "header field 'fingerprint'"))
    arch_len = r.varint("header field 'arch length'") if v3 else r.u8("header field 'arch length'")
    if arch_len > MAX_ARCH_BYTES:
        raise BitstreamError(f"arch length {arch_len} exceeds {MAX_ARCH_BYTES}")
    arch_raw = bytes(r.take(arch_len, "header field 'arch'"))
    shared = (r.varint("header field 'stream count'"), r.varint("header field 'latent channels'")) if v3 else None
    count = r.varint("header field 'image count'") if v3 else r.u32("header field 'image count'")
    crc_end = r.pos
    if r.u32("header CRC") != zlib.crc32(buf[:crc_end]):
        raise BitstreamError("CRC mismatch in header: file is corrupted")
    allowed = 0 if version == 1 else FLAG_EXACT
    if flags & ~allowed:
        raise BitstreamError(f"unsupported flags 0x{flags:04x} (version {version} allows 0x{allowed:04x})")
    if not all(0x20 <= b <= 0x7E for b in arch_raw):
        raise BitstreamError(f"arch name {arch_raw!r} is not printable ASCII")
    if count > MAX_IMAGES:
        raise BitstreamError(f"image count {count} exceeds the limit of {MAX_IMAGES}")
    if shared is not None:
        if shared[0] > MAX_STREAMS:
            raise BitstreamError(f"stream count {shared[0]} exceeds {MAX_STREAMS}")
        if shared[1] > MAX_CHANNELS:
            raise BitstreamError(f"latent channels C={shared[1]} out of range 1..{MAX_CHANNELS}")
    min_record = {1: _RECORD_MIN_BYTES_V1, 2: RECORD_MIN_BYTES, 3: _RECORD_MIN_BYTES_V3 + (shared or (0,))[0]}[version]
    rdp = RdpFile(
        fingerprint=fp.hex(), images=[], arch=arch_raw.decode("ascii"), exact=bool(flags & FLAG_EXACT), version=version
    )
    return _Header(r, rdp, count, shared, min_record)


def _read_image(r: _Reader, i: int, version: int, shared: tuple[int, int] | None = None) -> EncodedImage:
    """One record; version 3 takes the stream count and latent channels from the header (``shared``)."""
    v3 = version == 3
    length = r.varint if v3 else r.u32
    start = r.pos
    where = f"image {i}"
    stem_len = r.varint(f"{where} stem length") if v3 else r.u16(f"{where} stem length")
    if not 1 <= stem_len <= MAX_STEM_BYTES:
        raise BitstreamError(f"{where}: stem length {stem_len} out of range 1..{MAX_STEM_BYTES}")
    stem_raw = bytes(r.take(stem_len, f"{where} stem"))
    if shared is not None:  # version 3: H, W, Hp-H, Wp-W, h, w
        n_streams, channels = shared
        H, W, pad_h, pad_w, h, w = (r.varint(f"{where} {name}") for name in ("H", "W", "Hp-H", "Wp-W", "h", "w"))
        dims: tuple[int, ...] = (H, W, H + pad_h, W + pad_w, channels, h, w)
        r.need(n_streams + 8, f"{where} stream lengths and CRC")  # cheap early reject: 1-byte lengths at least
    else:
        dims = r.unpack(_DIMS, f"{where} sizes (H, W, Hp, Wp, C, h, w)")
        n_streams = r.u16(f"{where} stream count")
        if n_streams > MAX_STREAMS:
            raise BitstreamError(f"{where}: stream count {n_streams} exceeds {MAX_STREAMS}")
        tail = 4 if version == 1 else 8  # (symbol CRC +) record CRC
        r.need(4 * n_streams + tail, f"{where} stream lengths and CRC")  # cheap early reject
    streams: list[bytes] = []
    for j in range(1, n_streams + 1):
        n = length(f"{where} stream {j} length")
        streams.append(bytes(r.take(n, f"{where} stream {j}")))
    symbols_crc = None if version == 1 else r.u32(f"{where} symbol CRC")
    crc = zlib.crc32(r.buf[start : r.pos])
    stored = r.u32(f"{where} CRC")
    r.record_end = r.pos
    if stored != crc:
        shown = stem_raw.decode("utf-8", errors="replace")
        raise BitstreamError(f"CRC mismatch in {where} ({shown!r}): file is corrupted")
    try:
        stem = stem_raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BitstreamError(f"{where}: stem {stem_raw!r} is not valid UTF-8") from None
    _check_stem(stem, where)
    where = f"{where} ({stem!r})"
    size, padded, latent = (dims[0], dims[1]), (dims[2], dims[3]), (dims[4], dims[5], dims[6])
    _check_geometry(size, padded, latent, where)
    return EncodedImage(stem, size, padded, latent, streams, symbols_crc)


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    p = _show(path)
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise BitstreamError(f"cannot read {p}: not a regular file")
            if st.st_size > MAX_FILE_BYTES:
                raise BitstreamError(f"cannot read {p}: {st.st_size} bytes, larger than the {MAX_FILE_BYTES} limit")
            return f.read(MAX_FILE_BYTES + 1)  # loads() re-checks the size if the file grew
    except OSError as e:
        raise BitstreamError(f"cannot read {p}: {e.strerror or e}") from None


def _parse_file(path: str | os.PathLike[str], parse: Callable[[bytes], T]) -> T:
    """``parse`` the bytes of ``path``; its BitstreamError is prefixed with the path."""
    data = _read_bytes(path)
    try:
        return parse(data)
    except BitstreamError as e:
        raise BitstreamError(f"{_show(path)}: {e}") from None


def read_rdp(path: str | os.PathLike[str]) -> RdpFile:
    """Read and parse ``path``; a missing, unreadable, oversized or bad file is a BitstreamError."""
    return _parse_file(path, loads)


def read_rdp_salvaging(path: str | os.PathLike[str]) -> Salvaged:
    """:func:`salvage` of the file at ``path`` (``--keep-going``): every intact record, and what is lost."""
    return _parse_file(path, salvage)
