"""Evaluation: ``rdpflex compare`` and ``rdpflex demo`` (see docs/compare.md).

::

    from rdpflex.evaluation import compare
    result = compare("kodak/", system, decoders=["mse", "multirealism:beta=0,1.28,2.56"], out_dir="report")
    result.rows      # per image x decoder setting (and JPEG/WebP x quality)
    result.summary   # one aggregate row per setting: bpp (file bytes), estimated bpp, metrics, ms/MP
"""

from rdpflex.evaluation.compare import CompareResult, compare, load_image_set, make_accelerator, record_bytes
from rdpflex.evaluation.config import CompareConfig
from rdpflex.evaluation.samples import DEMO_SAMPLES, SAMPLE_NAMES, export_samples
from rdpflex.evaluation.selection import MetricSelection, select_metrics
from rdpflex.evaluation.specs import DecoderSetting, DecoderSpec, parse_decoder_spec, resolve_settings
from rdpflex.metrics.reference_codecs import BASELINE_CODECS, DEFAULT_QUALITIES, available_baselines, encode_baseline

__all__ = [
    "BASELINE_CODECS",
    "DEFAULT_QUALITIES",
    "DEMO_SAMPLES",
    "SAMPLE_NAMES",
    "CompareConfig",
    "CompareResult",
    "DecoderSetting",
    "DecoderSpec",
    "MetricSelection",
    "available_baselines",
    "compare",
    "encode_baseline",
    "export_samples",
    "load_image_set",
    "make_accelerator",
    "parse_decoder_spec",
    "record_bytes",
    "resolve_settings",
    "select_metrics",
]
