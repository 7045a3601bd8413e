"""The report's note on a decoder knob that changed nothing measurable."""

import math

from rdpflex.evaluation.knobs import flat_knob_notes


def rows(decoder, settings, **metrics):
    return [{"decoder": decoder, "setting": s, **{m: v[k] for m, v in metrics.items()}} for k, s in enumerate(settings)]


BETAS = ["beta=0", "beta=1.28", "beta=2.56"]


def test_flat_sweep_is_noted_with_its_spread():
    summary = rows(
        "multirealism", BETAS, psnr=[29.23, 29.25, 29.24], detail=[0.73, 0.725, 0.727], swd=[54.0, 54.5, 54.1]
    )
    (note,) = flat_knob_notes(summary, [("multirealism", s) for s in BETAS], ["psnr", "detail", "swd"])
    assert note.startswith("multirealism: its settings beta=0 ... beta=2.56")
    assert "PSNR spread 0.02 dB" in note and "detail, swd" in note and "under-trained" in note


def test_a_sweep_that_moves_any_metric_is_not_noted():
    learned = [("multirealism", s) for s in BETAS]
    psnr_moves = rows("multirealism", BETAS, psnr=[29.2, 28.9, 28.1], detail=[0.73, 0.73, 0.73])
    realism_moves = rows("multirealism", BETAS, psnr=[29.23, 29.25, 29.24], detail=[0.73, 0.80, 0.95])
    assert flat_knob_notes(psnr_moves, learned, ["psnr", "detail"]) == []
    assert flat_knob_notes(realism_moves, learned, ["psnr", "detail"]) == []


def test_needs_two_settings_psnr_and_another_metric():
    one = rows("mse", ["default"], psnr=[29.6], detail=[0.68])
    assert flat_knob_notes(one, [("mse", "default")], ["psnr", "detail"]) == []
    psnr_only = rows("cdiff", ["steps=4", "steps=16"], psnr=[28.02, 28.0])
    assert flat_knob_notes(psnr_only, [("cdiff", "steps=4"), ("cdiff", "steps=16")], ["psnr"]) == []
    missing = rows("cdiff", ["steps=4", "steps=16"], psnr=[28.02, math.nan], detail=[1.0, 1.0])
    assert flat_knob_notes(missing, [("cdiff", "steps=4"), ("cdiff", "steps=16")], ["psnr", "detail"]) == []


def test_baseline_rows_are_ignored():
    summary = rows("jpeg", ["q20", "q21"], psnr=[29.44, 29.45], detail=[0.7, 0.7])
    assert flat_knob_notes(summary, [], ["psnr", "detail"]) == []
