"""cdiff with the rectified-flow objective: training, the flow samplers, the objective/sampler match, the folder."""

import json

import pytest
import torch
from accelerate import Accelerator
from diffusers.utils.torch_utils import randn_tensor

from rdpflex.decoders import decode_batch, parse_options
from rdpflex.errors import OptionsError, RecipeError
from rdpflex.system import System
from rdpflex.tiling import TileSpec
from rdpflex.train.recipe import RECIPES_DIR, load_recipe
from rdpflex.train.stage import StepContext
from rdpflex_plugins.cdiff import CDiffDecoder, make_scheduler
from rdpflex_plugins.cdiff.objectives import FlowObjective
from rdpflex_plugins.cdiff.options import ALL_SCHEDULERS, CDiffOptions
from rdpflex_plugins.cdiff.sampling import SCHEDULER_NAMES
from rdpflex_plugins.cdiff.settings import CDiffSettings
from rdpflex_plugins.cdiff.training import CDiffTrainer

from .cdiff_helpers import losses_on_a_fixed_cycle, random_latents, tiny_cdiff

FLOW = ["decoder.settings.objective=flow", "decoder.settings.validation.scheduler=flow-euler"]


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def run(decoder, system, lats, seeds, tile=None, **options):
    return decode_batch(decoder, lats, system.codec, parse_options(decoder, {"steps": 3} | options), gens(*seeds), tile)


@pytest.fixture(scope="module")
def flow(system) -> CDiffDecoder:
    return tiny_cdiff(system.codec.latent_channels, objective="flow")


def flow_trainer(system_dir, overrides=()):
    loaded = load_recipe(
        RECIPES_DIR / "tiny" / "cdiff-decoder.yaml", [f"decoder.system={system_dir}", *FLOW, *overrides]
    )
    codec = System.load(system_dir).codec.requires_grad_(False)
    settings = CDiffSettings.model_validate(loaded.config.settings)
    return CDiffTrainer(loaded.recipe, settings, None, codec), codec


def test_flow_objective_regresses_the_velocity_and_inverts_it():
    x0, eps = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    torch.manual_seed(0)
    draw = FlowObjective({"num_train_timesteps": 100}).noised(x0, eps)
    sigma = draw.level
    assert torch.allclose(draw.x_t, (1 - sigma) * x0 + sigma * eps)
    assert torch.equal(draw.target, eps - x0)  # diffusers' velocity: FlowMatchEulerDiscreteScheduler.step
    assert torch.allclose(draw.t, sigma.flatten() * 100) and draw.t.is_floating_point()
    assert torch.allclose(FlowObjective({"num_train_timesteps": 100}).predicted_x0(draw.target, draw), x0, atol=1e-5)


def test_a_few_flow_training_steps_reduce_the_loss(tiny_system_dir):
    torch.manual_seed(0)
    trainer, codec = flow_trainer(tiny_system_dir)
    assert trainer.settings.objective == "flow" and trainer.scheduler_config == {
        "num_train_timesteps": 100,
        "shift": 1.0,
    }
    losses, logs, x, ctx = losses_on_a_fixed_cycle(trainer, codec, "flow")
    assert all("diffusion" not in log for log in logs)
    assert sum(losses[-3:]) < 0.85 * sum(losses[:3])  # at least 15% lower on the same draws
    dec = trainer.export_decoder()
    assert dec.objective == "flow" and dec.Options().scheduler == "flow-euler"
    val = trainer.validate([x[:1]], codec, ctx)  # held-out sampling with validation.scheduler flow-euler
    assert set(val) == {"psnr_cdiff", "psnr_mse"} and val["psnr_cdiff"] > 0


def test_flow_with_a_perceptual_term_trains_on_the_predicted_clean_image(tiny_system_dir):
    """st-lpips (weights in its wheel: offline) on x0_hat = x_t - sigma v_hat."""
    trainer, codec = flow_trainer(
        tiny_system_dir, ["decoder.settings.perceptual=st-lpips", "decoder.settings.lpips_weight=0.1"]
    )
    ctx = StepContext(
        accelerator=Accelerator(cpu=True), modules=trainer.modules(), optimizers=trainer.optimizers(), total_steps=1
    )
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y_hat = codec.quantize(x)["y_hat"]
    ctx.step = 0
    logs = trainer.train_step(x, y_hat, ctx)
    assert logs["loss"] == pytest.approx(logs["flow"] + 0.1 * logs["st-lpips"], rel=1e-4)


def test_the_validation_sampler_must_fit_the_objective(tiny_system_dir):
    base = [f"decoder.system={tiny_system_dir}", "decoder.settings.objective=flow"]
    with pytest.raises(RecipeError) as exc:  # the tiny recipe validates with ddim
        load_recipe(RECIPES_DIR / "tiny" / "cdiff-decoder.yaml", base)
    assert (
        "validation.scheduler 'ddim' does not fit objective 'flow'; "
        "use one of: flow-euler, flow-heun (unset: flow-euler)" in str(exc.value)
    )
    unset = load_recipe(RECIPES_DIR / "tiny" / "cdiff-decoder.yaml", [*base, "decoder.settings.validation.scheduler="])
    assert CDiffSettings.model_validate(unset.config.settings).validation_scheduler == "flow-euler"
    assert CDiffSettings().objective == "diffusion" and CDiffSettings().validation_scheduler == "ddim"


def test_euler_with_one_step_is_the_closed_form_update(system, lats):
    """x_0 = x_1 - v(x_1, sigma = 1): the UNet at timestep T on the initial noise, one subtraction."""
    for condition_on_mse, target in [(True, "residual"), (False, "image")]:
        dec = tiny_cdiff(
            system.codec.latent_channels, objective="flow", condition_on_mse=condition_on_mse, target=target
        )
        sched = make_scheduler("flow-euler", dec.scheduler_config, 1)
        assert sched.timesteps.tolist() == [100.0] and sched.sigmas.tolist() == [1.0, 0.0]
        out = run(dec, system, lats[:1], [5], scheduler="flow-euler", steps=1)
        assert torch.equal(out, run(dec, system, lats[:1], [5], scheduler="flow-heun", steps=1))  # one Heun step: Euler
        with torch.no_grad():
            y_hat = lats[0].y_hat
            x_mse = system.codec.synthesize(y_hat).clamp(0, 1) if dec.denoiser.needs_mse else None
            cond = dec.denoiser.condition(y_hat, x_mse)
            x1 = randn_tensor((1, 3, *cond.shape[-2:]), generator=gens(5), dtype=torch.float32)
            x0 = x1 - dec.denoiser(x1, torch.tensor(100.0), cond)
            expected = dec.denoiser.to_image(x0, x_mse).clamp(0, 1)
        assert (out - expected).abs().max() < 1e-5


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_flow_samplers_end_at_sigma_zero(system, flow, lats, steps):
    euler = make_scheduler("flow-euler", flow.scheduler_config, steps)
    assert euler.sigmas[-1] == 0 and len(euler.timesteps) == steps
    assert torch.allclose(euler.sigmas[:-1], torch.linspace(1, 1 / steps, steps))  # uniform Euler steps
    assert torch.allclose(euler.timesteps, euler.sigmas[:-1] * 100)
    heun = make_scheduler("flow-heun", flow.scheduler_config, steps)
    assert heun.sigmas[-1] == 0 and heun.sigmas[0] == 1 and len(heun.timesteps) == 2 * steps - 1
    for name in ("flow-euler", "flow-heun"):
        x = run(flow, system, lats[:1], [1], scheduler=name, steps=steps)
        assert torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1


def test_a_sampler_of_the_other_objective_is_refused_in_one_line(system, flow, decoder):
    with pytest.raises(OptionsError) as exc:
        parse_options(flow, {"scheduler": "ddim"})
    assert str(exc.value) == (
        "cdiff: scheduler 'ddim' does not fit this decoder's objective 'flow'; use one of: flow-euler, flow-heun"
    )
    with pytest.raises(OptionsError, match="objective 'diffusion'; use one of: ddpm, ddim, dpm-solver$"):
        parse_options(decoder, {"scheduler": "flow-heun"})
    with pytest.raises(OptionsError, match="eta applies to scheduler ddim only"):
        parse_options(flow, {"eta": "0.5"})
    with pytest.raises(OptionsError) as exc:  # the decoder's own check names the ranges of its objective
        flow.resolve({"steps": 0})
    assert "\n" not in str(exc.value) and "scheduler in {flow-euler, flow-heun}" in str(exc.value)
    # class level (no weights loaded): every sampler, unset = the loaded decoder's default
    assert parse_options(CDiffDecoder, {"scheduler": "flow-heun"}).scheduler == "flow-heun"
    unset = parse_options(CDiffDecoder, {})
    assert unset.scheduler is None
    assert flow.resolve(unset).scheduler == "flow-euler" and decoder.resolve(unset).scheduler == "ddim"
    assert parse_options(flow, {}).scheduler == "flow-euler" and parse_options(decoder, {}).scheduler == "ddim"
    assert parse_options(flow, {}).steps == 2  # a near-straight flow needs few steps by default
    assert parse_options(decoder, {}).steps == min(16, decoder.Options.model_fields["steps"].metadata[-1].le)


def test_the_family_sweep_fits_a_decoder_of_either_objective(flow, decoder):
    """`compare`'s default sweep must not name a sampler: it would skip a decoder of the other objective."""
    from itertools import product

    from rdpflex_plugins.cdiff.hooks import DECODER

    for values in product(*DECODER.sweep.values()):
        setting = dict(zip(DECODER.sweep, values))
        assert parse_options(flow, setting).scheduler == "flow-euler"
        assert parse_options(decoder, setting).scheduler == "ddim"


def test_the_listing_names_every_sampler():
    from rdpflex.cards import describe, option_range
    from rdpflex.plugins import get_decoder_card

    prop = describe(get_decoder_card("cdiff"))["options"]["properties"]["scheduler"]
    assert option_range("scheduler", prop) == "scheduler in {ddpm, ddim, dpm-solver, flow-euler, flow-heun}"
    assert SCHEDULER_NAMES == ALL_SCHEDULERS and CDiffOptions().scheduler is None


@pytest.mark.parametrize("scheduler", ["flow-euler", "flow-heun"])
def test_flow_batch_gives_the_same_pixels_as_one_at_a_time(system, flow, lats, scheduler):
    batch = run(flow, system, lats, [10, 11, 12], scheduler=scheduler)
    alone = torch.cat([run(flow, system, [lat], [10 + i], scheduler=scheduler) for i, lat in enumerate(lats)])
    assert batch.shape == (3, 3, 64, 64)
    assert (batch - alone).abs().max() < 1e-3  # float roundoff of batched convolutions only


def test_flow_seed_determinism(system, flow, lats):
    a = run(flow, system, lats[:1], [3])
    assert torch.equal(a, run(flow, system, lats[:1], [3]))
    assert (a - run(flow, system, lats[:1], [4])).abs().mean() > 1e-3


def test_flow_tiled_and_whole_image_agree(system, flow):
    (lat,) = random_latents(system, 1, 128)
    whole = run(flow, system, [lat], [1])
    tiled = run(flow, system, [lat], [1], tile=TileSpec(64, 32))
    other_seed = run(flow, system, [lat], [2])
    assert (whole - tiled).abs().mean() < 0.25 * (whole - other_seed).abs().mean()


def test_a_flow_decoder_saves_and_loads_with_its_objective(tmp_path, system, flow, lats):
    root = System(system.codec).save(tmp_path / "sys")
    System.load(root).add_decoder(flow)
    folder = root / "decoders" / "cdiff"
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["objective"] == "flow" and cfg["format_version"] == 2
    sched = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert sched["_class_name"] == "FlowMatchEulerDiscreteScheduler" and sched["num_train_timesteps"] == 100
    weights = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "config" not in p.name}
    assert weights == {"unet/diffusion_pytorch_model.safetensors", "adapter/diffusion_pytorch_model.safetensors"}
    loaded = System.load(root).decoder("cdiff")
    assert loaded.objective == "flow" and loaded.Options().scheduler == "flow-euler"
    assert all(torch.equal(a, b) for a, b in zip(flow.state_dict().values(), loaded.state_dict().values()))
    assert (run(flow, system, lats[:1], [9]) - run(loaded, system, lats[:1], [9])).abs().max() < 1e-3
    with pytest.raises(OptionsError, match="does not fit this decoder's objective 'flow'"):
        parse_options(loaded, {"scheduler": "dpm-solver"})


def test_an_old_config_without_objective_loads_as_diffusion(tmp_path, system, decoder):
    root = System(system.codec).save(tmp_path / "sys")
    System.load(root).add_decoder(decoder)
    path = root / "decoders" / "cdiff" / "config.json"
    cfg = json.loads(path.read_text())
    assert cfg["objective"] == "diffusion" and cfg["format_version"] == 1  # diffusion folders stay format 1
    del cfg["objective"]
    path.write_text(json.dumps(cfg))
    loaded = System.load(root).decoder("cdiff")
    assert loaded.objective == "diffusion" and loaded.Options().scheduler == "ddim"
    assert loaded.scheduler_config["trained_betas"] == decoder.scheduler_config["trained_betas"]
