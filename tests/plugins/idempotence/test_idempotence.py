"""The ``idempotence`` decoder: guided sampling, prior loading, options, the ``prior`` stage."""

from __future__ import annotations

import json

import pytest
import torch

from rdpflex.decoders import decode_batch, parse_options
from rdpflex.errors import OptionsError, WeightsMissingError
from rdpflex.pipeline import compress_images, latents
from rdpflex.system import System
from rdpflex_plugins.idempotence.guidance import guided_sample, make_constraint
from rdpflex_plugins.idempotence.plugin import IdempotenceDecoder, IdempotenceOptions
from rdpflex_plugins.idempotence.prior import build_prior, build_scheduler, load_prior, save_prior
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


def test_both_schedulers_and_retries(setup):
    system, dec, lats = setup
    for scheduler in ("ddpm", "ddim"):
        out = _decode(dec, system, lats, steps=3, scheduler=scheduler, retries=1, target=1.0, constraint="y")
        assert out.shape == (2, 3, 64, 64)


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


def test_prior_round_trip_through_from_pretrained(setup, tmp_path):
    """The real loading path, offline: save_pretrained folders read back with use_safetensors=True."""
    system, dec, lats = setup
    root = system.save(tmp_path / "sys")
    System.load(root).add_decoder(dec)
    folder = root / "decoders" / "idempotence"
    assert json.loads((folder / "config.json").read_text())["prior"] == "prior"
    assert "codec_fingerprint" not in json.loads((folder / "config.json").read_text())  # codec-independent
    (folder / "prior" / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not a pickle to be loaded")
    loaded = System.load(root).decoder("idempotence")
    for p, q in zip(loaded.unet.parameters(), dec.unet.parameters()):
        assert torch.equal(p, q)
    assert loaded.num_train_timesteps == 50


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
