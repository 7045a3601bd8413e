"""Every built-in decoder family passes the conformance suite of rdpflex.testing (tiny models, 64 px images)."""

import pytest
import torch

from rdpflex.bitstream import write_rdp
from rdpflex.pipeline import compress_images
from rdpflex.testing import (
    SIZES,
    DecoderConformance,
    check_batch_equals_one_at_a_time,
    conformance_system,
    file_latents,
    smooth_image,
)

from .conftest import use_plugin_module


class TestMSE(DecoderConformance):
    decoder_name = "mse"


class TestMultiRealism(DecoderConformance):
    decoder_name = "multirealism"
    options = {"beta": 1.28}
    invalid_options = [{"beta": -1}, {"beta": 99}]

    def make_decoder(self, codec):
        import torch

        from rdpflex_plugins.multirealism.plugin import MultiRealismDecoder
        from rdpflex_plugins.multirealism.settings import MultiRealismSettings

        torch.manual_seed(0)
        small = {"N": 8, "blocks": 1, "cond_hidden": 16, "cond_activation": "relu", "fourier_scale": 1.0}
        return MultiRealismDecoder.for_codec(codec, MultiRealismSettings(generator=small, perceptual="none")).eval()


class TestCDiff(DecoderConformance):
    decoder_name = "cdiff"
    options = {"scheduler": "ddim", "steps": 2, "eta": 1.0}
    invalid_options = [{"steps": 0}, {"steps": 101}, {"scheduler": "euler"}, {"scheduler": "ddpm", "eta": 0.5}]
    atol = 1e-3  # batched convolutions round differently (measured up to 5e-4 on this CPU)

    def make_decoder(self, codec):
        import torch

        from rdpflex_plugins.cdiff import CDiffDecoder, ConditionalDenoiser, scheduler_config

        torch.manual_seed(0)
        denoiser = ConditionalDenoiser.build(
            codec.latent_channels,
            block_out_channels=(8, 16),
            layers_per_block=1,
            norm_num_groups=4,
            adapter_hidden=8,
            cond_channels=4,
        )
        return CDiffDecoder(denoiser, scheduler_config(num_train_timesteps=100)).eval()


class TestIdempotence(DecoderConformance):
    decoder_name = "idempotence"
    options = {"steps": 4, "strength": 0.5}
    invalid_options = [{"zeta": -1}, {"constraint": "z"}, {"strength": 0}]
    atol = 1e-4

    def make_decoder(self, codec):
        import torch

        from rdpflex_plugins.idempotence.plugin import IdempotenceDecoder
        from rdpflex_plugins.idempotence.prior import build_prior, build_scheduler

        torch.manual_seed(0)
        return IdempotenceDecoder(build_prior(32, (8, 16), 1, norm_num_groups=4), dict(build_scheduler(50).config))


# -- the suite catches what it promises to catch ----------------------------------------------------
MIXERS = """
from rdpflex.hookspecs import hookimpl
from rdpflex_plugins.mse.decoder import MSEDecoder


class Flipper(MSEDecoder):
    name = "batch-flipper"
    description = "test plugin: returns the images of a batch in reverse order"

    def decode_batch(self, latents, codec, options, generators):
        return super().decode_batch(latents, codec, options, generators).flip(0)


class Blender(MSEDecoder):
    name = "batch-blender"
    description = "test plugin: blends every image with the batch mean"

    def decode_batch(self, latents, codec, options, generators):
        x = super().decode_batch(latents, codec, options, generators)
        return 0.5 * x + 0.5 * x.mean(0, keepdim=True)


@hookimpl
def register_decoders(register):
    register(Flipper)
    register(Blender)
"""


@pytest.fixture
def mixers(tmp_path, monkeypatch):
    from rdpflex import plugins

    monkeypatch.delenv("RDPFLEX_PLUGINS", raising=False)
    use_plugin_module(monkeypatch, tmp_path, "batch_mixers", MIXERS)
    yield
    plugins.reset_plugins()


@pytest.mark.parametrize("name", ["batch-flipper", "batch-blender"])
def test_the_batch_check_fails_a_decoder_that_mixes_up_its_batch(mixers, name, tmp_path):
    system = conformance_system()
    images = [(f"im{i}", smooth_image(h, w, i)) for i, (h, w) in enumerate(SIZES)]
    rdp = tmp_path / "set.rdp"
    write_rdp(rdp, compress_images(images, system).rdp)
    check_batch_equals_one_at_a_time(system, rdp, "mse", {}, atol=1e-5)  # the honest family passes
    with pytest.raises(AssertionError, match="batched pixels differ"):
        check_batch_equals_one_at_a_time(system, rdp, name, {}, atol=1e-5)


def test_the_suite_batch_holds_distinct_latents(tmp_path):
    system = conformance_system()
    images = [(f"im{i}", smooth_image(h, w, i)) for i, (h, w) in enumerate(SIZES)]
    write_rdp(tmp_path / "set.rdp", compress_images(images, system).rdp)
    batch = file_latents(system, tmp_path / "set.rdp")
    assert len(batch) == 2 and not torch.equal(batch[0].y_hat, batch[1].y_hat)
