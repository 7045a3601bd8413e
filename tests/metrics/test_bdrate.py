"""Bjøntegaard delta rate (VCEG-M33 with PCHIP): known shifts of a curve give known answers."""

from __future__ import annotations

import math

import pytest

from rdpflex.metrics.bdrate import bd_rate, rate_at_quality, rate_saving

JPEG_LIKE = [(0.25, 26.0), (0.4, 28.5), (0.7, 31.0), (1.2, 33.8)]


def scaled(curve, factor):
    return [(r * factor, q) for r, q in curve]


def test_a_curve_against_itself_is_zero_and_a_scaled_curve_gives_its_factor():
    assert bd_rate(JPEG_LIKE, JPEG_LIKE) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(scaled(JPEG_LIKE, 0.5), JPEG_LIKE) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(scaled(JPEG_LIKE, 1.25), JPEG_LIKE) == pytest.approx(25.0, abs=1e-6)
    # order of points does not matter
    assert bd_rate(list(reversed(scaled(JPEG_LIKE, 0.8))), JPEG_LIKE) == pytest.approx(-20.0, abs=1e-6)


def test_only_the_overlapping_quality_range_counts():
    test = [(0.3, 30.0), (0.5, 32.0)]  # overlaps JPEG_LIKE on 30..32 dB
    lo = math.log10(0.3) - math.log10(rate_at_quality(JPEG_LIKE, 30.0))
    hi = math.log10(0.5) - math.log10(rate_at_quality(JPEG_LIKE, 32.0))
    value = bd_rate(test, JPEG_LIKE)
    assert value is not None and (10 ** min(lo, hi) - 1) * 100 <= value <= (10 ** max(lo, hi) - 1) * 100


def test_undefined_cases_give_none():
    assert bd_rate([(0.3, 30.0)], JPEG_LIKE) is None  # one point is not a curve
    assert bd_rate([(0.1, 40.0), (0.2, 41.0)], JPEG_LIKE) is None  # no overlap
    assert bd_rate([(0.1, 30.0), (0.2, 30.0)], JPEG_LIKE) is None  # no quality range


def test_one_operating_point_against_a_curve():
    assert rate_saving((0.4, 28.5), JPEG_LIKE) == pytest.approx(0.0, abs=1e-9)
    assert rate_saving((0.2, 28.5), JPEG_LIKE) == pytest.approx(-50.0, abs=1e-9)
    assert rate_saving((0.2, 40.0), JPEG_LIKE) is None
    mid = rate_at_quality(JPEG_LIKE, 29.75)
    assert 0.4 < mid < 0.7  # monotone interpolation between the neighbours
