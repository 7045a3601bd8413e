"""Every bad input of docs/reliability.md section 6, through the CLI: one line, exit 2, nothing already written lost.

Each case builds its input, runs ``rdpflex ...`` in-process and checks the message. With
``RDPFLEX_BAD_INPUT_TABLE=FILE`` the messages are written to FILE (JSON) for the documentation table.
"""

from __future__ import annotations

import errno
import json
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdpflex.cli import main

from .conftest import smooth_image

ROWS: list[dict] = []


def run(capsys, *args) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err.strip()


def png_header(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims w x h and holds no pixel data (what a decompression bomb looks like to a reader)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_system_dir, other_system_dir):
    d = tmp_path_factory.mktemp("bad")
    Image.fromarray(smooth_image(40, 56, 0)).save(d / "good.png")
    Image.fromarray(smooth_image(24, 32, 1)).save(d / "second.png")
    main(
        [
            str(a)
            for a in (
                "compress",
                d / "good.png",
                d / "second.png",
                "-o",
                d / "good.rdp",
                "--system",
                tiny_system_dir,
                "--no-estimate",
            )
        ]
    )
    data = (d / "good.rdp").read_bytes()
    (d / "flipped.rdp").write_bytes(data[:70] + bytes([data[70] ^ 4]) + data[71:])
    (d / "truncated.rdp").write_bytes(data[: len(data) // 2])
    (d / "header.rdp").write_bytes(data[:10] + bytes([data[10] ^ 1]) + data[11:])  # inside the fingerprint
    (d / "empty.rdp").write_bytes(b"")
    (d / "foreign.rdp").write_bytes((d / "good.png").read_bytes())
    (d / "junk.png").write_bytes(b"hello, not an image")
    Image.new("RGB", (4, 4)).save(d / "tiny.png")
    png_header(d / "huge.png", 40000, 16)
    png_header(d / "bomb.png", 30000, 30000)  # 900 Mpx: Pillow's own limit (2 x 89.5 Mpx) refuses it first
    png_header(d / "big.png", 9000, 9000)  # 81 Mpx: above rdpflex's 67 Mpx cap, below Pillow's
    Image.fromarray(smooth_image(32, 40, 2)[..., 0].astype(np.uint16) * 257).save(d / "gray16.png")
    Image.fromarray(smooth_image(32, 40, 3)).convert("CMYK").save(d / "cmyk.jpg")
    (d / "bad-recipe.yaml").write_text("stage: codec\ntrain: {steps: -1, batchsize: 2}\ncodec: {arch: msh, lamda: 1}\n")
    return d


CASES = [
    # name, args (F = files folder, S = tiny system, O = other system, T = tmp), expected exit, message pattern
    (
        "corrupted .rdp (one bit flipped)",
        "decompress F/flipped.rdp -o T/out --system S",
        2,
        r"CRC mismatch in image 1 \('good'\): file is corrupted",
    ),
    ("truncated .rdp", "decompress F/truncated.rdp -o T/out --system S", 2, r"truncated file"),
    ("empty .rdp", "decompress F/empty.rdp -o T/out --system S", 2, r"empty file: not an rdpflex file"),
    (
        "foreign file (a PNG named .rdp)",
        "decompress F/foreign.rdp -o T/out --system S",
        2,
        r"not an rdpflex file \(magic b'\\x89PNG'",
    ),
    (
        "missing .rdp",
        "decompress F/nope.rdp -o T/out --system S",
        2,
        r"cannot read .*nope\.rdp': No such file or directory",
    ),
    (
        "file of another system",
        "decompress F/good.rdp -o T/out --system O",
        2,
        r"was written by codec \w+ \(msh\), not by the codec of system .*pass --system",
    ),
    (
        "not a system directory",
        "decompress F/good.rdp -o T/out --system F",
        2,
        r"is not an rdpflex system: system\.json not found",
    ),
    (
        "unknown decoder",
        "decompress F/good.rdp -o T/out --system S --decoder nerf",
        2,
        r"unknown decoder 'nerf'; installed decoders: .*mse",
    ),
    (
        "damaged header, --keep-going",
        "decompress F/header.rdp -o T/out --system S --keep-going",
        2,
        r"header\.rdp': CRC mismatch in header: file is corrupted",
    ),
    (
        "tile not a multiple of the codec stride",
        "decompress F/good.rdp -o T/out --system S --tile 100",
        2,
        r"tile=100, overlap=32 not allowed: tile must be a positive multiple of 16 px",
    ),
    (
        "tile overlap as large as the tile",
        "decompress F/good.rdp -o T/out --system S --tile 64 --tile-overlap 64",
        2,
        r"tile=64, overlap=64 not allowed: .*0 <= overlap < tile",
    ),
    (
        "unknown option",
        "decompress F/good.rdp -o T/out --system S --set steps=3",
        2,
        r"invalid options for decoder 'mse': steps: Extra inputs are not permitted",
    ),
    (
        "option without =",
        "decompress F/good.rdp -o T/out --system S --set beta",
        2,
        r"--set expects KEY=VALUE, got 'beta'",
    ),
    (
        "out-of-range value",
        "decompress D/x.rdp -o T/out --decoder multirealism --set beta=9",
        2,
        r"beta.*(2\.56|less than or equal)",
    ),
    (
        "decoder the system lacks",
        "decompress F/good.rdp -o T/out --system S --decoder multirealism",
        2,
        r"has no trained 'multirealism' decoder \(trained: none\)",
    ),
    (
        "unreadable image",
        "compress F/junk.png -o T/x.rdp --system S",
        2,
        r"junk\.png: not a readable image \(UnidentifiedImageError\)",
    ),
    ("missing image", "compress F/nope.png -o T/x.rdp --system S", 2, r"nope\.png: no such file"),
    (
        "tiny image (4x4)",
        "compress F/tiny.png -o T/x.rdp --system S",
        2,
        r"tiny\.png is 4x4; rdpflex codes images from 8x8 to 32768x32768",
    ),
    (
        "huge image (40000x16 header)",
        "compress F/huge.png -o T/x.rdp --system S",
        2,
        r"huge\.png is 40000x16; rdpflex codes images from 8x8 to 32768x32768",
    ),
    (
        "decompression bomb (30000x30000 header)",
        "compress F/bomb.png -o T/x.rdp --system S",
        2,
        r"bomb\.png: refused by Pillow's decompression-bomb limit",
    ),
    (
        "image above the pixel cap (9000x9000)",
        "compress F/big.png -o T/x.rdp --system S",
        2,
        r"big\.png is 9000x9000 = 81000000 pixels, above the limit of 67108864 .*RDPFLEX_MAX_PIXELS",
    ),
    (
        "16-bit grayscale PNG",
        "compress F/gray16.png -o T/g.rdp --system S",
        0,
        r"note: gray16\.png: grayscale converted to RGB",
    ),
    ("CMYK JPEG", "compress F/cmyk.jpg -o T/c.rdp --system S", 0, r"note: cmyk\.jpg: CMYK converted to RGB"),
    (
        "recipe with wrong fields",
        "train F/bad-recipe.yaml --output T/run",
        2,
        r"invalid \(3 errors\): train\.steps: .*greater than 0; train\.batchsize: unknown key; "
        r"allowed: .*batch_size.*codec\.lamda: unknown key",
    ),
    (
        "missing data folder",
        "train tiny/codec.yaml --output T/run --set data.dataset=folder --set data.path=T/no-such-folder",
        2,
        r"image folder .*no-such-folder does not exist or is not a directory",
    ),
    ("missing recipe", "train T/nope.yaml", 2, r"nope\.yaml"),
]


@pytest.mark.parametrize("name, args, code, pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, args, code, pattern, files, tiny_system_dir, other_system_dir, tmp_path, capsys, demo_rdp):
    from rdpflex.train.recipe import RECIPES_DIR

    subs = {
        "F": str(files),
        "S": str(tiny_system_dir),
        "O": str(other_system_dir),
        "T": str(tmp_path),
        "D": str(demo_rdp),
    }
    argv = [re.sub(r"^([FSOTD])(?=/|$)", lambda m: subs[m.group(1)], a) for a in args.split()]
    argv = [str(RECIPES_DIR / a) if a == "tiny/codec.yaml" else a for a in argv]
    got, err = run(capsys, *argv)
    lines = err.splitlines()
    assert got == code, err
    if code:
        assert len([ln for ln in lines if ln.startswith("error:")]) == 1 and "Traceback" not in err, err
        # nothing continues the error on another line (``error: foo\nbar``): other lines are notes or warnings
        assert all(ln.startswith(("error:", "note:", "warning:")) for ln in lines if ln.strip()), err
        # nothing written: no PNG folder, no .rdp, no run directory (compress, decompress and train alike)
        assert not [p for p in tmp_path.rglob("*") if p.is_file()], sorted(tmp_path.rglob("*"))
    assert re.search(pattern, err), err
    message = next((ln for ln in lines if ln.startswith(("error:", "note:"))), err)
    ROWS.append(
        {
            "input": name,
            "command": "rdpflex " + args,
            "exit": got,
            "message": message.replace(str(tmp_path), "T").replace(str(files), "F"),
        }
    )
    table = os.environ.get("RDPFLEX_BAD_INPUT_TABLE")
    if table:
        Path(table).write_text(json.dumps(ROWS, indent=1))


@pytest.fixture(scope="module")
def demo_rdp(tmp_path_factory, files):
    d = tmp_path_factory.mktemp("demo")
    main(["compress", str(files / "good.png"), "-o", str(d / "x.rdp"), "--no-estimate"])
    return d


def test_disk_full_while_decoding_keeps_what_was_written(files, tiny_system_dir, tmp_path, capsys, monkeypatch):
    """ENOSPC on the second PNG: exit 2, one line; the first PNG is complete and an older second PNG is untouched."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "second.png").write_bytes(b"older result")
    real_save = Image.Image.save

    def save(self, fp, *a, **kw):
        if "second" in str(fp):
            Path(fp).write_bytes(b"\x89PNG half")  # half-written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *a, **kw)

    monkeypatch.setattr(Image.Image, "save", save)
    code, err = run(capsys, "decompress", files / "good.rdp", "-o", out, "--system", tiny_system_dir)
    err = err.splitlines()[-1]  # after the progress bar
    assert code == 2 and re.fullmatch(r"error: cannot write .*second\.png: No space left on device", err), err
    assert Image.open(out / "good.png").size == (56, 40)
    assert (out / "second.png").read_bytes() == b"older result"
    assert sorted(p.name for p in out.iterdir()) == ["good.png", "second.png"]  # no temporary left behind
    ROWS.append(
        {
            "input": "disk full while writing PNGs",
            "command": "rdpflex decompress F/good.rdp -o T/out",
            "exit": 2,
            "message": err.replace(str(tmp_path), "T"),
        }
    )


def test_disk_full_while_compressing_keeps_the_old_file(files, tiny_system_dir, tmp_path, capsys, monkeypatch):
    target = tmp_path / "x.rdp"
    target.write_bytes(b"previous file")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    code, err = run(capsys, "compress", files / "good.png", "-o", target, "--system", tiny_system_dir)
    assert code == 2 and re.fullmatch(r"error: cannot write .*x\.rdp': No space left on device", err), err
    assert target.read_bytes() == b"previous file" and sorted(p.name for p in tmp_path.iterdir()) == ["x.rdp"]
    ROWS.append(
        {
            "input": "disk full while writing the .rdp",
            "command": "rdpflex compress F/good.png -o T/x.rdp",
            "exit": 2,
            "message": err.replace(str(tmp_path), "T"),
        }
    )
    table = os.environ.get("RDPFLEX_BAD_INPUT_TABLE")
    if table:
        Path(table).write_text(json.dumps(ROWS, indent=1))


def test_keep_going_writes_what_is_intact_and_names_the_damaged_image(files, tiny_system_dir, tmp_path, capsys):
    """The corrupted-.rdp row again, with --keep-going: the intact image is written, the damaged one named."""
    from rdpflex.bitstream import RdpFile, dumps, loads

    data = bytearray((files / "good.rdp").read_bytes())
    rdp = loads(bytes(data))
    first = len(dumps(RdpFile(rdp.fingerprint, rdp.images[:1], rdp.arch, rdp.exact, rdp.version)))
    data[first - 9] ^= 4  # the last stream byte of image 1 (its record CRC fails, its lengths are intact)
    (tmp_path / "flipped.rdp").write_bytes(data)
    out = tmp_path / "out"
    args = ("decompress", tmp_path / "flipped.rdp", "-o", out, "--system", tiny_system_dir, "--keep-going")
    code, err = run(capsys, *args)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and "Traceback" not in err and len(errors) == 1, err
    assert re.fullmatch(r"error: .*flipped\.rdp: CRC mismatch in image 1 \('good'\): file is corrupted", errors[0])
    assert sorted(p.name for p in out.iterdir()) == ["second.png"]
    ROWS.append(
        {
            "input": "corrupted .rdp, --keep-going",
            "command": "rdpflex decompress T/flipped.rdp -o T/out --system S --keep-going",
            "exit": 2,
            "message": errors[0].replace(str(tmp_path), "T") + " (second.png written)",
        }
    )


def test_idempotence_above_its_budget_is_refused_naming_it(files, tiny_system_dir, tmp_path, capsys, monkeypatch):
    """An image above the 2^22 padded pixels idempotence samples whole: one line naming the budget and --tile,
    from the file's header, before any latent is entropy-decoded (at 4096 x 4096 that took a minute)."""
    from rdpflex.codecs.base import Codec

    def never(*args, **kwargs):
        raise AssertionError("entropy decoding started before the size was refused")

    import shutil

    from rdpflex.system import BUNDLED_DEMO_SYSTEM

    system = tmp_path / "sys"
    shutil.copytree(tiny_system_dir, system)
    shutil.copytree(BUNDLED_DEMO_SYSTEM / "decoders" / "idempotence", system / "decoders" / "idempotence")
    Image.fromarray(np.zeros((2064, 2064, 3), np.uint8)).save(tmp_path / "wide.png")
    main(["compress", str(tmp_path / "wide.png"), "-o", str(tmp_path / "wide.rdp"), "--system", str(system)])
    capsys.readouterr()
    monkeypatch.setattr(Codec, "decompress_latents", never)
    args = ("decompress", tmp_path / "wide.rdp", "-o", tmp_path / "out", "--system", system, "--decoder", "idempotence")
    code, err = run(capsys, *args)
    assert code == 2 and "Traceback" not in err and not (tmp_path / "out").exists(), err
    budget = r"error: idempotence: image 'wide' is 2112x2112 = 4460544 pixels \(padded\), above the 4194304 pixels "
    assert re.fullmatch(budget + r"sampled whole; decode it in tiles \(--tile 512\)", err.strip()), err
    ROWS.append(
        {
            "input": "image above idempotence's untiled budget (2064x2064)",
            "command": "rdpflex decompress T/wide.rdp -o T/out --decoder idempotence",
            "exit": 2,
            "message": err.strip(),
        }
    )
    table = os.environ.get("RDPFLEX_BAD_INPUT_TABLE")
    if table:
        Path(table).write_text(json.dumps(ROWS, indent=1))


@pytest.mark.parametrize("bad", ["junk.png", "tiny.png"])
def test_a_failed_compress_keeps_the_older_file(bad, files, tiny_system_dir, tmp_path, capsys):
    """compress good.png BAD -o x.rdp over an existing x.rdp: one line, exit 2, the older file byte for byte,
    and no temporary beside it (the bad image is the last one, so a writer that streams would be caught)."""
    out = tmp_path / "x.rdp"
    out.write_bytes(b"older result")
    code, err = run(capsys, "compress", files / "good.png", files / bad, "-o", out, "--system", tiny_system_dir)
    assert code == 2 and len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1, err
    assert bad in err.splitlines()[-1]
    assert out.read_bytes() == b"older result"
    assert [p.name for p in tmp_path.iterdir()] == ["x.rdp"]


def test_a_failed_training_leaves_no_run_directory(files, tmp_path, capsys):
    """A recipe whose data folder is missing fails before the run directory is made; an existing run's files stay."""
    from rdpflex.train.recipe import RECIPES_DIR

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("older run\n")
    code, err = run(
        capsys,
        "train",
        RECIPES_DIR / "tiny" / "codec.yaml",
        "--output",
        run_dir,
        "--set",
        "data.dataset=folder",
        "--set",
        f"data.path={tmp_path / 'no-such-folder'}",
    )
    assert code == 2 and "no-such-folder" in err.splitlines()[-1], err
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.jsonl"]
    assert (run_dir / "metrics.jsonl").read_text() == "older run\n"
