"""Evaluation metrics of ``rdpflex compare`` (see docs/metrics.md).

::

    per image (kind "image"):   psnr  ms_ssim  lpips  detail         compute(x, x_hat) -> float
    per set   (kind "set"):     fid  kid  fid256  kid256  swd         compute_set(originals, recons) -> {key: float}

    compute_image_metrics(x, x_hat, names)       -> {name: MetricResult}   (value, label, stand_in, notes, extra)
    compute_set_metrics(originals, recons, names) -> {name: MetricResult}

Metric networks (Inception for FID/KID, AlexNet for LPIPS) are never downloaded: their weights are
looked up as described in :mod:`rdpflex.metrics.weights`; ``detail`` and ``swd`` need none.
Plugins add metrics through the
``register_metrics`` hook; :func:`all_metrics` lists built-ins and plugin metrics together.
"""

from rdpflex.metrics.base import (
    ImageMetric,
    Metric,
    MetricResult,
    MetricValue,
    SetMetric,
    check_metric,
    skipped,
)
from rdpflex.metrics.compute import compute_image_metrics, compute_set_metrics, mean_rows
from rdpflex.metrics.fidelity import (
    FidelityMetric,
    extract_patches,
    fidelity_scores,
    patch_count,
    patch_offsets,
)
from rdpflex.metrics.image import LPIPS, MSSSIM, PSNR, PSNR_CAP_DB, quantize
from rdpflex.metrics.registry import (
    DEFAULT_IMAGE_METRICS,
    DEFAULT_SET_METRICS,
    all_metrics,
    available,
    builtin_metrics,
    get_metric,
    label,
    metric_names,
    split_by_kind,
)
from rdpflex.metrics.swd import SlicedWasserstein, swd_scores
from rdpflex.metrics.weights import ALEXNET, INCEPTION, describe_weights

__all__ = [
    "ALEXNET",
    "DEFAULT_IMAGE_METRICS",
    "DEFAULT_SET_METRICS",
    "FidelityMetric",
    "INCEPTION",
    "ImageMetric",
    "LPIPS",
    "MSSSIM",
    "Metric",
    "MetricResult",
    "MetricValue",
    "PSNR",
    "PSNR_CAP_DB",
    "SetMetric",
    "SlicedWasserstein",
    "all_metrics",
    "available",
    "builtin_metrics",
    "check_metric",
    "compute_image_metrics",
    "compute_set_metrics",
    "describe_weights",
    "extract_patches",
    "fidelity_scores",
    "get_metric",
    "label",
    "metric_names",
    "patch_count",
    "patch_offsets",
    "mean_rows",
    "quantize",
    "skipped",
    "split_by_kind",
    "swd_scores",
]
