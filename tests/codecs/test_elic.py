"""rdpflex.codecs.elic: ELIC transforms (He et al., "ELIC: Efficient Learned Image Compression with Unevenly
Grouped Space-Channel Contextual Adaptive Coding", arXiv:2203.10886) with a hyperprior and Charm slices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rdpflex.codecs import TINY
from rdpflex.codecs.charm import ChannelSlicesLatentCodec
from rdpflex.codecs.elic import ElicCharm, elic_analysis, elic_synthesis
from rdpflex.registry import build_codec

from . import tiny_codec

N, M = 16, 20


def test_elic_charm_has_ten_equal_slices():
    codec = build_codec("elic", N=16, M=40, blocks=1, hidden=16)
    slices = codec.latent_codec["y"]
    assert slices.slices == 10 and slices.slice_ch == 4
    assert codec.num_streams == 11


def test_synthesis_mirrors_analysis_strides_and_channels():
    g_a, g_s = elic_analysis(N, M, blocks=1), elic_synthesis(N, M, blocks=1)
    convs = [m for m in g_a if isinstance(m, nn.Conv2d)]
    deconvs = [m for m in g_s if isinstance(m, nn.ConvTranspose2d)]
    assert [m.stride for m in convs] == [m.stride for m in deconvs] == [(2, 2)] * 4
    assert [(m.in_channels, m.out_channels) for m in convs] == [(3, N), (N, N), (N, N), (N, M)]
    assert [(m.out_channels, m.in_channels) for m in reversed(deconvs)] == [(3, N), (N, N), (N, N), (N, M)]
    assert ElicCharm.latent_stride == 2 ** len(convs)


@pytest.fixture(scope="module")
def elic():
    return tiny_codec("elic")


@pytest.mark.parametrize("hw", [(16, 48), (48, 80), (80, 16)])
def test_transforms_invert_shapes_at_multiples_of_the_stride(elic, hw):
    x = torch.rand(1, 3, *hw)
    with torch.no_grad():
        y = elic.g_a(x)
        assert y.shape == (1, elic.latent_channels, hw[0] // 16, hw[1] // 16)
        assert elic.g_s(y).shape == x.shape


@pytest.mark.parametrize("hw", [(1, 1), (37, 53), (65, 130)])
def test_awkward_sizes_pad_to_the_hyperprior_grid(elic, hw):
    """Any size pads to a multiple of 64 (y at 1/16, the hyper-latent z at 1/64 of the padded size)."""
    xp = elic.pad(torch.rand(1, 3, *hw))
    ph, pw = xp.shape[-2:]
    assert ph % 64 == pw % 64 == 0 and 0 <= ph - hw[0] < 64 and 0 <= pw - hw[1] < 64
    with torch.no_grad():
        out = elic(xp)
    assert out["y_hat"].shape[1:] == elic.latent_shape((ph, pw))
    assert out["likelihoods"]["z"].shape == (1, TINY["elic"]["N"], ph // 64, pw // 64)
    assert out["x_hat"].shape == xp.shape


@pytest.mark.parametrize("exact", [True, False])
def test_round_trip_of_a_non_square_image(elic, exact):
    x = elic.pad(torch.rand(1, 3, 50, 150))
    assert x.shape[-2:] == (64, 192)
    out = elic.compress(x, exact=exact)
    streams = [s[0] for s in out["strings"]]
    assert len(streams) == TINY["elic"]["slices"] + 1
    y_hat = elic.decompress_latent(streams, (64, 192), exact, out["symbols_crc"])
    assert torch.equal(y_hat, out["y_hat"]) and y_hat.shape == (1, M, 4, 12)
    dec = elic.decompress(streams, (64, 192), exact)
    assert torch.equal(dec["y_hat"], y_hat) and dec["x_hat"].shape == x.shape
    assert 0 <= float(dec["x_hat"].min()) and float(dec["x_hat"].max()) <= 1


def test_entropy_model_is_a_hyperprior_over_charm_slices(elic):
    y_codec = elic.latent_codec.latent_codec["y"]
    assert isinstance(y_codec, ChannelSlicesLatentCodec) and y_codec.slices == 10 and y_codec.slice_ch == 2
    h_s_out = [m for m in elic.latent_codec.latent_codec["hyper"].h_s.modules() if isinstance(m, nn.Conv2d)][-1]
    assert h_s_out.out_channels == 2 * M  # the side parameters every slice network sees
    first = [m for m in y_codec.gc[0].entropy_parameters.modules() if isinstance(m, nn.Conv2d)][0]
    assert first.in_channels == 2 * M
    with pytest.raises(ValueError, match="not divisible"):
        ElicCharm(N=16, M=21, slices=10, blocks=1, hidden=16)
