"""rdpflex.codecs.exact: the fixed-point interpreter that computes entropy parameters order-independently."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rdpflex.codecs import exact
from rdpflex.codecs.exact import (
    GRID_BITS,
    ExactPathError,
    exact_exp,
    exact_forward,
    exact_gelu,
    exact_tanh,
    exact_valid_conv,
)


def test_exact_nonlinearities_match_torch():
    x = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    assert torch.allclose(exact_exp(x.clamp(max=5)), torch.exp(x.clamp(max=5)), rtol=1e-14, atol=0)
    assert (exact_tanh(x) - torch.tanh(x)).abs().max() < 1e-14
    assert (exact_gelu(x) - nn.functional.gelu(x)).abs().max() < 2e-6  # A&S 7.1.26: |erf error| < 1.5e-7


def test_exact_nonlinearities_do_not_depend_on_layout():
    """Elementwise and correctly rounded: the same value whether computed alone, strided or in a big tensor."""
    x = torch.randn(4099, dtype=torch.float64) * 4
    for f in (exact_exp, exact_tanh, exact_gelu):
        whole = f(x)
        assert torch.equal(whole[1::3], f(x[1::3]))
        assert torch.equal(whole[17:18], f(x[17:18]))


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.ConvTranspose2d(24, 32, 5, stride=2, padding=2, output_padding=1),
        nn.LeakyReLU(),
        nn.Conv2d(32, 40, 3, padding=1),
        nn.GELU(),
        nn.Conv2d(40, 8, 1),
        nn.Tanh(),
    )


def test_exact_forward_is_independent_of_summation_order():
    """Split the input channels in two and add the halves: float32 changes, the exact path does not."""
    net, x = _net(), torch.randn(1, 24, 6, 7) * 3
    first = net[0]
    whole = exact_forward(first, x)
    w, _ = exact._quantised_weight(first.weight)
    with torch.no_grad():
        xs = exact.to_grid(x.double())
        bias = exact.to_grid(first.bias.double()).view(1, -1, 1, 1)
        halves = nn.functional.conv_transpose2d(xs[:, :12], w[:12], None, 2, 2, 1) + nn.functional.conv_transpose2d(
            xs[:, 12:], w[12:], None, 2, 2, 1
        )
    assert torch.equal(whole, exact.to_grid(halves + bias).float())


def test_exact_forward_is_independent_of_thread_count():
    net, x = _net(), torch.randn(2, 24, 16, 12) * 3
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = exact_forward(net, x)
        torch.set_num_threads(max(2, threads))
        many = exact_forward(net, x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)
    assert (one - net(x)).abs().max() < 1e-2  # the fixed-point network stays close to the float one


def test_exact_forward_refuses_what_it_cannot_do():
    with pytest.raises(ExactPathError, match="layer Sigmoid is not supported"):
        exact_forward(nn.Sequential(nn.Conv2d(2, 2, 1), nn.Sigmoid()), torch.zeros(1, 2, 2, 2))
    huge = nn.Conv2d(4, 4, 3)
    with pytest.raises(ExactPathError, match="exceed the exact float64 range"):
        exact_forward(huge, torch.full((1, 4, 5, 5), 1e9))


def test_exact_forward_results_lie_on_the_grid_and_leave_the_input_alone():
    net, x = _net(), torch.randn(1, 24, 5, 6) * 3
    before = x.clone()
    out = exact_forward(net, x).double()
    assert out.dtype == torch.float64 and torch.equal(x, before)
    units = out * 2**GRID_BITS
    assert torch.equal(units, units.round()) and units.abs().max() > 0


def test_cached_fixed_point_weights_follow_parameter_changes():
    """The per-layer cache of rounded weights is dropped when a parameter changes in place."""
    torch.manual_seed(1)
    conv, x = nn.Conv2d(3, 4, 3, padding=1), torch.randn(1, 3, 6, 6)
    first = exact_forward(conv, x)
    assert torch.equal(exact_forward(conv, x), first)
    with torch.no_grad():
        conv.weight.mul_(-1)
        conv.bias.zero_()
    fresh = nn.Conv2d(3, 4, 3, padding=1)
    fresh.load_state_dict(conv.state_dict())
    assert torch.equal(exact_forward(conv, x), exact_forward(fresh, x))
    assert not torch.equal(exact_forward(conv, x), first)


def test_exact_valid_conv_is_the_unpadded_convolution():
    """A raster-scan context crop: the layer's own weights, no padding, on the grid."""
    torch.manual_seed(2)
    padded, x = nn.Conv2d(3, 4, 5, padding=2), torch.randn(1, 3, 5, 5)
    unpadded = nn.Conv2d(3, 4, 5, padding=0)
    unpadded.load_state_dict(padded.state_dict())
    out = exact_valid_conv(padded, x)
    assert out.shape == (1, 4, 1, 1)
    assert torch.equal(out, exact_forward(unpadded, x))
    assert torch.allclose(out, unpadded(x), atol=1e-2)
