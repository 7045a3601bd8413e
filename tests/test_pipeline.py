"""Round trip: compress -> file -> decompress gives exactly the in-memory latent, for several sizes in one file."""

import pytest
import torch

from rdpflex.bitstream import read_rdp, write_rdp
from rdpflex.errors import BitstreamError, FingerprintMismatchError, ImageError
from rdpflex.images import load_image
from rdpflex.pipeline import check_unique_stems, compress_images, decode_images, encode_image, latents, psnr
from rdpflex.system import System


@pytest.mark.parametrize("arch", ["msh", "elic"])
def test_file_latents_equal_in_memory_latents(arch, image_paths, tmp_path):
    system = System.tiny(arch)
    enc = compress_images(image_paths, system)
    path = tmp_path / "set.rdp"
    nbytes = write_rdp(path, enc.rdp)
    assert nbytes == path.stat().st_size == enc.rdp.num_bytes()
    rdp = read_rdp(path)
    assert [im.stem for im in rdp.images] == [p.stem for p in image_paths]
    for lat, p in zip(latents(rdp, system), image_paths):
        x = load_image(p)
        _, _, y_hat_mem = encode_image(x, system, p.stem)
        assert lat.image_size == tuple(x.shape[-2:])
        assert torch.equal(lat.y_hat, y_hat_mem)
        # the mse decoder's output equals the in-memory synthesis, cropped to the original size
    decoded = dict(decode_images(rdp, system, "mse"))
    for p in image_paths:
        x = load_image(p)
        _, _, y_hat = encode_image(x, system, p.stem)
        ref = system.codec.synthesize(y_hat).clamp(0, 1)[..., : x.shape[-2], : x.shape[-1]]
        assert torch.equal(decoded[p.stem], ref)
    assert 0 < enc.file_bpp(nbytes) and all(b > 0 for b in enc.estimated_bits)


def test_fingerprint_mismatch_names_both(image_paths, tiny_system_dir, other_system_dir):
    a, b = System.load(tiny_system_dir), System.load(other_system_dir)
    rdp = compress_images(image_paths[:1], a).rdp
    with pytest.raises(FingerprintMismatchError) as err:
        list(latents(rdp, b))
    msg = str(err.value)
    assert a.fingerprint[:16] in msg and b.fingerprint[:16] in msg and "\n" not in msg


def test_duplicate_stems_refused(image_paths):
    system = System.tiny()
    stem = image_paths[0].stem
    with pytest.raises(BitstreamError) as err:  # `rdpflex compress` prints this line: no file named
        compress_images([image_paths[0], image_paths[0]], system)
    assert str(err.value) == f"two images share the stem {stem!r}; their outputs would overwrite each other"
    with pytest.raises(BitstreamError) as err:  # decoding names the file
        check_unique_stems(["a", "b", "a"], "set.rdp")
    assert str(err.value) == "set.rdp: two images share the stem 'a'; their outputs would overwrite each other"
    check_unique_stems(["a", "b"])


def test_too_small_image_refused():
    with pytest.raises(ImageError, match="from 8x8"):
        compress_images([("dot", torch.rand(1, 3, 4, 30))], System.tiny())


def test_trained_quality_helper():
    x = torch.rand(1, 3, 8, 8)
    assert psnr(x, x) == float("inf")
    assert 0 < psnr(x, x.flip(-1)) < 30
