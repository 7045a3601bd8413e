"""Which metrics exist: the built-ins plus those plugins register through ``register_metrics``."""

from __future__ import annotations

from functools import cache

from rdpflex.errors import RdpflexError, UnknownPluginError
from rdpflex.metrics.base import Metric, check_metric, label_for
from rdpflex.metrics.fidelity import PATCH_SIZE, FidelityMetric
from rdpflex.metrics.image import LPIPS, MSSSIM, PSNR, DetailRatio
from rdpflex.metrics.stlpips import STLPIPS
from rdpflex.metrics.swd import SlicedWasserstein
from rdpflex.plugins import get_metrics

DEFAULT_IMAGE_METRICS = ("psnr", "ms_ssim", "st-lpips", "lpips", "detail")
DEFAULT_SET_METRICS = ("fid", "kid", f"fid{PATCH_SIZE}", f"kid{PATCH_SIZE}", "swd")


@cache
def _builtins() -> tuple[Metric, ...]:
    return (
        PSNR(),
        MSSSIM(),
        STLPIPS("alex"),
        STLPIPS("vgg"),
        LPIPS(),
        DetailRatio(),
        FidelityMetric("fid"),
        FidelityMetric("kid"),
        FidelityMetric("fid", PATCH_SIZE),
        FidelityMetric("kid", PATCH_SIZE),
        SlicedWasserstein(),
    )


def builtin_metrics() -> dict[str, Metric]:
    """The metrics rdpflex ships, by name, in report order (one shared instance each)."""
    return {m.name: m for m in _builtins()}


def all_metrics() -> dict[str, Metric]:
    """Built-in metrics, then those registered by plugins (``register_metrics`` hook), by name.

    A plugin metric may not reuse a built-in name (unless it registers the very same object).
    """
    out = builtin_metrics()
    for name, metric in get_metrics().items():
        check_metric(metric)
        if name in out and out[name] is not metric:
            raise RdpflexError(f"a plugin registers a metric named {name!r}, which is a built-in metric")
        out[name] = metric
    return out


def get_metric(name: str) -> Metric:
    """The metric called ``name``; :class:`UnknownPluginError` naming every available metric otherwise."""
    metrics = all_metrics()
    if name not in metrics:
        raise UnknownPluginError(f"unknown metric {name!r}; available metrics: {', '.join(metrics)}")
    return metrics[name]


#: alias of :func:`get_metric`: returns the metric or raises naming the available ones
available = get_metric


def metric_names(kind: str | None = None) -> list[str]:
    """Names of all metrics, or of those of one ``kind`` (``"image"`` / ``"set"``)."""
    return [n for n, m in all_metrics().items() if kind is None or m.kind == kind]


def split_by_kind(names: list[str] | tuple[str, ...]) -> tuple[list[str], list[str]]:
    """``(image_metric_names, set_metric_names)``, validating every name."""
    image: list[str] = []
    set_: list[str] = []
    for n in names:
        (image if get_metric(n).kind == "image" else set_).append(n)
    return image, set_


def label(name: str, stand_in: bool | None = None) -> str:
    """How to print a metric: ``"FID/256"``, or ``"FID/256 (stand-in weights)"`` with stand-in weights.

    ``stand_in=None`` asks the metric (that is, checks the weight file it would use now).
    """
    return label_for(get_metric(name), stand_in)
