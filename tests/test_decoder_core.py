"""The decoder core: capability flags, batch decoding, grad mode, tiling, component folders (safetensors only)."""

import pickle
from typing import ClassVar

import pytest
import torch

from rdpflex.components import load_component, save_component
from rdpflex.decoders import Capabilities, DecoderBase, capabilities, decode_batch, describe
from rdpflex.errors import OptionsError, RdpflexError
from rdpflex.latent import Latent
from rdpflex.pipeline import batches, compress_images, decode_images, latents
from rdpflex.system import System
from rdpflex.tiling import TileSpec, axis_windows, blend
from rdpflex_plugins.mse import MSEDecoder
from rdpflex_plugins.multirealism import MultiRealismDecoder


class BareProtocolDecoder:
    """A third-party decoder written against the protocol only (no base class, no flags)."""

    name = "bare"
    description = "test"

    def decode(self, latent, codec, options, generator):
        return torch.rand((1, 3, *latent.padded_size), generator=generator)


class GradDecoder(DecoderBase):
    name: ClassVar[str] = "grad"
    needs_weights: ClassVar[bool] = False
    needs_grad: ClassVar[bool] = True
    seen: ClassVar[list] = []

    def decode(self, latent, codec, options, generator):
        GradDecoder.seen.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return codec.synthesize(latent.y_hat)


def _latent(system, seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    c, h, w = system.codec.latent_shape((size, size))
    return Latent(torch.randn(1, c, h, w, generator=g).round(), (size, size), (size, size), f"l{seed}")


def test_capabilities_declared_once_with_defaults():
    assert capabilities(BareProtocolDecoder) == Capabilities()
    assert capabilities(MSEDecoder) == Capabilities(needs_weights=False, supports_tiling=True)
    assert capabilities(MultiRealismDecoder).trained_on_codec and not capabilities(MultiRealismDecoder).stochastic
    assert describe(MSEDecoder)["capabilities"]["supports_tiling"] is True


def test_protocol_only_decoder_batches_with_one_generator_per_image():
    system = System.tiny()
    lats = [_latent(system, s) for s in range(3)]
    gens = lambda: [torch.Generator().manual_seed(10 + i) for i in range(3)]  # noqa: E731
    batch = decode_batch(BareProtocolDecoder(), lats, system.codec, None, gens())
    alone = decode_batch(BareProtocolDecoder(), lats[1:2], system.codec, None, gens()[1:2])
    assert batch.shape == (3, 3, 64, 64) and torch.equal(batch[1:2], alone)
    with pytest.raises(ValueError, match="one generator per image"):
        decode_batch(BareProtocolDecoder(), lats, system.codec, None, gens()[:2])


def test_inference_mode_by_default_autograd_when_declared():
    system = System.tiny()
    lat = _latent(system)
    out = decode_batch(MSEDecoder(), [lat], system.codec, None, [torch.Generator()])
    out += 0  # the result is an ordinary tensor (in-place ops allowed)
    GradDecoder.seen.clear()
    decode_batch(GradDecoder(), [lat], system.codec, None, [torch.Generator()])
    assert GradDecoder.seen == [(True, False)]


def test_batches_group_same_sizes_within_limits():
    system = System.tiny()
    lats = [_latent(system, 0, 64), _latent(system, 1, 128), _latent(system, 2, 64), _latent(system, 3, 64)]
    groups = [[i for i, _ in g] for g in batches(enumerate(lats), batch_size=2)]
    assert sorted(map(sorted, groups)) == [[0, 2], [1], [3]]
    assert [len(g) for g in batches(enumerate(lats), batch_size=8, max_pixels=64 * 64)] == [1, 1, 1, 1]
    with pytest.raises(RdpflexError, match="at least 1"):
        list(batches(enumerate(lats), batch_size=0))


def test_decode_images_same_pixels_in_batches_and_alone(tmp_path):
    """Four distinct images of one size: batch_size=4 really decodes them as one batch, and every image comes
    out as it does alone, under its own name (a decoder that swapped or blended a batch would fail)."""
    from PIL import Image

    from tests.conftest import smooth_image

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"im{i}.png")
        Image.fromarray(smooth_image(48, 64, 40 + i)).save(paths[-1])
    system = System.load(None)  # the bundled, trained codec: distinct images give distinct latents
    rdp = compress_images(paths, system).rdp
    assert [len(g) for g in batches(enumerate(latents(rdp, system)), batch_size=4)] == [4]
    one = dict(decode_images(rdp, system, "mse", batch_size=1))
    many = dict(decode_images(rdp, system, "mse", batch_size=4))
    assert one.keys() == many.keys() == {p.stem for p in paths}
    for k in one:
        assert torch.allclose(one[k], many[k], atol=1e-5)
    assert all((one[a] - one[b]).abs().max() > 1e-3 for a in one for b in one if a < b)  # a swap would show


def test_axis_windows_cover_with_overlap():
    assert axis_windows(64, 128, 32) == [(0, 64)]
    assert axis_windows(320, 128, 32) == [(0, 128), (96, 224), (192, 320)]
    x = torch.rand(1, 3, 96, 160)
    same = blend(lambda w: x[..., w[0] : w[1], w[2] : w[3]], 96, 160, TileSpec(64, 32))
    assert torch.allclose(same, x, atol=1e-6)  # blending identical tiles is the identity


def test_tiled_and_whole_mse_agree(tiny_system_dir):
    """g_s has a small receptive field: 32 px of overlap keeps tiled decoding within 2/255 (max) of the whole image."""
    system = System.load(tiny_system_dir)
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 192, 256), 9, 1, 4)
    (lat,) = latents(compress_images([("img", x)], system).rdp, system)
    whole = decode_batch(MSEDecoder(), [lat], system.codec, None, [torch.Generator()])
    tiled = decode_batch(MSEDecoder(), [lat], system.codec, None, [torch.Generator()], tile=TileSpec(128, 64))
    assert (whole - tiled).abs().max() < 2 / 255
    with pytest.raises(OptionsError, match="multiple of 16"):
        decode_batch(MSEDecoder(), [lat], system.codec, None, [torch.Generator()], tile=TileSpec(100, 32))
    with pytest.raises(OptionsError, match="does not support tiling"):
        decode_batch(BareProtocolDecoder(), [lat], system.codec, None, [torch.Generator()], tile=TileSpec(128, 32))


class _Payload:
    """Unpickling this writes a marker file: proof that a pickle was (not) loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_component_folder_round_trip_never_unpickles(tmp_path):
    from diffusers import UNet2DModel

    unet = UNet2DModel(
        sample_size=16,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
    )
    save_component(unet, tmp_path, "unet")
    marker = tmp_path / "UNPICKLED"
    (tmp_path / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(RdpflexError, match=r"holds pickle file\(s\) diffusion_pytorch_model\.bin: .*safetensors only"):
        load_component(UNet2DModel, tmp_path, "unet")  # one rule for every weights folder: refused, never opened
    assert not marker.exists()
    (tmp_path / "unet" / "diffusion_pytorch_model.bin").unlink()
    loaded = load_component(UNet2DModel, tmp_path, "unet")
    assert all(torch.equal(a, b) for a, b in zip(unet.state_dict().values(), loaded.state_dict().values()))
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(RdpflexError, match="no .safetensors weights"):
        load_component(UNet2DModel, tmp_path, "unet")
    assert not marker.exists()
