import pytest
import torch

from rdpflex.codecs import TINY
from rdpflex.errors import UnknownPluginError
from rdpflex.registry import build_codec, codec_classes


@pytest.mark.parametrize("arch", sorted(TINY))
def test_forward_shapes_and_likelihoods(arch):
    torch.manual_seed(0)
    codec = build_codec(arch, **TINY[arch]).train()
    x = torch.rand(2, 3, 64, 128)
    out = codec(x)
    assert out["x_hat"].shape == x.shape
    assert out["y_hat"].shape == (2, *codec.latent_shape((64, 128)))
    assert set(out["likelihoods"]) == {"y", "z"}
    assert all(((v > 0) & (v <= 1)).all() for v in out["likelihoods"].values())
    loss = out["x_hat"].square().mean() + sum(-v.log2().mean() for v in out["likelihoods"].values())
    loss.backward()
    assert codec.g_a[0].weight.grad is not None


@pytest.mark.parametrize("arch", sorted(TINY))
def test_entropy_coding_round_trip(arch):
    torch.manual_seed(0)
    codec = build_codec(arch, **TINY[arch]).eval()
    codec.update(force=True)
    x = codec.pad(torch.rand(1, 3, 40, 70))
    assert x.shape[-2:] == (64, 128)
    out = codec.compress(x)
    assert len(out["strings"]) == codec.num_streams
    y_hat = codec.decompress_latent([s[0] for s in out["strings"]], (64, 128))
    assert torch.equal(y_hat, out["y_hat"])


def test_pad_is_replicate_and_crop_restores():
    codec = build_codec("msh", **TINY["msh"])
    x = torch.rand(1, 3, 17, 23)
    xp = codec.pad(x)
    assert xp.shape[-2:] == (64, 64)
    assert torch.equal(xp[..., :17, :23], x)
    assert torch.equal(xp[..., 30, 40], x[..., 16, 22])


def test_unknown_arch_lists_choices():
    with pytest.raises(UnknownPluginError, match="available: .*msh"):
        build_codec("nope")
    assert {"msh", "elic", "compressai"} <= set(codec_classes())


def test_elic_charm_has_ten_equal_slices():
    codec = build_codec("elic", N=16, M=40, blocks=1, hidden=16)
    slices = codec.latent_codec["y"]
    assert slices.slices == 10 and slices.slice_ch == 4
    assert codec.num_streams == 11
