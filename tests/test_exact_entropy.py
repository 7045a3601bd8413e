"""The exact entropy-parameter path end to end: files, checksums, mismatch detection, batched decoding.

The fixed-point interpreter itself is tested in ``tests/codecs/test_exact.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from rdpflex import cli
from rdpflex.bitstream import dumps, loads, read_rdp, write_rdp
from rdpflex.codecs.exact import ExactNetworks
from rdpflex.errors import EntropyMismatchError
from rdpflex.images import load_image
from rdpflex.pipeline import compress_images, decode_images, latents
from rdpflex.system import System

# ------------------------------------------------------------------------- codecs end to end


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    Image.fromarray(np.asarray(data.astronaut()[40:168, 120:248])).save(path)
    return path


@pytest.mark.parametrize("arch", ["msh", "elic"])
def test_exact_round_trip_reproduces_the_encoder_latent(arch, photo):
    system = System.tiny(arch, seed=2)
    enc = compress_images([photo], system, estimate=False)
    assert enc.rdp.exact and enc.rdp.images[0].symbols_crc is not None
    out = system.codec.compress(system.codec.pad(load_image(photo)))
    assert enc.rdp.images[0].streams == [s[0] for s in out["strings"]]
    (lat,) = latents(loads(dumps(enc.rdp)), system)
    assert torch.equal(lat.y_hat, out["y_hat"])


def _perturb_hyper_synthesis(monkeypatch, latent_channels: int, delta: float = 1e-3) -> None:
    """Add ``delta`` to the hyper-synthesis output (2M channels: scales and means) on the exact path,
    as a machine computing other entropy parameters would. Patched on the class: it reaches the copy
    of the system that the command line loads too."""
    forward = ExactNetworks.__call__

    def perturbed(self, net, x):
        out = forward(self, net, x)
        return out + delta if out.shape[1] == 2 * latent_channels else out

    monkeypatch.setattr(ExactNetworks, "__call__", perturbed)


def test_perturbed_entropy_parameters_are_detected(photo, monkeypatch):
    system = System.load(None)  # the bundled, trained system
    rdp = compress_images([photo], system, estimate=False).rdp
    _perturb_hyper_synthesis(monkeypatch, system.codec.latent_channels)
    with pytest.raises(EntropyMismatchError, match="entropy parameters were computed differently"):
        list(latents(rdp, system))


def test_cli_refuses_a_mismatch_and_writes_nothing(photo, tmp_path, monkeypatch, capsys):
    rdp_path, out = tmp_path / "a.rdp", tmp_path / "out"
    system = System.load(None)
    write_rdp(
        rdp_path,
        compress_images([("first", load_image(photo)), ("second", load_image(photo))], system, estimate=False).rdp,
    )
    _perturb_hyper_synthesis(monkeypatch, system.codec.latent_channels)
    with pytest.raises(SystemExit) as ei:
        cli.main(["decompress", str(rdp_path), "-o", str(out)])
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith("error: ")
        and "decoded symbols differ" in err[0]
        and "thread count" in err[0]
    )
    assert not out.exists() or not any(out.iterdir())


def test_flipped_symbol_checksum_is_refused(photo, tmp_path):
    system = System.load(None)
    rdp = compress_images([photo], system, estimate=False).rdp
    rdp.images[0].symbols_crc ^= 0x01000000  # a valid file (record CRC recomputed) with another checksum
    path = tmp_path / "flipped.rdp"
    write_rdp(path, rdp)
    with pytest.raises(EntropyMismatchError, match="decoded symbols differ"):
        list(decode_images(read_rdp(path), system))


def test_every_latent_is_checked_before_the_first_png_is_written(photo, tmp_path, capsys):
    """Only the last image's checksum is wrong: a decompress that wrote images one by one would leave the first
    two behind; the strict default writes none and names the third."""
    system = System.load(None)
    x = load_image(photo)
    rdp = compress_images([("first", x), ("second", x), ("third", x)], system, estimate=False).rdp
    rdp.images[2].symbols_crc ^= 0x00010000  # a valid file (record CRC recomputed) whose last image fails
    path, out = tmp_path / "last-bad.rdp", tmp_path / "out"
    write_rdp(path, rdp)
    with pytest.raises(SystemExit) as ei:
        cli.main(["decompress", str(path), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert ei.value.code == 2 and "\n" not in err and "image 2 ('third')" in err
    assert not out.exists() or not list(out.glob("*.png"))


@pytest.mark.parametrize("arch", ["msh", "elic"])
def test_batched_entropy_decode_equals_image_by_image(arch, monkeypatch):
    """Same-size neighbours share one latent-codec call on the exact path; each latent and symbol CRC is
    the one decoded alone, and the file's order is kept around a differently sized image."""
    import rdpflex.pipeline as pipeline

    system = System.tiny(arch, seed=2)
    photo = np.asarray(data.astronaut())
    crops = [photo[r : r + 64, c : c + 64] for r, c in ((0, 0), (100, 40), (200, 300))]
    crops.insert(2, photo[:128, :64])  # another padded size between same-size images
    rdp = compress_images(
        [(f"im{k}", torch.from_numpy(c.copy()).permute(2, 0, 1)[None] / 255.0) for k, c in enumerate(crops)],
        system,
        estimate=False,
    ).rdp
    one_by_one = [
        system.codec.decompress_latent(list(im.streams), tuple(im.padded_size), True, im.symbols_crc)
        for im in rdp.images
    ]
    calls = []
    batched = system.codec.decompress_latents
    monkeypatch.setattr(system.codec, "decompress_latents", lambda *a: calls.append(len(a[0])) or batched(*a))
    lats = list(latents(rdp, system))
    assert calls == [2, 1, 1] and [lat.stem for lat in lats] == ["im0", "im1", "im2", "im3"]
    assert all(torch.equal(lat.y_hat, y) for lat, y in zip(lats, one_by_one))
    monkeypatch.setattr(pipeline, "ENTROPY_BATCH", 1)  # never batched: the same latents
    assert all(torch.equal(a.y_hat, b.y_hat) for a, b in zip(latents(rdp, system), lats))


def test_batched_decode_error_names_its_image(photo):
    system = System.load(None)
    x = load_image(photo)
    rdp = compress_images([("first", x), ("second", x), ("third", x)], system, estimate=False).rdp
    rdp.images[1].symbols_crc ^= 0x00010000
    with pytest.raises(EntropyMismatchError, match=r"^image 1 \('second'\): decoded symbols differ"):
        list(latents(rdp, system))


def test_raster_scan_and_float_files_are_decoded_image_by_image(photo, monkeypatch):
    system = System.tiny("msh", seed=2)
    x = load_image(photo)
    rdp = compress_images([("a", x), ("b", x)], system, estimate=False, exact=False).rdp
    assert system.codec.batch_entropy_decodable and not rdp.exact
    one_at_a_time = system.codec.decompress_latents
    monkeypatch.setattr(
        system.codec,
        "decompress_latents",
        lambda streams, *a: one_at_a_time(streams, *a) if len(streams) == 1 else pytest.fail("float path batched"),
    )
    assert [lat.stem for lat in latents(rdp, system)] == ["a", "b"]


def test_version_1_file_still_decodes():
    """A file written by rdpflex 0.1 (format version 1, float entropy path, no checksums)."""
    from pathlib import Path

    here = Path(__file__).parent / "data"
    rdp = read_rdp(here / "v1-astronaut-crop.rdp")
    assert rdp.version == 1 and not rdp.exact
    system = System.load(None)
    ((stem, x_hat),) = decode_images(rdp, system)
    x = load_image(here / "v1-astronaut-crop.png")
    mse = float(((x_hat - x) ** 2).mean())
    assert stem == "v1-astronaut-crop" and 10 * math.log10(1 / mse) > 20


def test_cli_notes_a_version_1_file(tmp_path, capsys):
    from pathlib import Path

    src = Path(__file__).parent / "data" / "v1-astronaut-crop.rdp"
    cli.main(["decompress", str(src), "-o", str(tmp_path / "out")])
    assert "version-1 .rdp" in capsys.readouterr().err
    assert (tmp_path / "out" / "v1-astronaut-crop.png").is_file()


def test_float_path_still_detects_and_rate_cost_is_small(photo):
    system = System.load(None)
    exact_rdp = compress_images([photo], system, estimate=False).rdp
    float_rdp = compress_images([photo], system, estimate=False, exact=False).rdp
    assert not float_rdp.exact
    (lat,) = latents(loads(dumps(float_rdp)), system)  # same process: the float path decodes too
    assert lat.y_hat.shape[1] == system.codec.latent_channels
    assert abs(exact_rdp.num_bytes() / float_rdp.num_bytes() - 1) < 0.02
