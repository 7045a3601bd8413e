"""Decoder specs, knob grids, sweeps and metric selection (no decoding)."""

from __future__ import annotations

import pytest

from rdpflex.errors import OptionsError, UnknownPluginError, WeightsMissingError
from rdpflex.evaluation import parse_decoder_spec, resolve_settings, select_metrics
from rdpflex.system import System


def test_parse_spec_grid():
    spec = parse_decoder_spec("cdiff:steps=10,50:scheduler=ddim,ddpm")
    assert spec.name == "cdiff"
    assert spec.knobs == (("steps", ("10", "50")), ("scheduler", ("ddim", "ddpm")))
    assert parse_decoder_spec("mse").knobs == ()
    assert parse_decoder_spec("x;a=1").knobs == (("a", ("1",)),)


@pytest.mark.parametrize("bad", ["", ":a=1", "mse:beta", "mse:beta=", "mse:a=1:a=2", "m s e"])
def test_parse_spec_errors(bad):
    with pytest.raises(OptionsError):
        parse_decoder_spec(bad)


def test_settings_cartesian_product_and_validation(eval_system_dir):
    system = System.load(eval_system_dir)
    settings = resolve_settings(system, ["noisy:sigma=0,0.2", "mse"])
    assert [s.key for s in settings] == ["noisy[sigma=0]", "noisy[sigma=0.2]", "mse[default]"]
    assert settings[1].options.sigma == pytest.approx(0.2)
    with pytest.raises(OptionsError, match="sigma"):
        resolve_settings(system, ["noisy:sigma=9"])
    with pytest.raises(OptionsError):
        resolve_settings(system, ["mse:beta=1"])
    with pytest.raises(UnknownPluginError, match="installed decoders"):
        resolve_settings(system, ["nosuchdecoder"])


def test_default_settings_use_sweep_and_dedupe(eval_system_dir):
    system = System.load(eval_system_dir)
    notes: list[str] = []
    settings = resolve_settings(system, None, notes)
    # mse first, then every trained decoder at its sweep
    assert [s.key for s in settings] == ["mse[default]", "noisy[sigma=0]", "noisy[sigma=0.1]", "noisy[sigma=0.3]"]
    notes.clear()
    twice = resolve_settings(system, ["mse", "mse"], notes)
    assert len(twice) == 1 and any("more than once" in n for n in notes)


def test_metric_selection(stand_in_home):
    sel = select_metrics("auto")
    assert {"psnr", "ms_ssim", "lpips"} <= set(sel.image)
    assert {"fid", "fid256"} <= set(sel.set)
    assert sel.info["lpips"]["stand_in"] and "(stand-in weights)" in sel.info["lpips"]["label"]
    assert not sel.info["psnr"]["stand_in"]
    assert select_metrics("psnr,fid256").names == ["psnr", "fid256"]


def test_metric_selection_without_weights(empty_home):
    sel = select_metrics("auto")
    assert {"psnr", "ms_ssim"} <= set(sel.names)
    assert set(sel.skipped) >= {"lpips", "fid", "kid", "fid256", "kid256"}
    assert not set(sel.names) & set(sel.skipped)
    assert any("alexnet-owt-7be5be79.pth" in n for n in sel.notes())
    with pytest.raises(WeightsMissingError, match="alexnet-owt-7be5be79.pth"):
        select_metrics(["psnr", "lpips"])
    with pytest.raises(UnknownPluginError):
        select_metrics("psnr,nope")
