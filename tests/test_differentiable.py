"""The codec's differentiable path: Q_STE on the file's grid reproduces the file's latent, gradients reach x."""

import pytest
import torch

from rdpflex.differentiable import DifferentiableCodec
from rdpflex.errors import RdpflexError
from rdpflex.latent import Latent
from rdpflex.pipeline import compress_images, latents
from rdpflex.system import System
from tests.conftest import smooth_image


@pytest.mark.parametrize("arch", ["msh", "elic"])
def test_reencoding_the_original_reproduces_the_file_latent(arch):
    system = System.tiny(arch, seed=0)
    x = torch.from_numpy(smooth_image(64, 64, 3)).permute(2, 0, 1)[None].float() / 255
    rdp = compress_images([("img", x)], system).rdp
    (lat,) = latents(rdp, system)
    path = DifferentiableCodec(system.codec, lat)
    xp = system.codec.pad(x).requires_grad_(True)
    y_hat = path.latent_of(xp)
    assert torch.allclose(y_hat, lat.y_hat, atol=1e-4)  # same grid as the entropy decoder used
    path.reencode(xp).square().mean().backward()
    assert xp.grad is not None and xp.grad.abs().sum() > 0  # straight-through: gradients reach the image


def test_grid_comes_from_the_file_not_the_candidate():
    system = System.tiny("msh", seed=0)
    x = torch.rand(1, 3, 64, 64)
    (lat,) = latents(compress_images([("img", x)], system).rdp, system)
    path = DifferentiableCodec(system.codec, lat)
    other = torch.rand(1, 3, 64, 64)
    q = path.latent_of(other)
    # every element lies on the file's grid: q - means - refine is an integer
    frac = q - path.grid.means - path.grid.refine
    assert torch.allclose(frac, frac.round(), atol=1e-4)


def test_a_latent_without_streams_is_refused():
    system = System.tiny("msh", seed=0)
    lat = Latent(torch.zeros(1, system.codec.latent_channels, 4, 4), (64, 64), (64, 64))
    with pytest.raises(RdpflexError, match="carries no streams"):
        DifferentiableCodec(system.codec, lat)
