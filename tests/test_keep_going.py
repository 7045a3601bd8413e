"""A damaged file loses only what is damaged: ``decompress --keep-going`` and ``decode_images(keep_going=True)``.

A three-image file whose middle record fails its CRC: the strict default writes nothing; ``--keep-going`` writes
the two intact images, byte-identical to a clean decode, names the third in one error line and exits 2.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from rdpflex.bitstream import RdpFile, dumps, loads, read_rdp, salvage
from rdpflex.cli import main
from rdpflex.errors import BitstreamError, DamagedImagesError
from rdpflex.pipeline import compress_images, decode_images, save_images, to_uint8
from rdpflex.system import System

from .conftest import smooth_image

STEMS = ("a", "b", "c")


def run(capsys, *args) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def record_end(rdp: RdpFile, k: int) -> int:
    """Byte offset where record ``k`` (1-based) ends: the size of the file holding the first ``k`` images."""
    return len(dumps(RdpFile(rdp.fingerprint, rdp.images[:k], rdp.arch, rdp.exact, rdp.version)))


def three_images(system: System, folder: Path) -> tuple[Path, Path]:
    """``clean.rdp`` (images a, b, c) and ``damaged.rdp``: one payload byte of b flipped (its record CRC fails)."""
    pairs = [(s, torch.from_numpy(smooth_image(40, 56, i)).permute(2, 0, 1)[None] / 255) for i, s in enumerate(STEMS)]
    rdp = compress_images(pairs, system, estimate=False).rdp
    data = bytearray(dumps(rdp))
    (folder / "clean.rdp").write_bytes(data)
    data[record_end(rdp, 2) - 9] ^= 0x10  # the last stream byte of b (before its symbol CRC and record CRC)
    (folder / "damaged.rdp").write_bytes(data)
    return folder / "clean.rdp", folder / "damaged.rdp"


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_system_dir):
    d = tmp_path_factory.mktemp("keep-going")
    clean, damaged = three_images(System.load(tiny_system_dir), d)
    return clean, damaged


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_strict_decode_of_a_damaged_file_writes_nothing(files, tiny_system_dir, tmp_path, capsys):
    _, damaged = files
    code, err = run(capsys, "decompress", damaged, "-o", tmp_path / "out", "--system", tiny_system_dir)
    assert code == 2 and "Traceback" not in err
    assert re.fullmatch(r"error: .*damaged\.rdp': CRC mismatch in image 2 \('b'\): file is corrupted", err.strip())
    assert not (tmp_path / "out").exists()


def test_keep_going_writes_the_intact_images_and_names_the_damaged_one(files, tiny_system_dir, tmp_path, capsys):
    clean, damaged = files
    assert run(capsys, "decompress", clean, "-o", tmp_path / "clean", "--system", tiny_system_dir)[0] == 0
    code, err = run(capsys, "decompress", damaged, "-o", tmp_path / "out", "--system", tiny_system_dir, "--keep-going")
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and "Traceback" not in err
    assert len(errors) == 1 and re.fullmatch(r"error: .*damaged\.rdp: CRC mismatch in image 2 \('b'\).*", errors[0])
    reference = pngs(tmp_path / "clean")
    assert pngs(tmp_path / "out") == {k: v for k, v in reference.items() if k != "b.png"}  # byte-identical PNGs
    assert sorted(pngs(tmp_path / "out")) == ["a.png", "c.png"]


def test_keep_going_on_an_intact_file_is_a_clean_decode(files, tiny_system_dir, tmp_path, capsys):
    clean, _ = files
    run(capsys, "decompress", clean, "-o", tmp_path / "strict", "--system", tiny_system_dir)
    code, err = run(capsys, "decompress", clean, "-o", tmp_path / "kg", "--system", tiny_system_dir, "--keep-going")
    assert code == 0 and "error" not in err
    assert pngs(tmp_path / "kg") == pngs(tmp_path / "strict") and len(pngs(tmp_path / "kg")) == 3


def test_damaged_framing_loses_the_rest_only(files, tiny_system_dir, tmp_path, capsys):
    """A truncated file keeps the images before the cut; each lost one gets its own error line."""
    clean, _ = files
    rdp = read_rdp(clean)
    cut = tmp_path / "cut.rdp"
    cut.write_bytes(clean.read_bytes()[: record_end(rdp, 1) + 5])
    code, err = run(capsys, "decompress", cut, "-o", tmp_path / "out", "--system", tiny_system_dir, "--keep-going")
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(errors) == 2, err
    assert "truncated file" in errors[0] and "image 3" in errors[1]
    assert sorted(pngs(tmp_path / "out")) == ["a.png"]


def test_a_damaged_header_is_still_refused_whole(files, tiny_system_dir, tmp_path, capsys):
    clean, _ = files
    data = bytearray(clean.read_bytes())
    data[10] ^= 1  # inside the fingerprint: the header CRC fails
    bad = tmp_path / "header.rdp"
    bad.write_bytes(data)
    code, err = run(capsys, "decompress", bad, "-o", tmp_path / "out", "--system", tiny_system_dir, "--keep-going")
    assert code == 2 and re.fullmatch(r"error: .*CRC mismatch in header: file is corrupted", err.strip())
    assert not (tmp_path / "out").exists()


def test_python_api_keep_going_yields_intact_images_then_raises(files, tiny_system_dir, tmp_path):
    clean, damaged = files
    system = System.load(tiny_system_dir)
    with pytest.raises(BitstreamError, match="CRC mismatch in image 2"):
        decode_images(damaged, system)  # strict: refused before anything is yielded
    reference = dict(decode_images(clean, system))
    got: dict[str, torch.Tensor] = {}
    with pytest.raises(DamagedImagesError) as err:
        for stem, x in decode_images(damaged, system, keep_going=True):
            got[stem] = x
    # the same 8-bit pixels (the float values may differ in the last bits: a batch of two instead of three)
    assert sorted(got) == ["a", "c"] and all((to_uint8(got[s]) == to_uint8(reference[s])).all() for s in got)
    assert len(err.value.lines) == 1 and "('b')" in err.value.lines[0]
    with pytest.raises(DamagedImagesError):
        save_images(decode_images(damaged, system, keep_going=True), tmp_path / "api")
    assert sorted(p.name for p in (tmp_path / "api").iterdir()) == ["a.png", "c.png"]


def test_stochastic_images_keep_their_seed_when_a_neighbour_is_lost(tmp_path):
    """Image i is sampled with seed + i: a lost image 2 must not shift the seed of image 3."""
    system = System.load(None)
    clean, damaged = three_images(system, tmp_path)
    opts = {"steps": 1}
    reference = dict(decode_images(clean, system, "cdiff", opts, seed=5, batch_size=1))
    got = {}
    with pytest.raises(DamagedImagesError):
        for stem, x in decode_images(damaged, system, "cdiff", opts, seed=5, batch_size=1, keep_going=True):
            got[stem] = x
    assert sorted(got) == ["a", "c"] and all(torch.equal(got[s], reference[s]) for s in got)


def test_salvage_of_an_intact_file_equals_loads(files):
    clean, _ = files
    data = clean.read_bytes()
    s = salvage(data)
    assert s.rdp == loads(data) and s.positions == [0, 1, 2] and s.damaged == []
