"""The CLI end to end through subprocesses: one-line errors, non-zero exits, nothing lost."""

import json
import os
import subprocess
import sys

import pytest


def rdpflex(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


#: what else may share stderr with the error: notes and warnings, each one line of its own
OTHER_LINES = ("note:", "warning:")


def one_line_error(r, *needles):
    """Exactly one ``error:`` line and nothing that continues it: every other line of stderr is a note or a
    warning of its own (``error: foo\nbar`` fails)."""
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    stray = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("error:", *OTHER_LINES))]
    assert not stray, f"lines beside the error: {stray}"
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def rdp_file(tmp_path_factory, image_paths, tiny_system_dir):
    out = tmp_path_factory.mktemp("cli") / "set.rdp"
    r = rdpflex("compress", *image_paths, "-o", out, "--system", tiny_system_dir, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["bytes"] == out.stat().st_size
    assert report["bpp_file"] == pytest.approx(
        8 * out.stat().st_size / sum(i["height"] * i["width"] for i in report["per_image"])
    )
    return out


def test_compress_decompress(rdp_file, tiny_system_dir, image_paths, tmp_path):
    from PIL import Image

    r = rdpflex("decompress", rdp_file, "-o", tmp_path / "out", "--system", tiny_system_dir)
    assert r.returncode == 0, r.stderr
    for p in image_paths:
        a, b = Image.open(p), Image.open(tmp_path / "out" / f"{p.stem}.png")
        assert a.size == b.size and b.mode == "RGB"


def test_decoders_json_lists_mse_schema():
    r = rdpflex("decoders", "--json")
    assert r.returncode == 0
    mse = next(d for d in json.loads(r.stdout) if d["name"] == "mse")
    assert mse["options"]["additionalProperties"] is False


def test_unknown_decoder(rdp_file, tiny_system_dir, tmp_path):
    one_line_error(
        rdpflex("decompress", rdp_file, "-o", tmp_path, "--system", tiny_system_dir, "--decoder", "nope"),
        "unknown decoder 'nope'",
        "mse",
    )


def test_bad_option(rdp_file, tiny_system_dir, tmp_path):
    one_line_error(
        rdpflex("decompress", rdp_file, "-o", tmp_path, "--system", tiny_system_dir, "--set", "beta"), "KEY=VALUE"
    )


def test_other_system_refused(rdp_file, other_system_dir, tmp_path):
    one_line_error(
        rdpflex("decompress", rdp_file, "-o", tmp_path / "o", "--system", other_system_dir),
        "written by codec",
        "not by the codec",
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_damaged_file(damage, rdp_file, tiny_system_dir, tmp_path):
    data = bytearray(rdp_file.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) - 10] ^= 0x10
    else:
        data = b"PK\x03\x04" + data[4:]
    bad = tmp_path / "bad.rdp"
    bad.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.png").write_bytes(b"precious")
    one_line_error(rdpflex("decompress", bad, "-o", out, "--system", tiny_system_dir))
    assert (out / "keep.png").read_bytes() == b"precious"


def test_debug_shows_traceback(tmp_path, tiny_system_dir):
    r = rdpflex("--debug", "decompress", tmp_path / "missing.rdp", "-o", tmp_path, "--system", tiny_system_dir)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_bad_image_input(tmp_path, tiny_system_dir):
    (tmp_path / "notimage.png").write_text("hello")
    one_line_error(
        rdpflex("compress", tmp_path / "notimage.png", "-o", tmp_path / "x.rdp", "--system", tiny_system_dir),
        "not a readable image",
    )
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "tiny.png")
    one_line_error(
        rdpflex("compress", tmp_path / "tiny.png", "-o", tmp_path / "x.rdp", "--system", tiny_system_dir), "4x4", "8x8"
    )
    assert not (tmp_path / "x.rdp").exists()


def test_grayscale_and_alpha_converted_with_note(tmp_path, tiny_system_dir):
    from PIL import Image

    Image.new("L", (20, 20), 128).save(tmp_path / "g.png")
    Image.new("RGBA", (20, 20), (1, 2, 3, 4)).save(tmp_path / "a.png")
    r = rdpflex(
        "compress", tmp_path / "g.png", tmp_path / "a.png", "-o", tmp_path / "x.rdp", "--system", tiny_system_dir
    )
    assert r.returncode == 0, r.stderr
    assert "grayscale converted to RGB" in r.stderr and "alpha channel dropped" in r.stderr


def test_usage_error_is_one_line():
    one_line_error(rdpflex("compress"), "Missing argument")


def test_compress_without_estimate_writes_the_same_bytes(rdp_file, image_paths, tiny_system_dir, tmp_path):
    r = rdpflex(
        "compress", *image_paths, "-o", tmp_path / "n.rdp", "--system", tiny_system_dir, "--no-estimate", "--json"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bpp_estimated"] is None
    assert (tmp_path / "n.rdp").read_bytes() == rdp_file.read_bytes()


def test_decompress_tile_on_the_command_line(tmp_path):
    """--tile / --tile-overlap decode a 160 x 288 image in 128 px tiles with the bundled codec: the PNG has the
    image's size and about the whole-image decode's PSNR, without being that decode (it was tiled)."""
    import numpy as np
    from PIL import Image

    from tests.conftest import smooth_image

    Image.fromarray(smooth_image(160, 288, 5)).save(tmp_path / "wide.png")
    rdp = tmp_path / "wide.rdp"
    assert rdpflex("compress", tmp_path / "wide.png", "-o", rdp).returncode == 0
    whole, tiled = tmp_path / "whole", tmp_path / "tiled"
    r = rdpflex("decompress", rdp, "-o", whole)
    assert r.returncode == 0, r.stderr
    r = rdpflex("decompress", rdp, "-o", tiled, "--tile", 128, "--tile-overlap", 32)
    assert r.returncode == 0, r.stderr
    a = np.asarray(Image.open(whole / "wide.png"), dtype=np.float64)
    b = np.asarray(Image.open(tiled / "wide.png"), dtype=np.float64)
    assert a.shape == b.shape == (160, 288, 3)
    x = np.asarray(Image.open(tmp_path / "wide.png"), dtype=np.float64)
    psnr = lambda y: 10 * np.log10(255**2 / np.mean((x - y) ** 2))  # noqa: E731
    assert not np.array_equal(a, b)  # it was tiled
    assert psnr(b) > psnr(a) - 1.5, (psnr(a), psnr(b))  # and is as faithful: tiles see less context at the seams
