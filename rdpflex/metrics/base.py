"""The metric interface, declared once, and the values metrics return.

Two kinds of metric::

    kind "image":  compute(x, x_hat) -> float                      one original/reconstruction pair
    kind "set":    compute_set(originals, recons) -> {key: float}   a whole set (FID, KID, FID/256 ...)

Images are float tensors ``(1, 3, H, W)`` in ``[0, 1]`` (``x`` the original). A metric that cannot be
computed for a given input (an image too small for MS-SSIM, too few patches for FID/256) returns NaN
as a :class:`MetricValue` carrying a note instead of raising; the ``compute_*_metrics`` helpers turn
those notes into :attr:`MetricResult.notes`.

A plugin registers metric *objects* (instances, not classes) through the ``register_metrics`` hook::

    @rdpflex.hookspecs.hookimpl
    def register_metrics(register):
        register(MyMetric())
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from torch import Tensor

from rdpflex.errors import RdpflexError

Kind = Literal["image", "set"]
KINDS = ("image", "set")
STAND_IN_SUFFIX = " (stand-in weights)"


@runtime_checkable
class Metric(Protocol):
    """Attributes every metric has (``kind`` says which of the two ``compute`` methods it provides).

    Read-only: a metric may declare them as class attributes, instance attributes or properties.
    """

    @property
    def name(self) -> str:
        """Stable identifier, used on the command line and as the key in reports (``psnr``, ``fid256``)."""
        ...

    @property
    def kind(self) -> Kind:
        """``"image"`` (implements :meth:`ImageMetric.compute`) or ``"set"`` (:meth:`SetMetric.compute_set`)."""
        ...

    @property
    def higher_is_better(self) -> bool: ...

    @property
    def description(self) -> str:
        """One line for listings."""
        ...

    @property
    def stand_in(self) -> bool:
        """True while the metric's network uses stand-in (not the official) weights; every value computed
        then must be labelled as such (see :func:`rdpflex.metrics.label`)."""
        ...


@runtime_checkable
class ImageMetric(Metric, Protocol):
    def compute(self, x: Tensor, x_hat: Tensor) -> float:
        """Score of one reconstruction ``x_hat`` of the original ``x`` (both ``(1, 3, H, W)`` in ``[0, 1]``).

        Return NaN (ideally :func:`skipped`) when the pair is outside the metric's domain.
        """
        ...


@runtime_checkable
class SetMetric(Metric, Protocol):
    def compute_set(self, originals: list[Tensor], recons: list[Tensor]) -> dict[str, float]:
        """Scores of a set of reconstructions; ``recons[i]`` reconstructs ``originals[i]``.

        The key ``name`` holds the headline value; other keys (``kid_std``, ``fid256_patches``) are extras.
        """
        ...


class MetricValue(float):
    """A float with notes attached (why it is NaN, or a caveat such as "only 12 patches").

    It *is* a float, so metrics may return it wherever a float is expected.
    """

    notes: tuple[str, ...]

    def __new__(cls, value: float, *notes: str) -> "MetricValue":
        obj = super().__new__(cls, value)
        obj.notes = tuple(n for n in notes if n)
        return obj

    def __repr__(self) -> str:
        return f"MetricValue({float(self)!r}, notes={self.notes!r})"

    def __reduce__(self) -> tuple[type[MetricValue], tuple[float | str, ...]]:  # pickling / copying keeps the notes
        return (MetricValue, (float(self), *self.notes))


def skipped(note: str) -> MetricValue:
    """NaN with the reason the metric was not computed."""
    return MetricValue(math.nan, note)


def notes_of(value: Any) -> tuple[str, ...]:
    return tuple(getattr(value, "notes", ()))


def display_name(metric: Metric) -> str:
    """``metric.title`` when a metric defines one (``MS-SSIM``), else its ``name``."""
    return getattr(metric, "title", None) or metric.name


def label_for(metric: Metric, stand_in: bool | None = None) -> str:
    """``"FID"``, or ``"FID (stand-in weights)"`` when computed with stand-in weights."""
    s = metric.stand_in if stand_in is None else stand_in
    return display_name(metric) + (STAND_IN_SUFFIX if s else "")


@dataclass(frozen=True)
class MetricResult:
    """One metric's value as reported: the number plus everything needed to label it honestly."""

    name: str
    value: float
    #: label for tables and plots, e.g. ``"FID/256 (stand-in weights)"``
    label: str
    stand_in: bool
    higher_is_better: bool
    notes: tuple[str, ...] = ()
    #: further numbers from the same computation, e.g. ``{"kid_std": ..., }``, ``{"fid256_patches": 4096}``
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return math.isnan(self.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: NaN becomes ``None``."""

        def clean(v: float) -> float | int | None:
            if isinstance(v, int):
                return v
            return None if math.isnan(v) else float(v)

        return {
            "name": self.name,
            "label": self.label,
            "value": None if self.skipped else float(self.value),
            "stand_in": self.stand_in,
            "higher_is_better": self.higher_is_better,
            "notes": list(self.notes),
            **{k: clean(v) for k, v in self.extra.items()},
        }


def check_metric(obj: Any) -> None:
    """Raise :class:`RdpflexError` (one line) when ``obj`` does not follow :class:`Metric`."""
    name = getattr(obj, "name", None)
    who = f"metric {name!r}" if isinstance(name, str) else f"metric object {obj!r}"
    if not isinstance(name, str) or not name:
        raise RdpflexError(f"{who} has no string 'name'")
    for attr in ("kind", "higher_is_better", "description", "stand_in"):
        if not hasattr(obj, attr):
            raise RdpflexError(f"{who} lacks the attribute {attr!r} required of a metric")
    if obj.kind not in KINDS:
        raise RdpflexError(f"{who} has kind {obj.kind!r}; allowed: {', '.join(KINDS)}")
    method = "compute" if obj.kind == "image" else "compute_set"
    if not callable(getattr(obj, method, None)):
        raise RdpflexError(f"{who} is of kind {obj.kind!r} but has no {method}() method")
