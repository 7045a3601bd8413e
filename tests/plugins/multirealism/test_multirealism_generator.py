"""The beta-conditional generator G(y_hat, beta) (Agustsson et al. 2023, arXiv:2212.13824, Sec. 3.2,
Fig. 5) and HiFiC's D."""

import pytest
import torch
from torch.nn.utils import parametrize

from rdpflex.errors import RdpflexError
from rdpflex.system import System
from rdpflex_plugins.multirealism.discriminator import ConditionalPatchDiscriminator
from rdpflex_plugins.multirealism.generator import (
    ConditionalResidualBottleneck,
    MultiRealismGenerator,
    build_generator,
    build_generator_for,
)

SMALL = {"N": 16, "blocks": 1, "cond_hidden": 32, "table_bins": 16}
BETAS = [0.0, 0.7, 2.56, 5.12]


_CODECS = {}


def _latent(arch, seed=0, size=64, batch=1):
    """The tiny codec of ``arch`` and a rounded random latent for a (size x size) image."""
    if arch not in _CODECS:
        _CODECS[arch] = System.tiny(arch).codec
    codec = _CODECS[arch]
    torch.manual_seed(seed)
    C, h, w = codec.latent_shape((size, size))
    return codec, (3 * torch.randn(batch, C, h, w)).round()


@pytest.mark.parametrize("arch", ["elic", "msh"])
@pytest.mark.parametrize("cond", ["fourier", "table", "none"])
def test_output_shape_matches_codec_synthesis(arch, cond):
    codec, y_hat = _latent(arch, size=64, batch=2)
    g = build_generator_for(codec, cond=cond, **SMALL).eval()
    with torch.no_grad():
        ref = codec.synthesize(y_hat)
    with torch.no_grad():
        for beta in BETAS:
            assert g(y_hat, beta).shape == ref.shape == (2, 3, 64, 64)
        assert g(y_hat, torch.tensor([0.0, 3.0])).shape == ref.shape


def test_elic_layout_mirrors_elic_synthesis():
    g = build_generator("elic", 20, N=16, blocks=2, cond="fourier", cond_hidden=8)
    crbs = [m for m in g.body if isinstance(m, ConditionalResidualBottleneck)]
    assert len(crbs) == 3 * 2
    names = [type(m).__name__ for m in g.body]
    assert names[0] == "AttentionBlock" and names.count("AttentionBlock") == 2 and names.count("ConvTranspose2d") == 4
    # each conv of each RB has its own projection to its channels (Fig. 5)
    assert [o.channels for o in crbs[0].offsets()] == [8, 8, 16]
    assert len(g.conditional_offsets()) == 3 * 6


def test_gdn_layout_inserts_blocks_at_each_scale():
    g = build_generator("msh", 12, N=16, blocks=1, cond="table")
    names = [type(m).__name__ for m in g.body]
    assert names == ["ConvTranspose2d", "GDN", "ConditionalResidualBottleneck"] * 3 + ["ConvTranspose2d"]


@pytest.mark.parametrize("arch", ["elic", "msh"])
@pytest.mark.parametrize("cond", ["fourier", "table"])
def test_beta_changes_output_and_is_deterministic(arch, cond):
    codec, y_hat = _latent(arch)
    torch.manual_seed(0)
    g = build_generator_for(codec, cond=cond, **SMALL).eval()
    with torch.no_grad():
        a, b, a2 = g(y_hat, 0.0), g(y_hat, 2.56), g(y_hat, 0.0)
    assert not torch.allclose(a, b)
    assert torch.equal(a, a2)


def test_unconditional_generator_ignores_beta():
    codec, y_hat = _latent("elic")
    g = build_generator_for(codec, cond="none", **SMALL).eval()
    with torch.no_grad():
        assert torch.equal(g(y_hat, 0.0), g(y_hat, 2.56))
    assert not [p for o in g.conditional_offsets() for p in o.parameters()]  # no conditioning weights


def test_per_example_beta_matches_single_calls():
    codec, y_hat = _latent("msh", batch=2)
    g = build_generator_for(codec, cond="fourier", **SMALL).eval()
    with torch.no_grad():
        both = g(y_hat, torch.tensor([0.5, 2.0]))
        torch.testing.assert_close(both[:1], g(y_hat[:1], 0.5))
        torch.testing.assert_close(both[1:], g(y_hat[1:], 2.0))


@pytest.mark.parametrize("cond", ["fourier", "table"])
def test_precompute_equals_direct_and_is_used(cond, monkeypatch):
    codec, y_hat = _latent("elic")
    g = build_generator_for(codec, cond=cond, **SMALL).eval()
    with torch.no_grad():
        direct = g(y_hat, 1.28)
        g.precompute(1.28)
        calls = []
        orig = g.embedding.forward
        monkeypatch.setattr(g.embedding, "forward", lambda b: calls.append(b) or orig(b))
        cached = g(y_hat, 1.28)
        assert calls == []  # the precomputed offsets were used
        assert torch.equal(cached, direct)
        g(y_hat, 0.5)
        assert len(calls) == 1  # other betas are computed directly
    g.train()
    assert not g._cache  # training invalidates the cache


def test_gradients_reach_conditioning_and_latent():
    codec, y_hat = _latent("elic")
    g = build_generator_for(codec, cond="fourier", **SMALL)
    y_hat = y_hat.clone().requires_grad_(True)
    g(y_hat, torch.tensor([1.0])).square().mean().backward()
    assert y_hat.grad.abs().sum() > 0
    assert g.embedding.mlp[0].weight.grad.abs().sum() > 0
    assert all(o.proj.weight.grad.abs().sum() > 0 for o in g.conditional_offsets())


def test_config_round_trip_and_stride_check():
    g = build_generator("elic", 20, cond="table", **SMALL)
    g2 = MultiRealismGenerator(**g.config)
    assert g2.config == g.config
    assert {k: v.shape for k, v in g2.state_dict().items()} == {k: v.shape for k, v in g.state_dict().items()}

    class Odd:
        arch, latent_channels, latent_stride = "msh", 12, 8

    with pytest.raises(RdpflexError, match="stride"):
        build_generator_for(Odd())


def test_discriminator_shapes_spectral_norm_and_stop_gradient():
    torch.manual_seed(0)
    d = ConditionalPatchDiscriminator(20, channels=(8, 16, 16, 32))
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 4 + 1
    assert all(parametrize.is_parametrized(c, "weight") for c in convs)
    assert d.latent_conv.out_channels == 12
    y_hat = torch.randn(2, 20, 4, 4, requires_grad=True)
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    logits = d(y_hat, x)
    assert logits.shape == (2, 1, 8, 8)  # three stride-2 convs, then stride 1
    logits.sum().backward()
    assert y_hat.grad is None  # y_hat is detached inside D (HiFiC)
    assert x.grad.abs().sum() > 0
    # paper widths
    big = ConditionalPatchDiscriminator(20)
    assert [c.out_channels for c in big.modules() if isinstance(c, torch.nn.Conv2d)] == [12, 64, 128, 256, 512, 1]
