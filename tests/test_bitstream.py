"""The ``.rdp`` container: round trips, and strict rejection of every malformed file."""

from __future__ import annotations

import os
import random
import re
import stat
import struct
import tracemalloc
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from rdpflex import bitstream as bs
from rdpflex.bitstream import (
    FORMAT_VERSION,
    MAGIC,
    EncodedImage,
    RdpFile,
    dumps,
    loads,
    read_rdp,
    write_rdp,
)
from rdpflex.errors import BitstreamError

FP = "0123456789abcdef" * 4
DIMS = (17, 23, 32, 32, 8, 2, 2)  # H, W, Hp, Wp, C, h, w


def _img(stem: str = "a", streams: list[bytes] | None = None, **kw) -> EncodedImage:
    args = dict(image_size=(17, 23), padded_size=(32, 32), latent_shape=(8, 2, 2), symbols_crc=0x1234ABCD)
    args.update(kw)
    return EncodedImage(stem, streams=[b"xy", b""] if streams is None else streams, **args)


def _small() -> RdpFile:
    """A small 2-image file, used for exhaustive truncation and bit-flip loops."""
    return RdpFile(FP, [_img("kodim01", [b"\x01\x02\x03", b""]), _img("b", [b"z", b""])], arch="elic")


# A raw writer that can put any value in any field but still writes valid CRCs (unless told not
# to), so that each bounds check is reached on its own instead of being masked by the CRC check.


def raw_record(
    stem: bytes = b"a",
    dims: tuple[int, ...] = DIMS,
    streams: tuple[bytes, ...] = (b"xy",),
    stem_len: int | None = None,
    n_streams: int | None = None,
    stream_lens: tuple[int, ...] | None = None,
    crc: int | None = None,
    symbols_crc: int | None = 0x1234ABCD,  # None: a version-1 record (no symbol CRC field)
) -> bytes:
    rec = struct.pack("<H", len(stem) if stem_len is None else stem_len) + stem
    rec += struct.pack("<7I", *dims)
    rec += struct.pack("<H", len(streams) if n_streams is None else n_streams)
    lens = stream_lens or tuple(len(s) for s in streams)
    for n, s in zip(lens, streams):
        rec += struct.pack("<I", n) + s
    if symbols_crc is not None:
        rec += struct.pack("<I", symbols_crc)
    return rec + struct.pack("<I", zlib.crc32(rec) if crc is None else crc)


def raw_file(
    records: tuple[bytes, ...] = (),
    count: int | None = None,
    magic: bytes = MAGIC,
    version: int = 2,  # the fixed-width layout; version 3 files come from dumps (or raw_file_v3)
    flags: int = bs.FLAG_EXACT,
    arch: bytes = b"",
    arch_len: int | None = None,
    crc: int | None = None,
) -> bytes:
    head = magic + struct.pack("<HH", version, flags) + bytes.fromhex(FP)
    head += struct.pack("<B", len(arch) if arch_len is None else arch_len) + arch
    head += struct.pack("<I", len(records) if count is None else count)
    return head + struct.pack("<I", zlib.crc32(head) if crc is None else crc) + b"".join(records)


def _reject(data: bytes, *fragments: str) -> str:
    with pytest.raises(BitstreamError) as ei:
        loads(data)
    msg = str(ei.value)
    assert "\n" not in msg and msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


# -------------------------------------------------------------------------------- round trips


def test_round_trip_various_images():
    rng = random.Random(0)
    images = [
        _img("kodim01", [bytes(rng.randrange(256) for _ in range(1000)), b"\x00" * 7]),
        _img("odd 17x23", [b""], image_size=(17, 23), padded_size=(64, 64), latent_shape=(1, 4, 4)),
        _img("фото-ü-日本", [], image_size=(1, 1), padded_size=(1, 1), latent_shape=(4096, 1, 1)),
        _img("x" * 255, [b"s%d" % i for i in range(bs.MAX_STREAMS)]),
        _img("max", [b"q"], image_size=(1 << 16, 1 << 16), padded_size=(1 << 16, 1 << 16),
             latent_shape=(320, 1 << 16, 1 << 16)),
    ]  # fmt: skip
    # version 2 takes them in one file; version 3 (one stream count and channel count per file) one file each
    files = [RdpFile("f" * 64, images, version=2), *(RdpFile("f" * 64, [im, replace(im, stem="2nd")]) for im in images)]
    for arch in ("", "elic2022-chandelier", "a" * bs.MAX_ARCH_BYTES):
        for rdp in files:
            rdp = replace(rdp, arch=arch)
            data = dumps(rdp)
            assert data[:4] == MAGIC
            assert loads(data) == rdp
            assert loads(bytearray(data)) == rdp and loads(memoryview(data)) == rdp
            assert rdp.num_bytes() == len(data)
    assert loads(dumps(RdpFile(FP, []))) == RdpFile(FP, [])


def test_loaded_types_are_plain():
    out = loads(dumps(RdpFile(FP, [_img(streams=[bytearray(b"ab"), memoryview(b"cd")])])))
    im = out.images[0]
    assert im.streams == [b"ab", b"cd"] and all(type(s) is bytes for s in im.streams)
    assert type(im.image_size) is tuple and type(im.latent_shape) is tuple


def test_layout_matches_documented_offsets():
    data = dumps(RdpFile(FP, [_img("ab", [b"xyz"])], arch="elic", version=2))
    assert data == raw_file((raw_record(b"ab", streams=(b"xyz",)),), arch=b"elic")
    assert len(data) == bs.HEADER_MIN_BYTES + 4 + bs.RECORD_MIN_BYTES + 1 + 4 + 3


def test_version_3_layout_matches_documented_fields():
    data = dumps(RdpFile(FP, [_img("ab", [b"xyz"])], arch="elic"))
    assert FORMAT_VERSION == 3 and loads(data).version == 3
    head = MAGIC + struct.pack("<H", 3) + bytes([1]) + bytes.fromhex(FP) + bytes([4]) + b"elic" + bytes([1, 8, 1])
    rec = bytes([2]) + b"ab" + bytes([17, 23, 32 - 17, 32 - 23, 2, 2, 3]) + b"xyz" + struct.pack("<I", 0x1234ABCD)
    assert data == head + struct.pack("<I", zlib.crc32(head)) + rec + struct.pack("<I", zlib.crc32(rec))
    # a 768x512 image of a 2-stream codec: 24 bytes of record around its strings (51 in version 2)
    im = _img(
        "img", [b"y" * 13000, b"z" * 150], image_size=(512, 768), padded_size=(512, 768), latent_shape=(96, 32, 48)
    )
    sizes = {v: len(dumps(RdpFile(FP, [im], arch="msh", version=v))) - 13150 for v in (2, 3)}
    assert sizes == {2: 52 + 51, 3: 50 + 24}
    # a file without images: stream count, latent channels and image count all 0
    head = MAGIC + struct.pack("<H", 3) + bytes([1]) + bytes.fromhex(FP) + bytes([0, 0, 0, 0])
    assert dumps(RdpFile(FP, [])) == head + struct.pack("<I", zlib.crc32(head))


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**31, 2**32 - 1])
def test_varints_round_trip_in_their_shortest_form(value):
    raw = bs._varint(value)
    r = bs._Reader(memoryview(raw))
    assert r.varint("v") == value and r.left() == 0 and len(raw) == max(1, -(-value.bit_length() // 7))


@pytest.mark.parametrize("raw, fragment", [
    (b"\x80\x00", "shortest form"), (b"\x81\x80\x00", "shortest form"), (b"\x80\x80\x80\x80\x80\x01", "longer than 5"),
    (b"\xff\xff\xff\xff\x7f", "exceeds 32 bits"), (bs._varint(2**32), "exceeds 32 bits"), (b"\x80", "truncated"),
])  # fmt: skip
def test_bad_varints_are_refused(raw, fragment):
    with pytest.raises(BitstreamError, match=fragment):
        bs._Reader(memoryview(raw)).varint("v")


def test_version_3_needs_one_stream_count_and_channel_count_per_file():
    with pytest.raises(BitstreamError, match="once per file"):
        dumps(RdpFile(FP, [_img("a", [b"x"]), _img("b", [b"x", b"y"])]))
    with pytest.raises(BitstreamError, match="once per file"):
        dumps(RdpFile(FP, [_img("a"), _img("b", latent_shape=(9, 2, 2))]))
    mixed = RdpFile(FP, [_img("a", [b"x"]), _img("b", [b"x", b"y"])], version=2)  # version 2 allows it
    assert loads(dumps(mixed)) == mixed


def test_version_3_header_bounds():
    def v3(k: int, c: int, n: int, body: bytes = b"") -> bytes:
        head = (
            MAGIC
            + struct.pack("<H", 3)
            + b"\x01"
            + bytes.fromhex(FP)
            + b"\x00"
            + bs._varint(k)
            + bs._varint(c)
            + bs._varint(n)
        )
        return head + struct.pack("<I", zlib.crc32(head)) + body

    _reject(v3(257, 8, 0), "stream count 257")
    _reject(v3(1, 5000, 0), "C=5000")
    _reject(v3(1, 8, 2**32 - 1), "image count 4294967295")
    _reject(v3(2, 8, 1000), "truncated file", "1000 images")
    _reject(v3(0, 8, 0, b"\0"), "1 trailing bytes")
    assert loads(v3(0, 0, 0)) == RdpFile(FP, [], version=3)


def test_version_1_layout_is_still_read_and_written():
    """Version 1: flags 0, no symbol CRC field; read as a float-entropy file without checksums."""
    data = raw_file((raw_record(b"ab", streams=(b"xyz",), symbols_crc=None),), version=1, flags=0, arch=b"msh")
    rdp = loads(data)
    assert rdp.version == 1 and rdp.exact is False and rdp.images[0].symbols_crc is None
    assert rdp.images[0].streams == [b"xyz"]
    assert dumps(rdp) == data  # a version-1 file re-serialises byte for byte
    with pytest.raises(BitstreamError, match="version 1 has no exact"):
        dumps(RdpFile(FP, [], version=1, exact=True))


@pytest.mark.parametrize("version", [2, 3])
def test_version_2_and_3_records_need_a_symbol_checksum(version):
    with pytest.raises(BitstreamError, match="symbols_crc must be a 32-bit"):
        dumps(RdpFile(FP, [_img(symbols_crc=None)], version=version))
    with pytest.raises(BitstreamError, match="symbols_crc must be a 32-bit"):
        dumps(RdpFile(FP, [_img(symbols_crc=1 << 32)], version=version))
    rdp = loads(dumps(RdpFile(FP, [_img(symbols_crc=0xFFFFFFFF)], exact=False, version=version)))
    assert rdp.images[0].symbols_crc == 0xFFFFFFFF and rdp.exact is False and rdp.version == version
    assert loads(dumps(RdpFile(FP, [_img(symbols_crc=0)], version=version))).images[0].symbols_crc == 0  # crc32(b"")


def test_version_2_fixture_reads_and_rewrites_byte_for_byte():
    data = (Path(__file__).parent / "data" / "v2-astronaut-crop.rdp").read_bytes()
    rdp = loads(data)
    assert rdp.version == 2 and rdp.exact and rdp.images[0].symbols_crc is not None
    assert dumps(rdp) == data
    v3 = dumps(replace(rdp, version=3))
    assert len(v3) < len(data) and loads(v3) == replace(rdp, version=3)


def test_version_2_fixture_decodes_on_the_cli_as_its_version_3_twin(tmp_path):
    """docs/format.md: version-2 files still decode. The fixture (the bundled system's exact path, written in
    the version-2 layout) decodes through ``rdpflex decompress`` to the pixels of the same records in version 3."""
    import numpy as np
    from PIL import Image

    from rdpflex import cli

    data = (Path(__file__).parent / "data" / "v2-astronaut-crop.rdp").read_bytes()
    (tmp_path / "v3.rdp").write_bytes(dumps(replace(loads(data), version=3)))
    (tmp_path / "v2.rdp").write_bytes(data)
    for v in ("v2", "v3"):
        cli.main(["decompress", str(tmp_path / f"{v}.rdp"), "-o", str(tmp_path / v)])
    a, b = (np.asarray(Image.open(tmp_path / v / "v2-astronaut-crop.png")) for v in ("v2", "v3"))
    assert a.shape == (64, 80, 3) and np.array_equal(a, b)


# ------------------------------------------------------------------------ corrupted input


def test_truncation_at_every_offset():
    data = dumps(_small())
    for n in range(len(data)):
        msg = _reject(data[:n])
        assert msg.startswith("truncated file") or (n == 0 and "empty" in msg), (n, msg)


def test_every_single_bit_flip_is_detected():
    data = dumps(_small())
    for pos in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            _reject(bytes(bad))


@pytest.mark.parametrize("version", [2, 3])
def test_bit_flips_and_garbage_on_a_larger_file_never_escape(version):
    rng = random.Random(0)
    images = [
        _img(f"img{i}", [rng.randbytes(rng.randrange(300)) for _ in range(rng.randrange(5) if version == 2 else 3)])
        for i in range(6)
    ]
    data = dumps(RdpFile(FP, images, arch="hyperprior", version=version))
    for _ in range(2000):
        bad = bytearray(data)
        kind = rng.randrange(4)
        if kind == 0:  # one or more bit flips
            for _ in range(rng.randrange(1, 4)):
                bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # overwrite a 4-byte window with extreme values
            p = rng.randrange(len(bad) - 4)
            bad[p : p + 4] = rng.choice([b"\xff" * 4, b"\x00" * 4, rng.randbytes(4)])
        elif kind == 2:  # delete or insert bytes
            p = rng.randrange(len(bad))
            bad[p:p] = rng.randbytes(rng.randrange(1, 9)) if rng.random() < 0.5 else b""
            if len(bad) == len(data):
                del bad[p : p + rng.randrange(1, 9)]
        else:  # random tail after a valid header
            bad = bytearray(data[: rng.randrange(60)]) + rng.randbytes(rng.randrange(200))
        try:
            out = loads(bytes(bad))
        except BitstreamError as e:
            assert "\n" not in str(e)
        else:
            assert bytes(bad) == data or dumps(out) == bytes(bad)


def test_field_fuzz_with_valid_crcs_only_raises_bitstream_error():
    """Random (often absurd) field values behind correct CRCs: parse or BitstreamError."""
    rng = random.Random(0)
    edge = [0, 1, 2, 255, 256, 257, 4096, 4097, 1 << 16, (1 << 16) + 1, 2**31, 2**32 - 1]
    for _ in range(1500):

        def u32() -> int:
            return rng.choice(edge) if rng.random() < 0.5 else rng.randrange(2**32)

        streams = tuple(rng.randbytes(rng.randrange(4)) for _ in range(rng.randrange(3)))
        rec = raw_record(
            stem=rng.choice([b"a", b"..", b"a/b", b"\xff", b"\x00", "é".encode(), b""]),
            dims=tuple(u32() if rng.random() < 0.3 else d for d in DIMS),
            streams=streams,
            stem_len=rng.choice([None, None, 0, 256, 2**16 - 1]),
            n_streams=rng.choice([None, None, 0, 5, 257, 2**16 - 1]),
            stream_lens=tuple(rng.choice([len(s), u32()]) for s in streams) or None,
        )
        data = raw_file(
            (rec,) * rng.randrange(3),
            count=rng.choice([None, None, 0, 3, 2**32 - 1]),
            flags=rng.choice([0, 0, 0, 1]),
            arch=rng.choice([b"", b"elic", b"\x80", b"a" * 65]),
        )
        try:
            loads(data)
        except BitstreamError as e:
            assert "\n" not in str(e)


def raw_file_v3(
    records: tuple[bytes, ...], k: int, c: int, n: int | None = None, flags: int = 1, arch: bytes = b""
) -> bytes:
    """A version-3 file from raw records, header fields as given, with a correct header CRC (docs/format.md)."""
    head = MAGIC + struct.pack("<H", 3) + bs._varint(flags) + bytes.fromhex(FP) + bs._varint(len(arch)) + arch
    head += bs._varint(k) + bs._varint(c) + bs._varint(len(records) if n is None else n)
    return head + struct.pack("<I", zlib.crc32(head)) + b"".join(records)


def raw_record_v3(stem: bytes, dims: tuple[int, ...], streams: tuple[bytes, ...], lens: tuple[int, ...]) -> bytes:
    """A version-3 record (S, stem, H, W, Hp-H, Wp-W, h, w, K x (L, bytes), SYM) with a correct record CRC."""
    rec = bs._varint(len(stem)) + stem + b"".join(bs._varint(d) for d in dims)
    for n, data in zip(lens, streams):
        rec += bs._varint(n) + data
    rec += struct.pack("<I", 0x1234ABCD)
    return rec + struct.pack("<I", zlib.crc32(rec))


def test_version_3_field_fuzz_with_valid_crcs_only_raises_bitstream_error():
    """The layout rdpflex writes: random (often absurd) varint fields behind correct CRCs parse, or raise one
    line of BitstreamError; whatever parses with records re-serialises byte for byte."""
    rng = random.Random(3)
    edge = [0, 1, 2, 127, 128, 255, 256, 4096, 4097, 65536, 65537, 2**31, 2**32 - 1]

    def field(ok: int) -> int:
        return rng.choice(edge) if rng.random() < 0.3 else ok

    parsed = 0
    for _ in range(1500):
        k = rng.choice([0, 1, 1, 2, 3, 257])
        streams = tuple(rng.randbytes(rng.randrange(4)) for _ in range(min(k, 3)))
        dims = tuple(field(d) for d in (17, 23, 15, 9, 2, 3))
        rec = raw_record_v3(
            rng.choice([b"a", b"..", b"a/b", b"\xff", b"\x00", "é".encode(), b"", b"a" * 256]),
            dims,
            streams,
            tuple(field(len(x)) for x in streams),
        )
        data = raw_file_v3(
            (rec,) * rng.randrange(3),
            k=k,
            c=field(8),
            n=rng.choice([None, None, 0, 3, 2**32 - 1]),
            flags=rng.choice([0, 1, 1, 2]),
            arch=rng.choice([b"", b"msh", b"\x80", b"a" * 65]),
        )
        try:
            rdp = loads(data)
        except BitstreamError as e:
            assert "\n" not in str(e) and str(e)
        else:
            parsed += bool(rdp.images)
            # K and C come from the records, so only a file with records has one encoding to compare with
            assert rdp.version == 3 and (dumps(rdp) == data or not rdp.images)
    assert parsed > 0  # the generator also builds valid files with records, so the accepting path is exercised


@pytest.mark.parametrize(
    "data, fragments",
    [
        (b"PK\x03\x04" + b"\0" * 60, ("not an rdpflex file", "b'PK\\x03\\x04'", "b'RDPF'")),
        (b"RDPX" + b"\0" * 60, ("not an rdpflex file",)),
        (b"", ("empty file",)),
        (raw_file(version=7), ("unsupported format version 7", "reads versions 1, 2, 3")),
        (raw_file(version=0), ("unsupported format version 0",)),
        (raw_file(flags=2), ("unsupported flags 0x0002",)),
        (raw_file(version=1, flags=1), ("unsupported flags 0x0001", "version 1 allows 0x0000")),
        (raw_file(crc=0), ("CRC mismatch in header",)),
        (raw_file(arch=b"a" * 200), ("arch length 200",)),
        (raw_file(arch=b"\xe9lic"), ("not printable ASCII",)),
        (raw_file(count=2**32 - 1), ("image count 4294967295", "1000000")),
        (raw_file(count=bs.MAX_IMAGES), ("truncated file", "1000000 images")),
        (raw_file((raw_record(),), count=2), ("truncated file",)),
        (raw_file((raw_record(),)) + b"\0\0\0", ("3 trailing bytes after the last image",)),
        (raw_file((raw_record(crc=1),)), ("CRC mismatch in image 1 ('a'): file is corrupted",)),
        (raw_file((raw_record(), raw_record(b"kodim01", crc=1))), ("image 2 ('kodim01')",)),
        (raw_file((raw_record(stem_len=0, stem=b""),)), ("stem length 0",)),
        (raw_file((raw_record(stem_len=300, stem=b"a" * 300),)), ("stem length 300",)),
        (raw_file((raw_record(stem_len=2**16 - 1),)), ("stem length 65535",)),
        (raw_file((raw_record(stem=b".."),)), ("'..'",)),
        (raw_file((raw_record(stem=b"."),)), ("'.'",)),
        (raw_file((raw_record(stem=b"a/b"),)), ("'a/b'",)),
        (raw_file((raw_record(stem=b"a\\b"),)), ("stem",)),
        (raw_file((raw_record(stem=b"a\0b"),)), ("stem",)),
        (raw_file((raw_record(stem=b"a\nb"),)), ("stem",)),
        (raw_file((raw_record(stem=b"\xff\xfe"),)), ("not valid UTF-8",)),
        (raw_file((raw_record(n_streams=257),)), ("stream count 257",)),
        (raw_file((raw_record(n_streams=2**16 - 1),)), ("stream count 65535",)),
        (raw_file((raw_record(n_streams=3),)), ("truncated file",)),
        (raw_file((raw_record(stream_lens=(2**32 - 1,)),)),
         ("truncated file: image 1 stream 1 needs 4294967295 bytes",)),
        (raw_file((raw_record(b"s"), raw_record(streams=(b"a", b"bc"), stream_lens=(1, 812)))),
         ("truncated file: image 2 stream 2 needs 812 bytes",)),
        (raw_file((raw_record(dims=(0, 23, 32, 32, 8, 2, 2)),)), ("H=0 out of range",)),
        (raw_file((raw_record(dims=(17, 0, 32, 32, 8, 2, 2)),)), ("W=0",)),
        (raw_file((raw_record(dims=(17, 23, 16, 32, 8, 2, 2)),)), ("smaller than image size",)),
        (raw_file((raw_record(dims=(17, 23, 32, 16, 8, 2, 2)),)), ("smaller than image size",)),
        (raw_file((raw_record(dims=(17, 23, 2**32 - 1, 32, 8, 2, 2)),)), ("Hp=4294967295",)),
        (raw_file((raw_record(dims=(17, 23, 32, 32, 10**9, 2, 2)),)), ("C=1000000000",)),
        (raw_file((raw_record(dims=(17, 23, 32, 32, 0, 2, 2)),)), ("C=0",)),
        (raw_file((raw_record(dims=(17, 23, 32, 32, 8, 0, 2)),)), ("h=0",)),
        (raw_file((raw_record(dims=(17, 23, 32, 32, 8, 2, 2**20)),)), ("w=1048576",)),
    ],
)  # fmt: skip
def test_malformed_files_are_rejected_without_big_allocations(data, fragments):
    tracemalloc.start()
    try:
        _reject(data, *fragments)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, peak


def test_file_size_limit(monkeypatch):
    data = dumps(_small())
    monkeypatch.setattr(bs, "MAX_FILE_BYTES", len(data) - 1)
    with pytest.raises(BitstreamError, match="image 2 .* stream 2: file would exceed"):
        dumps(_small())
    _reject(data, "larger than")
    monkeypatch.setattr(bs, "MAX_FILE_BYTES", len(data))
    assert loads(data) == _small()


def test_non_bytes_input():
    for bad in ("RDPF", None, 12, [1, 2]):
        with pytest.raises(BitstreamError, match=f"expected bytes, got {type(bad).__name__}"):
            loads(bad)  # type: ignore[arg-type]
    with pytest.raises(BitstreamError, match="expected an RdpFile, got str"):
        dumps("RDPF")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- invalid on writing


@pytest.mark.parametrize(
    "rdp, fragment",
    [
        (RdpFile("ab" * 31, []), "fingerprint"),
        (RdpFile("AB" * 32, []), "fingerprint"),
        (RdpFile("zz" * 32, []), "fingerprint"),
        (RdpFile(FP, [], arch="a" * 65), "arch"),
        (RdpFile(FP, [], arch="élic"), "arch"),
        (RdpFile(FP, [], arch="a\nb"), "arch"),
        (RdpFile(FP, [_img("")]), "stem"),
        (RdpFile(FP, [_img(".")]), "stem"),
        (RdpFile(FP, [_img("..")]), "stem"),
        (RdpFile(FP, [_img("a/b")]), "stem"),
        (RdpFile(FP, [_img("a\\b")]), "stem"),
        (RdpFile(FP, [_img("a\0b")]), "stem"),
        (RdpFile(FP, [_img("é" * 128)]), "stem"),
        (RdpFile(FP, [_img("\udcff")]), "stem"),
        (RdpFile(FP, [_img(b"a")]), "stem must be a str, got bytes"),  # type: ignore[arg-type]
        (RdpFile(FP, [_img(image_size=(0, 5))]), "H=0"),
        (RdpFile(FP, [_img(image_size=(33, 5))]), "smaller than image size"),
        (RdpFile(FP, [_img(padded_size=(1 << 17, 32), image_size=(1, 1))]), "Hp=131072"),
        (RdpFile(FP, [_img(padded_size=(32, 1 << 17), image_size=(1, 1))]), "Wp=131072"),
        (RdpFile(FP, [_img(latent_shape=(5000, 2, 2))]), "C=5000"),
        (RdpFile(FP, [_img(latent_shape=(8, 2))]), "latent_shape"),
        (RdpFile(FP, [_img(image_size=(1.5, 2))]), "image_size"),
        (RdpFile(FP, [_img(streams=[b""] * 257)]), "257 streams"),
        (RdpFile(FP, [_img(streams=["text"])]), "stream 1: expected bytes, got str"),  # type: ignore[list-item]
        (RdpFile(FP, ["not an image"]), "image 1: expected an EncodedImage, got str"),  # type: ignore[list-item]
    ],
)
def test_invalid_fields_are_refused_on_write(rdp, fragment):
    with pytest.raises(BitstreamError, match=None) as ei:
        dumps(rdp)
    assert fragment in str(ei.value) and "\n" not in str(ei.value)


# ----------------------------------------------------------------------------- file I/O


def test_write_and_read_file(tmp_path: Path):
    path = tmp_path / "out.rdp"
    n = write_rdp(path, _small())
    assert n == path.stat().st_size == _small().num_bytes()
    assert read_rdp(path) == _small() and read_rdp(str(path)) == _small()
    assert sorted(os.listdir(tmp_path)) == ["out.rdp"]
    write_rdp(path, RdpFile(FP, []))  # overwrite
    assert read_rdp(path) == RdpFile(FP, [])


def test_write_is_atomic_when_serialisation_fails(tmp_path: Path):
    path = tmp_path / "keep.rdp"
    write_rdp(path, _small())
    before = path.read_bytes()
    with pytest.raises(BitstreamError, match="stem"):
        write_rdp(path, RdpFile(FP, [_img("../evil")]))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.rdp"]


def test_write_is_atomic_when_the_rename_fails(tmp_path: Path, monkeypatch):
    path = tmp_path / "keep.rdp"
    write_rdp(path, _small())
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bs.os, "replace", boom)
    with pytest.raises(BitstreamError, match="cannot write.*keep.rdp.*No space left"):
        write_rdp(path, RdpFile(FP, []))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.rdp"]


def test_write_into_missing_directory(tmp_path: Path):
    with pytest.raises(BitstreamError, match="cannot write.*nodir"):
        write_rdp(tmp_path / "nodir" / "x.rdp", _small())


def test_read_errors_name_the_path(tmp_path: Path, monkeypatch):
    missing = tmp_path / "missing.rdp"
    with pytest.raises(BitstreamError, match="cannot read.*missing.rdp"):
        read_rdp(missing)
    with pytest.raises(BitstreamError, match=f"cannot read.*{tmp_path.name}"):
        read_rdp(tmp_path)
    corrupt = tmp_path / "corrupt.rdp"
    corrupt.write_bytes(dumps(_small())[:-1])
    with pytest.raises(BitstreamError, match="corrupt.rdp.*truncated file") as ei:
        read_rdp(corrupt)
    assert "\n" not in str(ei.value)
    big = tmp_path / "big.rdp"
    write_rdp(big, _small())
    monkeypatch.setattr(bs, "MAX_FILE_BYTES", 10)
    with pytest.raises(BitstreamError, match="big.rdp.*larger than"):
        read_rdp(big)


# ---------------------------------------------------- boundaries, diagnostics and salvage (`make mutation`)


def test_printable_ascii_and_stem_characters_at_their_bounds():
    """Arch names: 0x20..0x7E inclusive, on both sides; stems: any character but '/', '\\', C0 controls and DEL."""
    for version in (2, 3):
        rdp = RdpFile(FP, [_img("X-ray ~1")], arch=" arch~", version=version)
        assert loads(dumps(rdp)) == rdp
    assert loads(raw_file(arch=b" ~")).arch == " ~"
    for bad in (b"\x1f", b"\x7f"):
        _reject(raw_file(arch=b"a" + bad), "not printable ASCII")
    with pytest.raises(BitstreamError, match="stem"):
        dumps(RdpFile(FP, [_img("a\x7fb")]))
    _reject(raw_file((raw_record(stem=b"a\x7fb"),)), "stem")


def test_image_count_limit_is_inclusive(monkeypatch):
    monkeypatch.setattr(bs, "MAX_IMAGES", 2)
    for version in (2, 3):
        two = RdpFile(FP, [_img("a"), _img("b")], version=version)
        assert loads(dumps(two)) == two
        with pytest.raises(BitstreamError, match="3 images, at most 2"):
            dumps(replace(two, images=[*two.images, _img("c")]))
    _reject(raw_file((raw_record(),) * 3), "image count 3 exceeds the limit of 2")


@pytest.mark.parametrize("version", [0, 4, "3", None])
def test_only_known_versions_are_written(version):
    with pytest.raises(BitstreamError, match=f"cannot write format version {version!r}"):
        dumps(RdpFile(FP, [], version=version))  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("k", [0, 1, 3])
def test_smallest_records_are_read(version, k):
    """Records of the documented minimum size (1-byte stem, 1x1 image, every stream empty) fill the file exactly."""
    im = _img("s", [b""] * k, image_size=(1, 1), padded_size=(1, 1), latent_shape=(1, 1, 1))
    rdp = RdpFile(FP, [replace(im, symbols_crc=None if version == 1 else 0)] * 3, version=version, exact=version != 1)
    data = dumps(rdp)
    smallest = {1: bs.RECORD_MIN_BYTES - 4 + 4 * k, 2: bs.RECORD_MIN_BYTES + 4 * k, 3: 16 + k}[version]
    assert len(data) == bs._read_header(data).reader.pos + 3 * smallest
    assert loads(data) == rdp


@pytest.mark.parametrize("version", [1, 2, 3])
def test_file_size_limit_is_inclusive_in_every_version(version, tmp_path, monkeypatch):
    """A file of exactly MAX_FILE_BYTES is written and read; one byte less of limit refuses it on both sides."""
    crc = None if version == 1 else 5
    images = [_img("a", [b"", b"xy"], symbols_crc=crc), _img("b", [b"", b"last"], symbols_crc=crc)]
    rdp = RdpFile(FP, images, version=version, exact=version != 1)
    data, path = dumps(rdp), tmp_path / "edge.rdp"
    monkeypatch.setattr(bs, "MAX_FILE_BYTES", len(data))
    assert write_rdp(path, rdp) == len(data) and read_rdp(path) == rdp
    monkeypatch.setattr(bs, "MAX_FILE_BYTES", len(data) - 1)
    with pytest.raises(BitstreamError, match=r"image 2 \('b'\) stream 2: file would exceed"):
        dumps(rdp)
    with pytest.raises(BitstreamError, match="larger than"):
        read_rdp(path)


def test_streams_of_any_buffer_format_are_counted_in_bytes(monkeypatch):
    """A memoryview of 4-byte items is written as its bytes, and one too large is refused before it is copied."""
    words = memoryview(b"abcdefgh").cast("I")  # 2 items, 8 bytes
    assert loads(dumps(RdpFile(FP, [_img(streams=[words, b""])]))).images[0].streams == [b"abcdefgh", b""]
    big = memoryview(bytearray(8 << 20)).cast("I")  # 2 Mi items, 8 MiB
    monkeypatch.setattr(bs, "MAX_FILE_BYTES", 4 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(BitstreamError, match=r"image 1 \('a'\) stream 1: file would exceed"):
            dumps(RdpFile(FP, [_img(streams=[big, b""])]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak


def test_refusals_name_the_image_and_the_stream():
    """In a file of two images, whatever is wrong with the second names image 2 (by stem, once it is known)."""
    a = _img("a")
    for bad, fragment in [
        (_img(".."), "image 2: stem"),
        (_img("b", image_size=(1, 2, 3)), "image 2 ('b'): image_size must be 2 integers"),
        (_img("b", padded_size=(32,)), "image 2 ('b'): padded_size must be 2 integers"),
        (_img("b", latent_shape=(8, 2)), "image 2 ('b'): latent_shape must be 3 integers"),
        (_img("b", image_size=(0, 5)), "image 2 ('b'): H=0"),
        (_img("b", [b"x", "text"]), "image 2 ('b') stream 2: expected bytes"),  # type: ignore[list-item]
        (_img("b", symbols_crc=-1), "image 2 ('b'): symbols_crc"),
    ]:
        with pytest.raises(BitstreamError) as ei:
            dumps(RdpFile(FP, [a, bad]))
        assert str(ei.value).startswith(fragment), (fragment, str(ei.value))
    for rec, fragment in [
        (raw_record(b".."), "image 2: stem '..'"),
        (raw_record(b"b", dims=(0, 23, 32, 32, 8, 2, 2)), "image 2 ('b'): H=0"),
        (raw_record(b"b", dims=(17, 23, 16, 32, 8, 2, 2)), "image 2 ('b'): padded size"),
    ]:
        assert _reject(raw_file((raw_record(), rec))).startswith(fragment)


_TRUNCATED = re.compile(
    r"truncated file: (?:\d+ images need at least \d+ bytes"
    r"|(?:magic|header field '[a-z ]+'|header CRC|image (?P<image>\d+) (?:stem length|stem"
    r"|sizes \(H, W, Hp, Wp, C, h, w\)|H|W|Hp-H|Wp-W|h|w|stream count|stream lengths and CRC|stream \d+ length"
    r"|stream \d+|symbol CRC|CRC)) needs \d+ bytes), \d+ left"
)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_truncated_file_names_the_field_and_the_image_it_ends_in(version):
    crc = None if version == 1 else 7
    images = [_img(s, [b"payload" * 3, b"x"], symbols_crc=crc) for s in ("kodim01", "b")]
    rdp = RdpFile(FP, images, arch="elic", version=version, exact=version != 1)
    data = dumps(rdp)
    head = bs._read_header(data).reader.pos
    ends = [head + sum(bs.record_bytes(rdp)[: k + 1]) for k in range(len(images))]
    for n in range(1, len(data)):
        msg = _reject(data[:n])
        m = _TRUNCATED.fullmatch(msg)
        assert m, (n, msg)
        assert (n < head) == msg.startswith(("truncated file: magic", "truncated file: header")), (n, msg)
        if m["image"]:
            assert int(m["image"]) == 1 + sum(n >= e for e in ends), (n, msg)


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("channels", [8, 192])
def test_record_bytes_add_up_to_the_file(version, channels, monkeypatch):
    """header + sum(record_bytes) == file size, in every version, also where version 3's header varints for the
    latent channels are 2 bytes (C >= 128) where an empty file's are 1; and for a file at the size limit."""
    crc = None if version == 1 else 1
    shape = (channels, 2, 2)
    images = [_img(s, [b"p" * n, b""], latent_shape=shape, symbols_crc=crc) for s, n in zip("abc", (0, 5, 300))]
    rdp = RdpFile(FP, images, arch="elic", version=version, exact=version != 1)
    data = dumps(rdp)
    sizes = bs.record_bytes(rdp)
    assert bs._read_header(data).reader.pos + sum(sizes) == len(data)
    assert sizes[1] - sizes[0] == 5 and sizes[2] - sizes[1] == 295 + (version == 3)  # varint(300): 2 bytes
    one = replace(rdp, images=images[:1])
    monkeypatch.setattr(bs, "MAX_FILE_BYTES", len(dumps(one)))
    assert bs.record_bytes(one) == sizes[:1]


def _three() -> tuple[bytes, list[int]]:
    """A version-3 file of images 'a', 'b', 'c' and the offset where each record starts."""
    rdp = RdpFile(FP, [_img(s, [b"payload-" + s.encode(), b""]) for s in "abc"], arch="elic")
    data = dumps(rdp)
    sizes = bs.record_bytes(rdp)
    head = len(data) - sum(sizes)
    return data, [head + sum(sizes[:k]) for k in range(3)]


def test_salvage_of_an_intact_file_is_loads_and_reports_trailing_bytes():
    data, _ = _three()
    s = bs.salvage(data)
    assert s.rdp == loads(data) and s.positions == [0, 1, 2] and s.damaged == []
    s = bs.salvage(data + b"\0\0")
    assert s.rdp == loads(data) and s.positions == [0, 1, 2]
    assert s.damaged == [(None, "2 trailing bytes after the last image")]


def test_salvage_skips_a_record_that_fails_its_crc_or_a_later_check():
    data, starts = _three()
    bad = bytearray(data)
    bad[starts[1] + 9] ^= 0x01  # a payload byte of 'b' (S, stem, 6 dimensions, stream length: 9 bytes)
    s = bs.salvage(bytes(bad))
    assert [im.stem for im in s.rdp.images] == ["a", "c"] and s.positions == [0, 2]
    assert [p for p, _ in s.damaged] == [1] and "CRC mismatch in image 2 ('b')" in s.damaged[0][1]
    # a record with a valid CRC refused by a check made after it (stem '..'): reading also resumes after it
    recs = tuple(raw_record_v3(stem, (17, 23, 15, 9, 2, 3), (b"x",), (1,)) for stem in (b"a", b"..", b"c"))
    s = bs.salvage(raw_file_v3(recs, k=1, c=8))
    assert s.positions == [0, 2] and [p for p, _ in s.damaged] == [1] and "'..'" in s.damaged[0][1]


def test_salvage_loses_every_later_record_when_framing_is_damaged():
    data, starts = _three()
    for cut, kept in ((starts[0] + 3, 0), (starts[1] + 5, 1)):  # inside the first record, inside the second
        s = bs.salvage(data[:cut])
        assert s.positions == list(range(kept)) and [p for p, _ in s.damaged] == list(range(kept, 3))
        assert s.damaged[0][1].startswith(f"truncated file: image {kept + 1} ")
        for j, (_, why) in enumerate(s.damaged[1:], kept + 2):
            assert why.startswith(f"image {j}: ") and f"framing of image {kept + 1} is damaged" in why
    # the CRC of 'b' fails and the file ends inside 'c': 'c' is named as lost through the damage before it
    bad = bytearray(data[: starts[2] + 5])
    bad[starts[1] + 9] ^= 0x01
    s = bs.salvage(bytes(bad))
    assert s.positions == [0] and [p for p, _ in s.damaged] == [1, 2]
    assert s.damaged[1][1].startswith("image 3 cannot be located (the damage to image 2 ")
    assert "truncated file" in s.damaged[1][1]


def test_salvage_refuses_a_damaged_header_whole(tmp_path: Path):
    data, _ = _three()
    bad = bytearray(data)
    bad[10] ^= 0x01  # a fingerprint byte
    with pytest.raises(BitstreamError, match="CRC mismatch in header"):
        bs.salvage(bytes(bad))
    path = tmp_path / "set.rdp"
    path.write_bytes(data[:-1])
    assert bs.read_rdp_salvaging(path) == bs.salvage(data[:-1])
    path.write_bytes(bytes(bad))
    with pytest.raises(BitstreamError, match=r"^'.*set\.rdp': CRC mismatch in header"):
        bs.read_rdp_salvaging(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_written_files_get_read_write_permissions_only(tmp_path: Path):
    old = os.umask(0o022)
    try:
        write_rdp(tmp_path / "a.rdp", _small())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.rdp").stat().st_mode) == 0o644


def test_a_file_name_of_255_bytes_is_written(tmp_path: Path):
    path = tmp_path / ("n" * 251 + ".rdp")  # NAME_MAX: the temporary name must stay within it too
    write_rdp(path, _small())
    assert read_rdp(path) == _small() and os.listdir(tmp_path) == [path.name]


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_write_never_follows_a_link_planted_at_its_temporary_name(tmp_path: Path, monkeypatch):
    """The temporary file is created exclusively (O_EXCL): a symlink waiting at its name fails the write and the
    file it points at is left alone."""
    monkeypatch.setattr(bs.secrets, "token_hex", lambda n: "0" * (2 * n))
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / ".out.rdp.000000000000.tmp").symlink_to(victim)
    with pytest.raises(BitstreamError, match="cannot write.*out.rdp"):
        write_rdp(tmp_path / "out.rdp", _small())
    assert victim.read_bytes() == b"keep" and not (tmp_path / "out.rdp").exists()


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_before_it_is_read():
    with pytest.raises(BitstreamError, match="cannot read '/dev/zero': not a regular file"):
        read_rdp("/dev/zero")
