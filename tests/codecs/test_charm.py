"""rdpflex.codecs.charm: Charm channel slices (Minnen & Singh, "Channel-wise Autoregressive Entropy Models
for Learned Image Compression", arXiv:2007.08739) as a compressai latent codec."""

from __future__ import annotations

import pytest
import torch
from compressai.entropy_models import GaussianConditional
from compressai.models.base import get_scale_table
from torch import Tensor, nn

from rdpflex.codecs.charm import ChannelSlicesLatentCodec

M, SIDE, SLICES, HW = 12, 8, 4, (4, 5)


def _charm(lrp: bool = True, seed: int = 0) -> ChannelSlicesLatentCodec:
    torch.manual_seed(seed)
    lc = ChannelSlicesLatentCodec(M, side_channels=SIDE, slices=SLICES, hidden=8, lrp=lrp).eval()
    for m in lc.modules():
        if isinstance(m, GaussianConditional):
            m.update_scale_table(get_scale_table(), force=True)
    return lc


def _inputs(seed: int = 1) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, M, *HW, generator=g) * 3, torch.randn(1, SIDE, *HW, generator=g)


def _convs(net: nn.Module) -> list[nn.Conv2d]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def test_slice_count_and_widths():
    lc = _charm()
    c = M // SLICES
    assert lc.slices == SLICES and lc.slice_ch == c == 3 and len(lc.gc) == len(lc.lrp) == SLICES
    for k in range(SLICES):
        params = _convs(lc.gc[k].entropy_parameters)
        assert params[0].in_channels == SIDE + k * c and params[-1].out_channels == 2 * c  # (scales, means)
        refine = _convs(lc.lrp[k])
        assert refine[0].in_channels == SIDE + (k + 1) * c and refine[-1].out_channels == c
    with torch.no_grad():
        out = lc(*_inputs())
    assert out["y_hat"].shape == out["likelihoods"]["y"].shape == (1, M, *HW)
    with pytest.raises(ValueError, match="M=12 is not divisible into 5 equal slices"):
        ChannelSlicesLatentCodec(M, side_channels=SIDE, slices=5)


def _entropy_parameters(lc: ChannelSlicesLatentCodec, y: Tensor, side: Tensor) -> list[Tensor]:
    """Each slice's (scales, means) network output during a forward pass."""
    seen: list[Tensor] = []
    hooks = [lc.gc[k].entropy_parameters.register_forward_hook(lambda m, i, o: seen.append(o)) for k in range(SLICES)]
    try:
        with torch.no_grad():
            lc(y, side)
    finally:
        for h in hooks:
            h.remove()
    assert len(seen) == SLICES
    return seen


@pytest.mark.parametrize("changed", [1, 2])
def test_slice_parameters_depend_only_on_earlier_slices(changed):
    """Changing slice j's latent leaves the means and scales of slices 0..j alone and changes every later one."""
    lc = _charm()
    y, side = _inputs()
    other = y.clone()
    other[:, changed * lc.slice_ch : (changed + 1) * lc.slice_ch] += 5.0
    before, after = _entropy_parameters(lc, y, side), _entropy_parameters(lc, other, side)
    for k in range(SLICES):
        assert torch.equal(before[k], after[k]) == (k <= changed), f"slice {k}"


def test_round_trip_through_compress_and_decompress():
    lc = _charm()
    y, side = _inputs()
    with torch.no_grad():
        out = lc.compress(y, side)
        assert len(out["strings"]) == SLICES and all(len(s) == 1 for s in out["strings"])
        assert out["shape"] == HW
        assert torch.equal(lc.decompress(out["strings"], HW, side)["y_hat"], out["y_hat"])
        assert torch.allclose(lc(y, side)["y_hat"], out["y_hat"], atol=1e-5)  # training pass: same quantiser
        assert (out["y_hat"] - y).abs().max() <= 1.0 + 1e-5  # rounding (0.5) + LRP (0.5 tanh)
        with pytest.raises(ValueError, match="expected 4 slice streams, got 3"):
            lc.decompress(out["strings"][:3], HW, side)


def test_latent_residual_prediction_moves_a_slice_by_under_half():
    """LRP adds 0.5 tanh(lrp_k([side, y_hat_0..k])): slice 0 differs from the unrefined one by less than 0.5."""
    refined, plain = _charm(lrp=True), _charm(lrp=False)
    plain.gc.load_state_dict(refined.gc.state_dict())
    assert plain.lrp is None
    y, side = _inputs()
    with torch.no_grad():
        a, b = refined(y, side)["y_hat"][:, : refined.slice_ch], plain(y, side)["y_hat"][:, : plain.slice_ch]
    delta = (a - b).abs()
    assert delta.max() < 0.5 and delta.max() > 0
    assert (b - y[:, : plain.slice_ch]).abs().max() <= 0.5 + 1e-5  # unrefined: round(y - mu) + mu
