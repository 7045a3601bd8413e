"""Compute several metrics at once, returning labelled :class:`MetricResult` s (what ``compare`` uses)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeGuard

from torch import Tensor

from rdpflex.errors import RdpflexError
from rdpflex.metrics.base import ImageMetric, Kind, Metric, MetricResult, SetMetric, label_for, notes_of
from rdpflex.metrics.fidelity import FidelityMetric, fidelity_scores
from rdpflex.metrics.image import LPIPS
from rdpflex.metrics.registry import DEFAULT_IMAGE_METRICS, DEFAULT_SET_METRICS, get_metric


def _dedupe(notes: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(notes))


def _result(metric: Metric, values: dict[str, Any], stand_in: bool) -> MetricResult:
    if metric.name not in values:
        raise RdpflexError(f"metric {metric.name!r} returned no value under its own name (keys: {', '.join(values)})")
    notes: list[str] = []
    for v in values.values():
        notes.extend(notes_of(v))
    return MetricResult(
        name=metric.name,
        value=float(values[metric.name]),
        label=label_for(metric, stand_in),
        stand_in=bool(stand_in),
        higher_is_better=bool(metric.higher_is_better),
        notes=_dedupe(notes),
        extra={k: (v if isinstance(v, int) else float(v)) for k, v in values.items() if k != metric.name},
    )


def _lookup(names: Sequence[str], kind: Kind) -> list[Metric]:
    if isinstance(names, str):
        names = [names]
    out = []
    for n in dict.fromkeys(names):
        m = get_metric(n)
        if m.kind != kind:
            other = "compute_set_metrics" if m.kind == "set" else "compute_image_metrics"
            raise RdpflexError(f"metric {n!r} is a {m.kind}-level metric; compute it with {other}()")
        out.append(m)
    return out


def _is_image_metric(m: Metric) -> TypeGuard[ImageMetric]:
    """Whether ``m`` is of kind ``image`` (registration checked that such a metric has ``compute``)."""
    return m.kind == "image"


def _is_set_metric(m: Metric) -> TypeGuard[SetMetric]:
    """Whether ``m`` is of kind ``set`` (registration checked that such a metric has ``compute_set``)."""
    return m.kind == "set"


def _image_metrics(names: Sequence[str]) -> list[ImageMetric]:
    return [m for m in _lookup(names, "image") if _is_image_metric(m)]


def _set_metrics(names: Sequence[str]) -> list[SetMetric]:
    return [m for m in _lookup(names, "set") if _is_set_metric(m)]


def compute_image_metrics(
    x: Tensor,
    x_hat: Tensor,
    names: Sequence[str] = DEFAULT_IMAGE_METRICS,
    *,
    alexnet_weights: str | os.PathLike | None = None,
) -> dict[str, MetricResult]:
    """Per-image metrics of one reconstruction ``x_hat`` of ``x`` (``(1, 3, H, W)`` in [0, 1]).

    Returns ``{name: MetricResult}`` in the order of ``names``. A metric that does not apply (MS-SSIM on a
    small image) gives NaN with a note; missing weights raise :class:`~rdpflex.errors.WeightsMissingError`.
    ``alexnet_weights`` overrides where the built-in LPIPS finds its AlexNet weights.
    """
    out: dict[str, MetricResult] = {}
    for metric in _image_metrics(names):
        if alexnet_weights is not None and isinstance(metric, LPIPS):
            metric = LPIPS(weights=alexnet_weights)
        value = metric.compute(x, x_hat)
        out[metric.name] = _result(metric, {metric.name: value}, metric.stand_in)
    return out


def compute_set_metrics(
    originals: list[Tensor],
    recons: list[Tensor],
    names: Sequence[str] = DEFAULT_SET_METRICS,
    *,
    inception_weights: str | os.PathLike | None = None,
    cuda: bool | None = None,
    batch_size: int | None = None,
) -> dict[str, MetricResult]:
    """Set-level metrics of ``recons`` against ``originals`` (lists of ``(1, 3, H, W)`` in [0, 1] or uint8).

    ``recons[i]`` reconstructs ``originals[i]``. Built-in FID and KID on the same inputs (whole images,
    or the same patch size) share one Inception pass. ``inception_weights``, ``cuda`` (default: when
    available) and ``batch_size`` apply to the built-in Inception metrics.
    """
    metrics = _set_metrics(names)
    overrides = dict(weights=inception_weights, cuda=cuda, batch_size=batch_size)
    metrics = [m.with_options(**overrides) if isinstance(m, FidelityMetric) else m for m in metrics]

    shared: dict[tuple, dict[str, float]] = {}
    groups: dict[tuple, list[FidelityMetric]] = {}
    for m in metrics:
        if isinstance(m, FidelityMetric):
            groups.setdefault(m.group, []).append(m)
    for group, members in groups.items():
        first = members[0]
        shared[group] = fidelity_scores(
            originals,
            recons,
            fid=any(m.stat == "fid" for m in members),
            kid=any(m.stat == "kid" for m in members),
            patch_size=first.patch_size,
            weights=first.weights,
            cuda=first.cuda,
            batch_size=first.batch_size,
        )

    out: dict[str, MetricResult] = {}
    for m in metrics:
        values = m.select(shared[m.group]) if isinstance(m, FidelityMetric) else m.compute_set(originals, recons)
        out[m.name] = _result(m, dict(values), m.stand_in)
    return out


def mean_rows(rows: Sequence[Mapping[str, Any]], keys: Iterable[str] | None = None) -> dict[str, float]:
    """Mean of each key over the rows (validation rows, per-image metric rows): the one averaging helper.

    ``keys`` default to the first row's. Missing values, None and NaN are left out of a key's mean;
    a key with no value at all averages to NaN. No rows: ``{}``.
    """
    if not rows:
        return {}
    out: dict[str, float] = {}
    for k in rows[0] if keys is None else keys:
        vals = [float(v) for r in rows if (v := r.get(k)) is not None and not math.isnan(v)]
        out[k] = float(sum(vals) / len(vals)) if vals else float("nan")
    return out
