"""A few alternating G/D steps (Eq. 4 for G, Eq. 3 for D) on a fixed tiny batch reduce G's distortion."""

import torch

from rdpflex.system import System
from rdpflex_plugins.multirealism import LossWeights, MultiRealismDecoder, sample_beta


def test_alternating_gd_steps_reduce_distortion():
    system = System.tiny("elic")
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        q = system.codec.quantize(x)  # frozen codec ("decoder" stage); y_hat fixed
    dec = MultiRealismDecoder.for_codec(system.codec, N=16, blocks=1, cond_hidden=32, disc_channels=(8, 16, 16, 16))
    opt_g = torch.optim.Adam(dec.generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(dec.discriminator.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    weights = LossWeights(lmbda=0.01)

    def distortion():
        with torch.no_grad():
            return dec.generator_losses(x, q["y_hat"], torch.tensor([0.0, 2.56]), weights=weights)[0]["distortion"].item()

    before = distortion()
    for _ in range(30):
        beta = sample_beta(2, gen)
        terms, x_hat = dec.generator_losses(x, q["y_hat"], beta, weights=weights)
        opt_g.zero_grad()
        terms["total"].backward()
        opt_g.step()
        d_terms = dec.discriminator_losses(x, q["y_hat"], x_hat)
        opt_d.zero_grad()
        d_terms["total"].backward()
        opt_d.step()
        assert torch.isfinite(terms["total"]) and torch.isfinite(d_terms["total"])
    after = distortion()
    assert after < 0.5 * before, (before, after)
