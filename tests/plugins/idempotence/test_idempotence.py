"""The ``idempotence`` decoder: guided sampling, prior loading, options, the ``prior`` stage."""

from __future__ import annotations

import json

import pytest
import torch

from rdpflex.decoders import decode_batch, parse_options
from rdpflex.errors import OptionsError, RdpflexError, WeightsMissingError
from rdpflex.pipeline import compress_images, latents
from rdpflex.system import System
from rdpflex_plugins.idempotence.guidance import guided_sample, make_constraint
from rdpflex_plugins.idempotence.plugin import IdempotenceDecoder, IdempotenceOptions
from rdpflex_plugins.idempotence.prior import build_prior, build_scheduler, load_prior, save_prior
from rdpflex_plugins.idempotence.projection import project
from tests.conftest import smooth_image


@pytest.fixture(scope="module")
def setup():
    """The bundled (trained) codec, a tiny random prior (T=50), and the latents of two 32x48 images from one file."""
    system = System.load(None)
    torch.manual_seed(0)
    unet = build_prior(32, (8, 16), 1, norm_num_groups=4)
    sched = build_scheduler(50)
    imgs = [
        (f"im{i}", torch.from_numpy(smooth_image(32, 48, i)).permute(2, 0, 1)[None].float() / 255) for i in range(2)
    ]
    lats = list(latents(compress_images(imgs, system, estimate=False).rdp, system))
    return system, IdempotenceDecoder(unet, dict(sched.config)), lats


def _decode(dec, system, lats, seed=0, **opts):
    options = parse_options(type(dec), opts)
    return decode_batch(
        dec, lats, system.codec, options, [torch.Generator().manual_seed(seed + i) for i in range(len(lats))]
    )


@pytest.mark.parametrize("domain", ["x", "y"])
def test_guidance_reduces_the_constraint_distance(setup, domain):
    system, dec, lats = setup
    constraint = make_constraint(system.codec, lats, domain)
    dist = {}
    for zeta in (0.0, 2.0):
        gens = [torch.Generator().manual_seed(i) for i in range(len(lats))]
        with torch.enable_grad():
            out = guided_sample(dec.unet, dec.scheduler_config, constraint, gens, zeta=zeta, steps=3, strength=1.0)
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
        with torch.no_grad():
            dist[zeta] = constraint.distance(out)
    assert (dist[2.0] < dist[0.0]).all(), dist


def test_guidance_gradient_is_finite(setup):
    system, dec, lats = setup
    constraint = make_constraint(system.codec, lats, "x")
    x = torch.rand(len(lats), 3, 64, 64, requires_grad=True)
    (grad,) = torch.autograd.grad(constraint.distance(x).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_seed_determinism_and_batch_equals_one_at_a_time(setup):
    system, dec, lats = setup
    a = _decode(dec, system, lats, seed=3, steps=4)
    b = _decode(dec, system, lats, seed=3, steps=4)
    assert torch.equal(a, b)
    first = _decode(dec, system, lats[:1], seed=3, steps=4)
    second = decode_batch(
        dec, lats[1:], system.codec, parse_options(type(dec), {"steps": 4}), [torch.Generator().manual_seed(4)]
    )
    assert torch.allclose(a, torch.cat([first, second]), atol=1e-5)
    assert not torch.equal(a, _decode(dec, system, lats, seed=9, steps=4))


def _in_bin(codec, x, constraint):
    with torch.no_grad():
        return (codec.g_a(x) - constraint.centre).abs() < 0.5


def _noisy(system, lats, seed):
    """(constraint, the file's MSE reconstruction with Gaussian noise of std 0.08)."""
    constraint = make_constraint(system.codec, lats, "y")
    noise = torch.randn(constraint.x_mse.shape, generator=torch.Generator().manual_seed(seed))
    return constraint, (constraint.x_mse + 0.08 * noise).clamp(0, 1)


def test_projection_moves_a_noisy_image_onto_the_bins_and_never_lowers_the_agreement(setup):
    system, _, lats = setup
    codec = system.codec
    constraint, noisy = _noisy(system, lats, 0)
    before = _in_bin(codec, noisy, constraint)
    out, report = project(codec.g_a, codec.g_s, noisy, constraint.centre, steps=4)
    after = _in_bin(codec, out, constraint)
    assert out.min() >= 0 and out.max() <= 1
    counts_before, counts_after = before.flatten(1).sum(1), after.flatten(1).sum(1)
    assert (counts_after >= counts_before).all() and (report.steps > 0).all()
    assert (after.flatten(1).float().mean(1) > 0.99).all(), report
    assert torch.equal(report.in_bin, after.flatten(1).float().mean(1))
    # the agreement is the guarantee; of the elements already in their bins, hardly any swap out
    assert (before & ~after).float().mean() < 1e-3


def test_projection_of_a_batch_equals_one_image_at_a_time(setup):
    system, _, lats = setup
    codec = system.codec
    constraint, noisy = _noisy(system, lats, 1)
    both, report = project(codec.g_a, codec.g_s, noisy, constraint.centre, steps=3)
    for i in range(len(lats)):
        one, mine = project(codec.g_a, codec.g_s, noisy[i : i + 1], constraint.centre[i : i + 1], steps=3)
        assert torch.allclose(one, both[i : i + 1], atol=1e-5) and mine.steps.item() == report.steps[i].item()


def test_both_schedulers_and_retries(setup):
    """A retry resamples exactly the images below ``target``: none when every image meets it, all at 1.0."""
    system, dec, lats = setup
    for scheduler in ("ddpm", "ddim"):
        kw = dict(steps=3, scheduler=scheduler, constraint="y")
        first = _decode(dec, system, lats, retries=0, **kw)
        assert first.shape == (2, 3, 64, 64)
        assert torch.equal(_decode(dec, system, lats, retries=1, target=0.0, **kw), first)  # met: no retry
        retried = _decode(dec, system, lats, retries=1, target=1.0, **kw)  # unreachable: every image again
        assert all(not torch.equal(retried[i], first[i]) for i in range(len(lats)))


def test_options_are_validated(setup):
    _, dec, _ = setup
    with pytest.raises(OptionsError, match="zeta"):
        parse_options(IdempotenceDecoder, {"zeta": -1})
    with pytest.raises(OptionsError, match="constraint"):
        parse_options(IdempotenceDecoder, {"constraint": "z"})
    with pytest.raises(OptionsError, match="zetta: Extra inputs"):
        parse_options(IdempotenceDecoder, {"zetta": 1})
    with pytest.raises(OptionsError, match="allowed 1..50"):
        dec._check(IdempotenceOptions(steps=60))
    # a direct call: a validated instance read as it is, anything else through parse_options (one line)
    validated = parse_options(IdempotenceDecoder, {"steps": 4})
    assert dec._options(validated) is validated
    assert dec._options({"steps": 4}) == validated and dec._options(None) == IdempotenceOptions()
    with pytest.raises(OptionsError) as exc:
        dec._options({"zeta": -1})
    assert str(exc.value).startswith("invalid options for decoder 'idempotence': zeta: ")
    assert "\n" not in str(exc.value) and "(options: 0 <= zeta <= 1000, 1 <= steps <= 1000," in str(exc.value)
    with pytest.raises(OptionsError, match="allowed 1..50"):  # the prior's timesteps, checked after
        dec._options({"steps": 60})


def test_prior_round_trip_through_from_pretrained(setup, tmp_path):
    """The real loading path, offline: save_pretrained folders read back with use_safetensors=True."""
    system, dec, lats = setup
    root = system.save(tmp_path / "sys")
    System.load(root).add_decoder(dec)
    folder = root / "decoders" / "idempotence"
    assert json.loads((folder / "config.json").read_text())["prior"] == "prior"
    assert "codec_fingerprint" not in json.loads((folder / "config.json").read_text())  # codec-independent
    loaded = System.load(root).decoder("idempotence")
    for p, q in zip(loaded.unet.parameters(), dec.unet.parameters()):
        assert torch.equal(p, q)
    assert loaded.num_train_timesteps == 50
    # one rule for pickles (docs/reliability.md): a pickle beside the safetensors refuses the folder, naming it
    (folder / "prior" / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not a pickle to be loaded")
    with pytest.raises(RdpflexError, match=r"pickle file\(s\) prior/unet/diffusion_pytorch_model.bin"):
        System.load(root).decoder("idempotence")


def test_prior_is_shared_across_codecs(setup, tmp_path):
    """One prior serves any codec: the folder copied into another system loads without a fingerprint check."""
    _, dec, _ = setup
    other = System.tiny("msh", seed=5).save(tmp_path / "other")
    dec.save_pretrained(other / "decoders" / "idempotence")
    assert isinstance(System.load(other).decoder("idempotence"), IdempotenceDecoder)


def test_missing_prior_is_a_one_line_error(tmp_path):
    with pytest.raises(WeightsMissingError, match="not found") as err:
        load_prior("no-such-prior", base=tmp_path)
    assert "\n" not in str(err.value)
    unet, sched = build_prior(16, (8,), 1, 4), build_scheduler(10)
    save_prior(unet, sched, tmp_path / "p")
    loaded, cfg = load_prior(str(tmp_path / "p"))
    assert cfg["num_train_timesteps"] == 10


def test_prior_stage_training_reduces_the_loss_and_exports(tmp_path):
    from rdpflex.train import train

    out = tmp_path / "run"
    path = train(
        "recipes/tiny/idempotence-prior.yaml",
        ["train.steps=12", "optim.lr=5e-3", "validation.at_start=true", "validation.every=12", "prior.ema_decay=0.5"],
        output=out,
    )
    assert path == out / "prior"
    assert (path / "unet" / "diffusion_pytorch_model.safetensors").is_file() and (path / "scheduler").is_dir()
    val = [json.loads(line)["val_denoise_loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(val) == 2 and val[1] < val[0], val


def test_the_bundled_decoder_at_its_defaults_re_encodes_at_least_as_faithfully_as_mse():
    """The user's path (a 256x256 photograph): a file decoded by ``decode_images`` with the bundled prior and
    default options, re-encoded; its ``mse`` decode lands as close to the file's as the ``mse`` decoder's own
    output does, and its PSNR is within the theory's 3.01 dB of ``mse``."""
    from rdpflex.evaluation.reencode import mse_reconstruction, reencode
    from rdpflex.images import psnr
    from rdpflex.pipeline import decode_images
    from rdpflex.samples import sample_array

    system = System.load(None)
    photo = torch.from_numpy(sample_array("astronaut")[32:288, 128:384].copy()).permute(2, 0, 1)[None].float() / 255
    rdp = compress_images([("astronaut", photo)], system, estimate=False).rdp
    (lat,) = latents(rdp, system)
    ref = mse_reconstruction(lat, system.codec)
    ((_, out),) = decode_images(rdp, system, "idempotence")
    ((_, mse),) = decode_images(rdp, system, "mse")
    ours = reencode(out, lat, rdp.images[0], system.codec, reference=ref)
    theirs = reencode(mse, lat, rdp.images[0], system.codec, reference=ref)
    assert ours.mse_psnr >= max(35.0, theirs.mse_psnr), (ours, theirs)
    assert psnr(photo, out) >= psnr(photo, mse) - 3.01


def test_tiles_bound_the_memory_and_keep_the_constraint(setup):
    from rdpflex.tiling import TileSpec

    system, dec, lats = setup
    out = decode_batch(
        dec, lats[:1], system.codec, parse_options(type(dec), {}), [torch.Generator().manual_seed(0)], TileSpec(32, 16)
    )
    assert out.shape == (1, 3, 64, 64) and out.min() >= 0 and out.max() <= 1
    assert make_constraint(system.codec, lats[:1], "y").agreement(out).item() > 0.95


def test_a_large_image_untiled_is_refused_naming_the_budget_and_tile(setup):
    from rdpflex.latent import Latent
    from rdpflex_plugins.idempotence.plugin import MAX_UNTILED_PIXELS

    system, dec, lats = setup
    huge = Latent(lats[0].y_hat, (4096, 2048), (4096, 2048), "huge", lats[0].streams)
    with pytest.raises(OptionsError, match=rf"2048x4096 = 8388608 pixels .* above the {MAX_UNTILED_PIXELS} .*--tile"):
        _decode(dec, system, [huge])
