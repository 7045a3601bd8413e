"""FourierCond / TableCond (Agustsson et al. 2023, arXiv:2212.13824, Sec. 3.3, Fig. 5)."""

import math

import pytest
import torch

from rdpflex_plugins.multirealism.conditioning import (
    FourierCond,
    NoCond,
    TableCond,
    as_beta,
    build_embedding,
    fourier_features,
)


def test_fourier_features_are_nerf_encoding_plus_beta():
    beta = torch.tensor([0.25, 1.5])
    f = fourier_features(beta)
    assert f.shape == (2, 21)
    b = 0.25
    expected = [b]
    for k in range(10):
        expected += [math.sin(2**k * math.pi * b), math.cos(2**k * math.pi * b)]
    torch.testing.assert_close(f[0], torch.tensor(expected), atol=1e-4, rtol=0)  # float32 at 2^9 pi


def test_fourier_cond_paper_sizes_and_differentiable():
    torch.manual_seed(0)
    emb = FourierCond()  # paper: L=10 (21 dims) -> 512 -> 512
    assert emb.mlp[0].in_features == 21 and emb.mlp[0].out_features == 512 and emb.mlp[2].out_features == 512
    off = emb.make_offset(7)
    assert off.proj.bias is None and off.proj.weight.shape == (7, 512)
    x = torch.randn(2, 7, 3, 3)
    y = off(x, emb(torch.tensor([0.3, 2.0])))
    assert y.shape == x.shape
    # additive per-channel offset, broadcast over H, W
    d = y - x
    torch.testing.assert_close(d, d[:, :, :1, :1].expand_as(d))
    y.square().sum().backward()
    assert emb.mlp[0].weight.grad.abs().sum() > 0 and emb.mlp[2].weight.grad.abs().sum() > 0
    assert off.proj.weight.grad.abs().sum() > 0
    # different betas give different offsets, equal betas equal ones
    f = emb(torch.tensor([0.0, 1.0, 1.0]))
    _, shift = off.params(f)
    assert not torch.allclose(shift[0], shift[1])
    torch.testing.assert_close(shift[1], shift[2])


def test_table_cond_interpolates_between_bins():
    emb = TableCond(bins=5, beta_train_max=4.0)  # rows at beta 0, 1, 2, 3, 4
    w = emb(torch.tensor([0.0, 1.0, 2.5, 4.0, 7.0, -1.0]))
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0],
            [0, 1, 0, 0, 0],
            [0, 0, 0.5, 0.5, 0],
            [0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1],
            [1, 0, 0, 0, 0],
        ],
        dtype=torch.float32,
    )
    torch.testing.assert_close(w, expected)
    off = emb.make_offset(3)
    scale, bias = off.params(w)
    torch.testing.assert_close(scale[2, :, 0, 0], 0.5 * (off.scale[2] + off.scale[3]))
    torch.testing.assert_close(bias[1, :, 0, 0], off.bias[1])


def test_table_cond_differentiable_and_beta_dependent():
    torch.manual_seed(0)
    emb = TableCond(bins=64)
    off = emb.make_offset(4)
    x = torch.randn(1, 4, 2, 2)
    y0, y1 = off(x, emb(torch.tensor([0.5]))), off(x, emb(torch.tensor([2.0])))
    assert not torch.allclose(y0, y1)  # near-identity init with a small perturbation
    y1.sum().backward()
    rows = (off.scale.grad.abs().sum(1) > 0).nonzero().flatten().tolist()
    assert rows and all(abs(r - 2.0 / 5.12 * 63) <= 1 for r in rows)  # only the two neighbouring rows
    assert off.bias.grad.abs().sum() > 0


def test_no_cond_is_identity():
    emb = NoCond()
    off = emb.make_offset(3)
    x = torch.randn(1, 3, 2, 2)
    assert torch.equal(off(x, emb(torch.tensor([1.0]))), x)


def test_build_embedding_and_beta_shapes():
    assert isinstance(build_embedding("fourier", cond_hidden=8), FourierCond)
    assert isinstance(build_embedding("table"), TableCond)
    with pytest.raises(ValueError, match="fourier, table, none"):
        build_embedding("film")
    assert as_beta(1.0).shape == (1,)
    with pytest.raises(ValueError):
        as_beta(torch.zeros(3), batch=2)


def test_anchored_features_vanish_at_beta_zero_only():
    torch.manual_seed(0)
    emb = FourierCond(hidden=16, scale=1 / 5.12, activation="silu", anchor=True)
    f = emb(torch.tensor([0.0, 0.5, 2.56]))
    assert torch.equal(f[0], torch.zeros(16))
    assert f[1].abs().max() > 1e-3 and f[2].abs().max() > 1e-3
    unanchored = FourierCond(hidden=16, scale=1 / 5.12, activation="silu")
    unanchored.load_state_dict(emb.state_dict())
    torch.testing.assert_close(f, unanchored(torch.tensor([0.0, 0.5, 2.56])) - unanchored(torch.zeros(1)))


def test_gain_offset_scales_and_shifts_and_is_the_identity_at_beta_zero_when_anchored():
    torch.manual_seed(0)
    emb = FourierCond(hidden=16, anchor=True, gain=True)
    off = emb.make_offset(5)
    assert off.gain is not None and off.gain.bias is None and off.gain.weight.shape == (5, 16)
    torch.nn.init.normal_(off.proj.weight)
    torch.nn.init.normal_(off.gain.weight)
    x = torch.randn(2, 5, 3, 3)
    y = off(x, emb(torch.tensor([0.0, 2.0])))
    assert torch.equal(y[0], x[0])  # scale exactly 1, shift exactly 0
    scale, shift = off.params(emb(torch.tensor([2.0])))
    assert scale is not None and shift is not None
    torch.testing.assert_close(y[1:], x[1:] * scale + shift)
    assert (scale - 1).abs().max() > 1e-3  # a per-channel gain, not only a shift
    assert FourierCond(hidden=16).make_offset(5).gain is None  # the paper's offset: additive only
