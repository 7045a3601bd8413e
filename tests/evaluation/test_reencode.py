"""Re-encoding consistency: the original re-encodes to its own file; other outputs to less of it."""

from __future__ import annotations

import torch

from rdpflex.evaluation.reencode import reencode
from rdpflex.images import load_image
from rdpflex.pipeline import compress_images, decode_images, latents
from rdpflex.system import System


def test_the_original_re_encodes_to_the_same_bitstream(image_paths):
    system = System.load(None)
    rdp = compress_images(image_paths, system, estimate=False).rdp
    for path, lat, record in zip(image_paths, latents(rdp, system), rdp.images):
        re = reencode(load_image(path), lat, record, system.codec, rdp.exact)
        assert re.latent_agreement == 1.0 and re.bitstream_identical and re.mse_psnr == float("inf")


def test_mse_output_agrees_partly_and_noise_hardly():
    from skimage import data

    system = System.load(None)
    x = torch.from_numpy(data.astronaut()[64:192, 160:288].copy()).permute(2, 0, 1)[None].float() / 255
    rdp = compress_images([("astronaut", x)], system, estimate=False).rdp
    (lat,) = latents(rdp, system)
    ((_, x_mse),) = decode_images(rdp, system, "mse")
    re = reencode(x_mse, lat, rdp.images[0], system.codec, rdp.exact)
    noise = reencode(
        torch.rand(x_mse.shape, generator=torch.Generator().manual_seed(0)), lat, rdp.images[0], system.codec, rdp.exact
    )
    assert 0.0 <= noise.latent_agreement < re.latent_agreement <= 1.0
    assert noise.mse_psnr < re.mse_psnr and not noise.bitstream_identical
