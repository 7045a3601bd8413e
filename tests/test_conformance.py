"""Every built-in decoder family passes the conformance suite of rdpflex.testing (tiny models, 64 px images)."""

from rdpflex.testing import DecoderConformance


class TestMSE(DecoderConformance):
    decoder_name = "mse"


class TestMultiRealism(DecoderConformance):
    decoder_name = "multirealism"
    options = {"beta": 1.28}
    invalid_options = [{"beta": -1}, {"beta": 99}]

    def make_decoder(self, codec):
        import torch

        from rdpflex_plugins.multirealism.plugin import MultiRealismDecoder

        torch.manual_seed(0)
        return MultiRealismDecoder.for_codec(codec, N=8, blocks=1, cond_hidden=16, discriminator=False).eval()


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
