"""The one helper per job: 8-bit conversion, PSNR, averaging rows, an option's allowed range."""

import math

import numpy as np
import torch

from rdpflex.cards import option_range
from rdpflex.images import from_uint8, psnr, psnr_from_mse, quantize, to_uint8
from rdpflex.metrics import PSNR, mean_rows
from rdpflex.pipeline import psnr as pipeline_psnr


def test_quantize_rounds_half_up_and_round_trips():
    x = torch.tensor([0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255, 1.0, 1.2, -0.1]).view(1, 1, 1, 7).expand(1, 3, 1, 7)
    assert quantize(x)[0, 0, 0].tolist() == [0, 1, 2, 3, 255, 255, 0]
    a = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(to_uint8(from_uint8(a)), a)


def test_one_psnr_everywhere():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(1, 3, 16, 16, generator=g), torch.rand(1, 3, 16, 16, generator=g)
    value = psnr(x, y)
    assert value == PSNR().compute(x, y) == pipeline_psnr(x, y)
    assert value == psnr(to_uint8(x), to_uint8(y))  # uint8 arrays give the same number
    assert psnr(x, x) == math.inf and psnr_from_mse(0.0) == math.inf
    assert psnr_from_mse(1.0, peak=1.0) == 0.0


def test_psnr_rounds_half_up_not_to_even():
    """2.5/255 is 3 on 8 bits (PNG writers round half up), not 2 (round half to even)."""
    x = torch.full((1, 3, 2, 2), 2.5 / 255)
    assert psnr(x, torch.full((1, 3, 2, 2), 3 / 255)) == math.inf


def test_mean_rows_skips_missing_and_nan():
    rows = [{"a": 1.0, "b": float("nan")}, {"a": 3.0, "b": 2.0}, {"a": None}]
    assert mean_rows(rows) == {"a": 2.0, "b": 2.0}
    assert math.isnan(mean_rows(rows, ["c"])["c"]) and mean_rows([]) == {}


def test_option_range():
    assert option_range("beta", {"minimum": 0, "maximum": 2.56}) == "0 <= beta <= 2.56"
    assert option_range("seed", {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}) == "0 <= seed"
    assert option_range("mode", {"enum": ["x", "y"]}) == "mode in {x, y}"
    assert option_range("free", {}) == "free"
