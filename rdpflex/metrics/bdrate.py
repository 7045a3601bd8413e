"""Bjøntegaard delta rate: the average bitrate difference between two rate–distortion curves.

G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves", ITU-T VCEG-M33 (2001),
with the piecewise cubic (PCHIP) interpolation of log-rate that JVET's common test conditions use
instead of the original cubic fit (it is monotone, and defined from two points up).

``bd_rate(test, anchor)`` is the mean of ``log10(rate_test / rate_anchor)`` over the quality interval
both curves cover, as a percentage: -20 means the test codec needs 20% fewer bits than the anchor for
the same quality. :func:`rate_at_quality` is the one-point case (a single codec operating point
against an anchor curve).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.interpolate import PchipInterpolator

Curve = Sequence[tuple[float, float]]  # (rate, quality) points, e.g. (bpp, PSNR)


def _log_rate_of_quality(curve: Curve) -> tuple[PchipInterpolator | None, np.ndarray]:
    from scipy.interpolate import PchipInterpolator

    pts = sorted({(float(q), math.log10(float(r))) for r, q in curve if r > 0 and math.isfinite(q)})
    qs = np.array([q for q, _ in pts])
    if len(qs) < 2 or np.any(np.diff(qs) <= 0):
        return None, qs
    return PchipInterpolator(qs, np.array([lr for _, lr in pts])), qs


def bd_rate(test: Curve, anchor: Curve) -> float | None:
    """Bjøntegaard delta rate of ``test`` against ``anchor`` in percent (negative: ``test`` saves bits).

    None when either curve has fewer than two distinct qualities or the quality ranges do not overlap.
    """
    f_test, q_test = _log_rate_of_quality(test)
    f_anchor, q_anchor = _log_rate_of_quality(anchor)
    if f_test is None or f_anchor is None:
        return None
    lo, hi = max(q_test[0], q_anchor[0]), min(q_test[-1], q_anchor[-1])
    if not hi > lo:
        return None
    diff = (f_test.integrate(lo, hi) - f_anchor.integrate(lo, hi)) / (hi - lo)
    return float((10.0**diff - 1.0) * 100.0)


def rate_at_quality(anchor: Curve, quality: float) -> float | None:
    """The anchor curve's rate at ``quality`` (PCHIP in log-rate); None outside its quality range."""
    f, qs = _log_rate_of_quality(anchor)
    if f is None or not qs[0] <= quality <= qs[-1]:
        return None
    return float(10.0 ** f(quality))


def rate_saving(point: tuple[float, float], anchor: Curve) -> float | None:
    """Rate difference in percent of one ``(rate, quality)`` point against the anchor at equal quality.

    -30 means the point needs 30% fewer bits than the anchor needs for the same quality; None when the
    point's quality lies outside the anchor's range.
    """
    rate, quality = point
    ref = rate_at_quality(anchor, quality)
    return None if ref is None else float((rate / ref - 1.0) * 100.0)
