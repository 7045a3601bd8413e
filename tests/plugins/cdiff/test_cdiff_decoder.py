"""cdiff decoding: conditioning, batch invariance, seeds, scheduler swap, tiling, options, component folder."""

import pickle

import pytest
import torch

from rdpflex.decoders import decode_batch, parse_options
from rdpflex.errors import FingerprintMismatchError, OptionsError
from rdpflex.system import System
from rdpflex.tiling import TileSpec
from rdpflex_plugins.cdiff import make_scheduler
from rdpflex_plugins.cdiff.options import SCHEDULERS_OF

from .cdiff_helpers import random_latents, tiny_cdiff


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def run(decoder, system, lats, seeds, tile=None, **options):
    return decode_batch(decoder, lats, system.codec, parse_options(decoder, {"steps": 3} | options), gens(*seeds), tile)


@pytest.mark.parametrize("condition_on_mse,target", [(False, "image"), (True, "residual")])
def test_conditioning_matters(system, lats, condition_on_mse, target):
    dec = tiny_cdiff(system.codec.latent_channels, condition_on_mse=condition_on_mse, target=target)
    a = run(dec, system, lats[:1], [7])
    b = run(dec, system, lats[1:2], [7])  # another latent, the same noise
    assert (a - b).abs().mean() > 1e-3


@pytest.mark.parametrize(
    "options", [{"scheduler": "ddim", "eta": 1.0}, {"scheduler": "ddpm"}, {"scheduler": "dpm-solver"}]
)
def test_batch_gives_the_same_pixels_as_one_at_a_time(system, decoder, lats, options):
    """Same noise per image; only float roundoff of batched convolutions differs (< 1e-3, well under one
    8-bit level)."""
    batch = run(decoder, system, lats, [10, 11, 12], **options)
    alone = torch.cat([run(decoder, system, [lat], [10 + i], **options) for i, lat in enumerate(lats)])
    assert batch.shape == (3, 3, 64, 64)
    assert (batch - alone).abs().max() < 1e-3


def test_seed_determinism(system, decoder, lats):
    for steps in (3, 4, 16):  # eta = 1 from alpha_bar_T ~ 0 stays finite (MAX_DDIM_ETA)
        assert torch.isfinite(run(decoder, system, lats[:1], [3], eta=1.0, steps=steps)).all()
    a = run(decoder, system, lats[:1], [3], eta=1.0)
    assert torch.equal(a, run(decoder, system, lats[:1], [3], eta=1.0))
    assert (a - run(decoder, system, lats[:1], [4], eta=1.0)).abs().mean() > 1e-3


def test_scheduler_swap_keeps_the_training_schedule(system, decoder, lats):
    cfg = decoder.scheduler_config
    outs = {}
    for name in SCHEDULERS_OF["diffusion"]:
        sched = make_scheduler(name, cfg, 4)
        assert torch.allclose(sched.alphas_cumprod, make_scheduler("ddpm", cfg, 4).alphas_cumprod)
        assert sched.config.prediction_type == cfg["prediction_type"] and len(sched.timesteps) == 4
        T = cfg["num_train_timesteps"]
        if name == "dpm-solver":  # lambda_min_clipped skips the few timesteps with logSNR < -10.2
            assert 0.95 * (T - 1) <= int(sched.timesteps[0]) < T - 1
        else:
            assert int(sched.timesteps[0]) == T - 1  # trailing spacing starts at pure noise
        outs[name] = run(decoder, system, lats[:1], [5], scheduler=name, steps=4)
    assert type(make_scheduler("dpm-solver", cfg, 4)).__name__ == "DPMSolverMultistepScheduler"
    assert make_scheduler("dpm-solver", cfg, 4).config.algorithm_type == "dpmsolver++"
    assert (outs["ddim"] - outs["dpm-solver"]).abs().mean() > 0  # different samplers, same model


def test_tiled_and_whole_image_agree(system, decoder):
    """Per-step blending over 64 px tiles with 32 px overlap on a 128 px image: the tiled result stays
    within a mean absolute difference of 0.25 x the difference two seeds make (stated tolerance)."""
    (lat,) = random_latents(system, 1, 128)
    whole = run(decoder, system, [lat], [1])
    tiled = run(decoder, system, [lat], [1], tile=TileSpec(64, 32))
    other_seed = run(decoder, system, [lat], [2])
    assert (whole - tiled).abs().mean() < 0.25 * (whole - other_seed).abs().mean()


def test_out_of_range_options_are_refused_with_the_range(decoder):
    with pytest.raises(OptionsError, match="less than or equal to 100"):
        parse_options(decoder, {"steps": "101"})  # this decoder was trained with T = 100
    with pytest.raises(OptionsError, match="eta applies to scheduler ddim only"):
        parse_options(decoder, {"scheduler": "ddpm", "eta": "0.5"})
    with pytest.raises(OptionsError, match="ddpm, ddim, dpm-solver"):
        parse_options(decoder, {"scheduler": "euler"})
    with pytest.raises(OptionsError, match="1 <= steps <= 100"):
        decoder.resolve({"steps": 0})
    with pytest.raises(OptionsError) as exc:  # a direct call: the one shared line, naming the valid choices
        decoder.resolve({"bad": 1})
    assert str(exc.value) == (
        "invalid options for decoder 'cdiff': bad: Extra inputs are not permitted "
        "(options: scheduler in {ddpm, ddim, dpm-solver}, 1 <= steps <= 100, 0 <= eta <= 1, 0 <= seed)"
    )
    validated = parse_options(decoder, {"steps": "3"})
    assert decoder.resolve(validated) is validated  # what the pipeline passes is read as it is


def test_save_load_round_trip_through_the_component_folder(tmp_path, system, decoder, lats):
    root = System(system.codec).save(tmp_path / "sys")
    System.load(root).add_decoder(decoder)
    folder = root / "decoders" / "cdiff"
    assert {p.name for p in folder.iterdir()} == {"config.json", "unet", "adapter", "scheduler"}
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = System.load(root).decoder("cdiff")
    assert all(torch.equal(a, b) for a, b in zip(decoder.state_dict().values(), loaded.state_dict().values()))
    assert loaded.scheduler_config["trained_betas"] == decoder.scheduler_config["trained_betas"]
    # same weights and schedule; freshly allocated modules may pick other conv kernels (float roundoff only)
    assert (run(decoder, system, lats[:1], [9]) - run(loaded, system, lats[:1], [9])).abs().max() < 1e-3
    other = System.tiny("msh", seed=1).save(tmp_path / "other")
    import shutil

    shutil.copytree(folder, other / "decoders" / "cdiff")
    with pytest.raises(FingerprintMismatchError, match="trained on codec"):
        System.load(other).decoder("cdiff")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_in_the_decoder_folder_is_refused_never_loaded(tmp_path, system, decoder):
    """The one rule for pickles (docs/reliability.md section 5): refused with one line naming every file."""
    from rdpflex.errors import RdpflexError

    root = System(system.codec).save(tmp_path / "sys")
    System.load(root).add_decoder(decoder)
    folder = root / "decoders" / "cdiff"
    marker = tmp_path / "UNPICKLED"
    for name in ("unet/diffusion_pytorch_model.bin", "adapter/diffusion_pytorch_model.bin", "ema.pkl", "model.pt"):
        (folder / name).write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(RdpflexError) as err:
        System.load(root).decoder("cdiff")
    assert not marker.exists()
    msg = str(err.value)
    assert "\n" not in msg and "adapter/diffusion_pytorch_model.bin, ema.pkl, model.pt, unet/" in msg, msg
    for name in ("unet/diffusion_pytorch_model.bin", "adapter/diffusion_pytorch_model.bin", "ema.pkl", "model.pt"):
        (folder / name).unlink()
    System.load(root).decoder("cdiff")  # without them, the folder loads


def test_decoding_through_the_pipeline_with_seed_option(system, decoder, lats):
    from rdpflex.pipeline import decode_group

    s = System(system.codec)
    s.add_decoder(decoder)
    pairs = list(enumerate(lats))
    a = decode_group(pairs, s, "cdiff", {"steps": 2, "seed": 100}, seed=0)
    b = decode_group(pairs[1:2], s, "cdiff", {"steps": 2}, seed=100)  # the seed option replaces --seed
    assert (a[1] - b[0]).abs().max() < 1e-3  # same noise; batched-conv roundoff only


def test_unknown_latent_width_is_refused(tmp_path, system, decoder):
    from rdpflex.errors import RdpflexError

    root = System(system.codec).save(tmp_path / "sys")
    System.load(root).add_decoder(decoder)
    elic = System.tiny("elic")
    with pytest.raises(RdpflexError, match="latent channels"):
        type(decoder).from_pretrained(root / "decoders" / "cdiff", elic.codec)


def test_the_conditioning_of_a_window_equals_the_crop_of_the_whole(system):
    """Tiled sampling computes the conditioning planes per tile (memory of one tile): the same values as the crop
    of the whole planes, the MSE image included."""
    from rdpflex.tiling import windows

    dec = tiny_cdiff(system.codec.latent_channels, condition_on_mse=True, target="residual")
    (lat,) = random_latents(system, 1, size=256)
    x_mse = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = dec.denoiser.condition(lat.y_hat, x_mse)
        for t, b, left, r in windows(256, 256, TileSpec(96, 32)):
            part = dec.denoiser.condition_window(lat.y_hat, x_mse, (t, b, left, r))
            assert (part - whole[..., t:b, left:r]).abs().max() < 1e-5


def test_large_images_are_sampled_in_tiles_without_asking(system):
    """The path users run (``decode_latent``, as ``rdpflex decompress`` and ``compare``): above ``auto_tile_pixels``
    the UNet only ever sees tiles, without ``--tile``; at or below it, the whole image, as before. (The defaults,
    1024^2 pixels and 256 px tiles, are exercised through the command line by tests/test_memory.py.)"""
    from rdpflex.pipeline import decode_latent

    dec = tiny_cdiff(system.codec.latent_channels, condition_on_mse=True, target="residual")
    dec.auto_tile_pixels, dec.auto_tile = 128 * 128, TileSpec(64, 16)  # the same rule, scaled down
    local = System(system.codec)
    local.add_decoder(dec)
    seen = []
    hook = dec.denoiser.unet.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    try:
        for side, largest in ((128, 128), (160, 64)):
            seen.clear()
            (lat,) = random_latents(system, 1, size=side)
            x = decode_latent(lat, local, "cdiff", {"steps": 1}, seed=0)
            assert x.shape == (1, 3, side, side) and torch.isfinite(x).all()
            assert max(max(s) for s in seen) == largest, (side, seen)
    finally:
        hook.remove()
    assert type(dec).auto_tile_pixels == 1 << 20 and type(dec).auto_tile == TileSpec(256, 32)
