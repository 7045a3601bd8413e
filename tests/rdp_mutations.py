"""Mutations of valid ``.rdp`` files for the fuzz tests: truncation, bit flips, field inflation, splicing, payloads.

Each mutation is a hypothesis strategy over ``(kind, bytes)``. Mutations marked *CRC-fixed* recompute
the header and record CRCs afterwards (by hand, or by re-serialising with ``dumps``), so that every
check behind the CRCs is reached on its own: field bounds, codec consistency, the pixel cap, and the
symbol checksum of the entropy decoder.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field, replace

from hypothesis import strategies as st

from rdpflex.bitstream import EncodedImage, RdpFile, dumps, loads

U16_EDGES = [0, 1, 2, 255, 256, 257, 4096, 0xFFFF]
U32_EDGES = [0, 1, 2, 255, 256, 4095, 4096, 4097, 1 << 16, (1 << 16) + 1, 1 << 24, 2**31, 2**32 - 1]


@dataclass
class Layout:
    """Byte offsets of every field of a valid version-2 or version-3 file."""

    header_crc: int  # offset of the header CRC (it covers data[:header_crc])
    fields: list[tuple[str, int, int]] = field(default_factory=list)  # (name, offset, size in bytes)
    records: list[tuple[int, int]] = field(default_factory=list)  # (start, offset of the record CRC)


def _varint_at(data: bytes, pos: int) -> tuple[int, int]:
    """(value, size in bytes) of the LEB128 varint at ``pos``."""
    value = size = 0
    while True:
        byte = data[pos + size]
        value |= (byte & 0x7F) << (7 * size)
        size += 1
        if not byte & 0x80:
            return value, size


def layout_v3(data: bytes) -> Layout:
    fields: list[tuple[str, int, int]] = [("version", 4, 2)]
    pos = 6

    # (each varint that is a length is added in two steps: ``pos += varint(...)`` reads pos before the call)
    def varint(name: str) -> int:
        nonlocal pos
        value, size = _varint_at(data, pos)
        fields.append((name, pos, size))
        pos += size
        return value

    varint("flags")
    fields.append(("fingerprint", pos, 4))
    pos += 32
    n = varint("arch length")
    pos += n
    k = varint("stream count")
    varint("latent channels")
    varint("image count")
    lay = Layout(header_crc=pos)
    pos += 4
    while pos < len(data):
        start = pos
        n = varint("stem length")
        pos += n
        for name in ("H", "W", "Hp-H", "Wp-W", "h", "w"):
            varint(name)
        for _ in range(k):
            n = varint("stream length")
            pos += n
        fields.append(("symbol CRC", pos, 4))
        pos += 4
        lay.records.append((start, pos))
        pos += 4
    lay.fields = fields
    return lay


def layout(data: bytes) -> Layout:
    """Walk a valid file (as ``dumps`` writes it) and note where each field lies."""
    if struct.unpack_from("<H", data, 4)[0] == 3:
        return layout_v3(data)
    arch_len = data[40]
    lay = Layout(header_crc=45 + arch_len)
    lay.fields += [
        ("version", 4, 2),
        ("flags", 6, 2),
        ("fingerprint", 8, 4),
        ("arch length", 40, 1),
        ("image count", 41 + arch_len, 4),
    ]
    pos = lay.header_crc + 4
    while pos < len(data):
        start = pos
        (s,) = struct.unpack_from("<H", data, pos)
        lay.fields.append(("stem length", pos, 2))
        pos += 2 + s
        for name in ("H", "W", "Hp", "Wp", "C", "h", "w"):
            lay.fields.append((name, pos, 4))
            pos += 4
        (k,) = struct.unpack_from("<H", data, pos)
        lay.fields.append(("stream count", pos, 2))
        pos += 2
        for _ in range(k):
            (n,) = struct.unpack_from("<I", data, pos)
            lay.fields.append(("stream length", pos, 4))
            pos += 4 + n
        lay.fields.append(("symbol CRC", pos, 4))
        pos += 4
        lay.records.append((start, pos))
        pos += 4
    return lay


def fix_crcs(data: bytes | bytearray, lay: Layout) -> bytes:
    """Recompute the header and record CRCs at the positions of the original layout."""
    out = bytearray(data)
    h = lay.header_crc
    if len(out) >= h + 4:
        out[h : h + 4] = struct.pack("<I", zlib.crc32(out[:h]))
    for start, crc_at in lay.records:
        if len(out) >= crc_at + 4:
            out[crc_at : crc_at + 4] = struct.pack("<I", zlib.crc32(out[start:crc_at]))
    return bytes(out)


@st.composite
def truncated(draw, data: bytes):
    return "truncation", data[: draw(st.integers(0, len(data) - 1))]


@st.composite
def bit_flips(draw, data: bytes):
    out = bytearray(data)
    for pos in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
        out[pos] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        return "bit flips, CRC fixed", fix_crcs(out, layout(data))
    return "bit flips", bytes(out)


@st.composite
def inflated(draw, data: bytes):
    """One header or record field set to an edge or random value (CRCs fixed 3 times in 4)."""
    lay = layout(data)
    name, off, size = draw(st.sampled_from(lay.fields))
    edges = {1: [0, 1, 64, 65, 127, 128, 255], 2: U16_EDGES, 4: U32_EDGES}.get(size, [0, 1, 256**size - 1])
    value = draw(st.one_of(st.sampled_from(edges), st.integers(0, 256**size - 1)))
    out = bytearray(data)
    out[off : off + size] = value.to_bytes(size, "little")
    if draw(st.integers(0, 3)):
        return "field inflation, CRC fixed", fix_crcs(out, lay)
    return "field inflation", bytes(out)


@st.composite
def claimed_size(draw, data: bytes, padded, latent):
    """A record that claims another image size, geometry made consistent and CRCs valid (pixel cap, stream mismatch)."""
    rdp = loads(data)
    i = draw(st.integers(0, len(rdp.images) - 1))
    H = draw(st.one_of(st.sampled_from([1, 8, 65, 4096, 65536 - 63]), st.integers(1, 65536 - 63)))
    W = draw(st.one_of(st.sampled_from([1, 8, 65, 4096, 65536 - 63]), st.integers(1, 65536 - 63)))
    images = list(rdp.images)
    images[i] = replace(images[i], image_size=(H, W), padded_size=padded((H, W)), latent_shape=latent(padded((H, W))))
    return "claimed image size", dumps(replace(rdp, images=images))


@st.composite
def payload(draw, data: bytes):
    """Entropy-coded bytes changed, the file re-serialised so every CRC is valid: only the symbol CRC can tell."""
    rdp = loads(data)
    i = draw(st.integers(0, len(rdp.images) - 1))
    im = rdp.images[i]
    streams = list(im.streams)
    j = draw(st.integers(0, len(streams) - 1))
    s = bytearray(streams[j])
    op = draw(st.sampled_from(["flip", "truncate", "append", "zero", "random", "swap", "symbol CRC"]))
    crc = im.symbols_crc
    if op == "flip" and s:
        for pos in draw(st.lists(st.integers(0, len(s) - 1), min_size=1, max_size=4)):
            s[pos] ^= 1 << draw(st.integers(0, 7))
    elif op == "truncate":
        del s[draw(st.integers(0, max(len(s) - 1, 0))) :]
    elif op == "append":
        s += draw(st.binary(min_size=1, max_size=16))
    elif op == "zero":
        s = bytearray(len(s))
    elif op == "random":
        s = bytearray(draw(st.binary(min_size=len(s), max_size=len(s))))
    elif op == "swap":
        k = draw(st.integers(0, len(rdp.images) - 1))
        other = rdp.images[k].streams
        s = bytearray(other[draw(st.integers(0, len(other) - 1))])
    elif op == "symbol CRC":
        crc = draw(st.integers(0, 2**32 - 1))
    streams[j] = bytes(s)
    images = list(rdp.images)
    images[i] = EncodedImage(im.stem, im.image_size, im.padded_size, im.latent_shape, streams, crc)
    return "payload, CRCs valid", dumps(replace(rdp, images=images))


@st.composite
def spliced(draw, a: bytes, b: bytes):
    """Two files joined: at any byte offsets, or header of one + records drawn from both (count and CRC fixed)."""
    if draw(st.booleans()):
        return "splice at bytes", a[: draw(st.integers(0, len(a)))] + b[draw(st.integers(0, len(b))) :]
    ra, rb = loads(a), loads(b)
    pool = [*ra.images, *rb.images]
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=4))
    images = [replace(pool[p], stem=f"{pool[p].stem}-{n}") for n, p in enumerate(picks)]
    mixed = len({(len(im.streams), im.latent_shape[0]) for im in images}) > 1  # version 3 cannot hold them
    return "splice of records", dumps(replace(ra, images=images, version=2 if mixed else ra.version))


def mutants(files: list[bytes], padded, latent):
    """Every mutation of every valid file (``padded``/``latent``: the codec's geometry functions)."""

    @st.composite
    def one(draw):
        i = draw(st.integers(0, len(files) - 1))
        data = files[i]
        choice = draw(st.integers(0, 5))
        if choice == 0:
            return draw(truncated(data))
        if choice == 1:
            return draw(bit_flips(data))
        if choice == 2:
            return draw(inflated(data))
        if choice == 3:
            return draw(claimed_size(data, padded, latent))
        if choice == 4:
            return draw(payload(data))
        return draw(spliced(data, files[draw(st.integers(0, len(files) - 1))]))

    return one()


def strip_images(rdp: RdpFile) -> list[bytes]:
    """The streams of every image, concatenated: a key to find which original a decoded record came from."""
    return [b"".join(len(s).to_bytes(4, "little") + s for s in im.streams) for im in rdp.images]
