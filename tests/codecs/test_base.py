"""rdpflex.codecs.base: what every built-in codec does (training pass, entropy coding, padding, lookup)."""

from __future__ import annotations

import pytest
import torch

from rdpflex.codecs import TINY
from rdpflex.errors import BitstreamError, EntropyMismatchError, UnknownPluginError
from rdpflex.registry import build_codec, codec_classes

from . import tiny_codec


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
    codec = tiny_codec(arch)
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


@pytest.fixture(scope="module")
def msh():
    return tiny_codec("msh")


def test_compress_refuses_an_unpadded_image(msh):
    with pytest.raises(ValueError, match=r"not padded to a multiple of 64"):
        msh.compress(torch.rand(1, 3, 64, 70))
    assert msh.padded_size((64, 70)) == (64, 128) and msh.padded_size((1, 1)) == (64, 64)


def test_a_wrong_symbol_crc_is_a_mismatch(msh):
    out = msh.compress(torch.rand(1, 3, 64, 64))
    streams = [s[0] for s in out["strings"]]
    assert torch.equal(msh.decompress_latent(streams, (64, 64), True, out["symbols_crc"]), out["y_hat"])
    with pytest.raises(EntropyMismatchError, match="exact fixed-point path"):
        msh.decompress_latent(streams, (64, 64), True, out["symbols_crc"] ^ 1)


def test_float_path_decodes_a_batch_only_image_by_image(msh):
    outs = [msh.compress(torch.rand(1, 3, 64, 64), exact=False) for _ in range(2)]
    streams = [[s[0] for s in out["strings"]] for out in outs]
    with pytest.raises(BitstreamError, match="only on the exact path"):
        msh.decompress_latents(streams, (64, 64), [None, None], exact=False)
    for s, out in zip(streams, outs):
        assert torch.equal(msh.decompress_latents([s], (64, 64), [out["symbols_crc"]], exact=False)[0], out["y_hat"])


def test_config_rebuilds_the_same_architecture(msh):
    again = type(msh)(**msh.config)
    shapes = {k: v.shape for k, v in msh.named_parameters()}
    assert {k: v.shape for k, v in again.named_parameters()} == shapes and len(shapes) > 20
    assert again.describe().startswith("msh(M=12, N=8), ")
