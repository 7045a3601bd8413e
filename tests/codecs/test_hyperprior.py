"""rdpflex.codecs.hyperprior: the mean-scale hyperprior ``msh`` (Minnen, Ballé, Toderici, "Joint Autoregressive
and Hierarchical Priors for Learned Image Compression", arXiv:1809.02736, without the context model)."""

from __future__ import annotations

import pytest
import torch
from compressai.latent_codecs import GaussianConditionalLatentCodec
from torch import nn

from rdpflex.codecs import TINY
from rdpflex.codecs.hyperprior import MeanScaleHyperprior, hyper_analysis, hyper_synthesis

N, M = TINY["msh"]["N"], TINY["msh"]["M"]


@pytest.fixture(scope="module")
def msh():
    torch.manual_seed(0)
    codec = MeanScaleHyperprior(N, M).eval()
    codec.update(force=True)
    return codec


def test_hyper_transforms_go_from_y_to_z_and_back_to_twice_y():
    """h_a: M channels at 1/16 -> N at 1/64; h_s: back to 1/16 with 2M channels (scales and means)."""
    y = torch.randn(1, M, 8, 12)
    with torch.no_grad():
        z = hyper_analysis(N, M)(y)
        assert z.shape == (1, N, 2, 3)
        assert hyper_synthesis(N, M)(z).shape == (1, 2 * M, 8, 12)


def test_y_is_coded_with_predicted_means_and_scales(msh):
    y_codec = msh.latent_codec.latent_codec["y"]
    assert isinstance(y_codec, GaussianConditionalLatentCodec) and y_codec.chunks == ("scales", "means")
    assert msh.num_streams == 2 and msh.latent_channels == M and msh.config == {"N": N, "M": M}


def test_y_hat_is_an_integer_offset_from_the_predicted_means(msh):
    """y_hat = round(y - mu) + mu with mu = the means half of h_s(z_hat): not integers, integers after removing mu."""
    x = torch.rand(1, 3, 64, 128)
    out = msh.compress(x, exact=False)
    hyper = msh.latent_codec.latent_codec["hyper"]
    with torch.no_grad():
        params = hyper.decompress([out["strings"][1]], (1, 2))["params"]
    _, means = params.chunk(2, dim=1)
    offset = out["y_hat"] - means
    assert torch.allclose(offset, offset.round(), atol=1e-4)
    assert not torch.allclose(out["y_hat"], out["y_hat"].round(), atol=1e-3)


def test_four_stride_two_layers_each_way(msh):
    convs = [m for m in msh.g_a if isinstance(m, nn.Conv2d)]
    deconvs = [m for m in msh.g_s if isinstance(m, nn.ConvTranspose2d)]
    assert [m.stride for m in convs] == [m.stride for m in deconvs] == [(2, 2)] * 4
    assert (convs[0].in_channels, convs[-1].out_channels) == (3, M)
    assert (deconvs[0].in_channels, deconvs[-1].out_channels) == (M, 3)
    with torch.no_grad():
        out = msh(torch.rand(2, 3, 64, 192))
    assert out["likelihoods"]["y"].shape == (2, M, 4, 12) and out["likelihoods"]["z"].shape == (2, N, 1, 3)
