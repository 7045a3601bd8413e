"""Which metrics ``compare`` computes: ``auto`` (everything whose weights are here) or an explicit list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rdpflex.errors import RdpflexError, WeightsMissingError
from rdpflex.metrics import all_metrics, get_metric
from rdpflex.metrics.base import label_for

AUTO = "auto"


@dataclass
class MetricSelection:
    image: list[str] = field(default_factory=list)
    set: list[str] = field(default_factory=list)
    #: name -> why it is not computed (``auto`` only)
    skipped: dict[str, str] = field(default_factory=dict)
    #: name -> {label, kind, stand_in, higher_is_better, description}
    info: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return self.image + self.set

    def notes(self) -> list[str]:
        """One line per reason: ``metrics fid, kid skipped: <reason>``."""
        by_reason: dict[str, list[str]] = {}
        for n, why in self.skipped.items():
            by_reason.setdefault(why, []).append(n)
        return [f"metric{'s' if len(ns) > 1 else ''} {', '.join(ns)} skipped: {why}" for why, ns in by_reason.items()]


def _weights_problem(metric: Any) -> str | None:
    """The WeightsMissingError message when the metric's network weights are absent, else None."""
    probe = getattr(metric, "weights_path", None)
    if not callable(probe):
        return None
    try:
        probe()
    except WeightsMissingError as exc:
        return str(exc)
    return None


def _describe(metric: Any) -> dict[str, Any]:
    stand_in = bool(getattr(metric, "stand_in", False))
    return {
        "label": label_for(metric, stand_in),
        "kind": metric.kind,
        "stand_in": stand_in,
        "higher_is_better": bool(metric.higher_is_better),
        "description": getattr(metric, "description", ""),
    }


def parse_metric_list(metrics: str | Sequence[str] | None) -> list[str] | None:
    """``"psnr,lpips"`` / list -> names; ``None``/``"auto"`` -> None (auto)."""
    if metrics is None:
        return None
    items = [
        m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) for m in str(m).split(",")
    ]
    items = [m for m in items if m]
    if not items or items == [AUTO]:
        return None
    if AUTO in items:
        raise RdpflexError(f"--metrics: 'auto' cannot be combined with metric names (got {','.join(items)})")
    return list(dict.fromkeys(items))


def select_metrics(metrics: str | Sequence[str] | None = AUTO) -> MetricSelection:
    """Resolve a metric request.

    ``auto``: every registered metric whose weights are available; the others are listed in
    :attr:`MetricSelection.skipped` with the reason. An explicit list: unknown names and metrics whose
    weights are missing raise (:class:`~rdpflex.errors.UnknownPluginError`,
    :class:`~rdpflex.errors.WeightsMissingError` — one line naming the expected file).
    """
    names = parse_metric_list(metrics)
    sel = MetricSelection()
    if names is None:
        chosen = list(all_metrics().values())
        for m in chosen:
            problem = _weights_problem(m)
            if problem:
                sel.skipped[m.name] = problem
                continue
            (sel.image if m.kind == "image" else sel.set).append(m.name)
            sel.info[m.name] = _describe(m)
    else:
        for n in names:
            m = get_metric(n)
            problem = _weights_problem(m)
            if problem:
                raise WeightsMissingError(f"metric {n!r}: {problem}")
            (sel.image if m.kind == "image" else sel.set).append(m.name)
            sel.info[m.name] = _describe(m)
    return sel
