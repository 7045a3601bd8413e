"""Eq. 2/3/4 of Agustsson et al. 2023 (arXiv:2212.13824) on hand-checked tiny cases."""

import math

import pytest
import torch

from rdpflex_plugins.multirealism.losses import (
    LossWeights,
    discriminator_loss,
    discriminator_loss_from_logits,
    generator_loss,
    paper_schedule,
    rate_bpp,
    sample_beta,
)


def _likelihoods():
    # y: 2 x (4*2*2) symbols at p=1/2 -> 16 bits each; nested z: 1 symbol at p=1/4 -> 2 bits each
    return {"y": torch.full((2, 4, 2, 2), 0.5), "z": {"a": torch.full((2, 1, 1, 1), 0.25)}}


class FixedD:
    """A fake discriminator returning fixed per-example logits (any patch map size)."""

    def __init__(self, logits):
        self.logits = torch.tensor(logits)
        self.calls = []

    def __call__(self, y_hat, x):
        self.calls.append((y_hat, x))
        return self.logits.view(-1, 1, 1, 1).expand(-1, 1, 2, 2)


def fake_perceptual(x, x_hat):
    return torch.tensor([0.2, 0.5])


def test_rate_is_bits_per_pixel_per_example():
    r = rate_bpp(_likelihoods(), num_pixels=16)
    torch.testing.assert_close(r, torch.tensor([18 / 16, 18 / 16]))


def test_generator_loss_matches_eq4_by_hand():
    x = torch.zeros(2, 3, 4, 4)
    x_hat = torch.full((2, 3, 4, 4), 0.1)  # error 25.5 on 0..255 -> MSE 650.25
    beta = torch.tensor([1.0, 2.0])
    D = FixedD([0.0, math.log(3.0)])  # D = sigmoid(l) = 1/2 and 3/4
    y_hat = torch.zeros(2, 5, 1, 1)
    w = LossWeights(lmbda=0.02)  # lambda' = 2
    terms = generator_loss(
        x, x_hat, beta, likelihoods=_likelihoods(), y_hat=y_hat, discriminator=D, perceptual=fake_perceptual, weights=w
    )
    rate = 18 / 16
    mse = 25.5**2
    gan = [math.log(2.0), -math.log(0.75)]
    lp = [0.2, 0.5]
    per_example = [2 * rate + mse / 100 + b * (g + 4.26 * p) for b, g, p in zip([1.0, 2.0], gan, lp)]
    assert terms["rate"].item() == pytest.approx(rate)
    assert terms["mse"].item() == pytest.approx(mse, rel=1e-5)
    assert terms["distortion"].item() == pytest.approx(mse / 100, rel=1e-5)
    assert terms["gan"].item() == pytest.approx(sum(gan) / 2, rel=1e-5)
    assert terms["perceptual"].item() == pytest.approx(0.35, rel=1e-6)
    assert terms["total"].item() == pytest.approx(sum(per_example) / 2, rel=1e-5)
    assert D.calls[0][0] is y_hat and D.calls[0][1] is x_hat  # D(y_hat, x_hat)


def test_decoupled_perceptual_weight_ablation():
    x, x_hat = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.1)
    D = FixedD([0.0, math.log(3.0)])
    terms = generator_loss(
        x,
        x_hat,
        torch.tensor([1.0, 2.0]),
        y_hat=torch.zeros(2, 5, 1, 1),
        discriminator=D,
        perceptual=fake_perceptual,
        weights=LossWeights(decoupled_c_p=2.0),
    )
    gan = [math.log(2.0), -math.log(0.75)]
    expected = [650.25 / 100 + b * g + 2.0 * p for b, g, p in zip([1.0, 2.0], gan, [0.2, 0.5])]
    assert terms["rate"].item() == 0.0  # frozen codec: no likelihoods
    assert terms["total"].item() == pytest.approx(sum(expected) / 2, rel=1e-5)


def test_missing_terms_weigh_zero_and_scalar_beta():
    x, x_hat = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.1)
    terms = generator_loss(x, x_hat, 2.0)
    assert terms["gan"].item() == terms["perceptual"].item() == 0.0
    assert terms["total"].item() == pytest.approx(6.5025, rel=1e-5)
    with pytest.raises(ValueError, match="y_hat"):
        generator_loss(x, x_hat, 1.0, discriminator=FixedD([0.0, 0.0]))


def test_discriminator_loss_matches_eq3():
    real, fake = torch.tensor([2.0, -0.5]).view(2, 1, 1, 1), torch.tensor([-1.0, 0.3]).view(2, 1, 1, 1)
    out = discriminator_loss_from_logits(real, fake)
    s = torch.sigmoid
    exp_real = -torch.log(s(real)).flatten()
    exp_fake = -torch.log(1 - s(fake)).flatten()
    torch.testing.assert_close(out["real"], exp_real.mean())
    torch.testing.assert_close(out["fake"], exp_fake.mean())
    torch.testing.assert_close(out["total"], (exp_real + exp_fake).mean())
    # stable for large logits
    big = discriminator_loss_from_logits(torch.full((1, 1, 1, 1), -200.0), torch.full((1, 1, 1, 1), 200.0))
    assert big["total"].item() == pytest.approx(400.0)


def test_discriminator_loss_detaches_generator_side():
    x = torch.rand(2, 3, 4, 4)
    x_hat = torch.rand(2, 3, 4, 4, requires_grad=True)
    y_hat = torch.zeros(2, 5, 1, 1, requires_grad=True)
    w = torch.tensor(0.5, requires_grad=True)

    def D(y, img):
        return (img.mean(dim=(1, 2, 3)) * w).view(-1, 1, 1, 1)

    discriminator_loss(D, y_hat, x, x_hat)["total"].backward()
    assert x_hat.grad is None and y_hat.grad is None and w.grad is not None


def test_sample_beta_uniform_and_seeded():
    b = sample_beta(1000, torch.Generator().manual_seed(0))
    assert b.shape == (1000,) and b.min() >= 0 and b.max() < 5.12 and 2.2 < b.mean() < 2.9
    torch.testing.assert_close(b, sample_beta(1000, torch.Generator().manual_seed(0)))
    assert sample_beta(3, beta_max=1.0).max() < 1.0


def test_paper_schedule():
    assert paper_schedule(0, 100) == {"lambda": 10.0, "lr": 1.0}
    assert paper_schedule(14, 100)["lambda"] == 10.0 and paper_schedule(15, 100)["lambda"] == 1.0
    assert paper_schedule(84, 100)["lr"] == 1.0 and paper_schedule(85, 100)["lr"] == 0.1
    assert LossWeights().lambda_prime == 1.0 and LossWeights().c_p == 4.26
