"""What ``compare`` measured (:class:`CompareResult`), its JSON and text views, and the report's file names.

The data every other part of :mod:`rdpflex.evaluation` shares: :mod:`~rdpflex.evaluation.compare`
fills a :class:`CompareResult`, :mod:`~rdpflex.evaluation.report` writes it to files. Crops are
keyed by :class:`CropKey` (which image, from what), never by strings to parse back.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rdpflex import __version__
from rdpflex.evaluation.reencode import REENCODE_COLUMNS
from rdpflex.evaluation.specs import DecoderSetting

#: file names inside the report directory
BITSTREAM_FILE = "bitstream.rdp"
CSV_FILE = "metrics.csv"
JSON_FILE = "metrics.json"
HTML_FILE = "report.html"
RD_PLOT = "rate_distortion.png"
REALISM_PLOT = "distortion_realism.png"
CROPS_DIR = "crops"
VIEWER_DIR = "viewer"
#: what the report's viewer shows: every image whole, the center crops only, or no viewer
VIEWER_IMAGES = ("full", "crops", "none")

BASE_COLUMNS = [
    "level",
    "decoder",
    "setting",
    "options",
    "image",
    "index",
    "height",
    "width",
    "bytes",
    "bpp",
    "bpp_estimated",
    "quality",
]
TAIL_COLUMNS = ["decode_ms_per_mp", "stand_in", "stand_in_metrics", "notes"]
_FMT = {
    "bpp": 4,
    "bpp_estimated": 4,
    "psnr": 2,
    "ms_ssim": 4,
    "lpips": 4,
    "fid": 2,
    "fid256": 2,
    "kid": 4,
    "kid256": 4,
    "swd": 2,
    "decode_ms_per_mp": 1,
    "reencode_agreement": 3,
    "reencode_identical": 2,
    "reencode_mse_psnr": 2,
}


class CropKey(NamedTuple):
    """Which center crop: of the ``original``, of a ``decoder`` setting, or of a ``baseline`` at a quality."""

    kind: str  # "original" | "decoder" | "baseline"
    stem: str
    source: str = "original"  # the decoder family or baseline codec ("jpeg", "webp")
    setting: str = ""  # the setting's label ("beta=1.28", "default") or the baseline's "quality=Q"

    @property
    def label(self) -> str:
        """``original``, or ``family[setting]`` as the rows' decoder and setting spell it (``jpeg[quality=10]``)."""
        return "original" if self.kind == "original" else f"{self.source}[{self.setting}]"

    @classmethod
    def original(cls, stem: str) -> CropKey:
        return cls("original", stem)

    @classmethod
    def decoder(cls, setting: DecoderSetting, stem: str) -> CropKey:
        return cls("decoder", stem, setting.decoder, setting.label)

    @classmethod
    def baseline(cls, codec: str, quality: int, stem: str) -> CropKey:
        return cls("baseline", stem, codec, f"quality={quality}")


@dataclass
class CompareResult:
    """What :func:`~rdpflex.evaluation.compare.compare` measured.

    Rows are plain dicts (the CSV's rows, NaN for "not computed")."""

    #: one row per (decoder setting or baseline quality, image); ``level == "image"``
    rows: list[dict[str, Any]]
    #: one aggregate row per decoder setting and per baseline quality; ``level == "set"``
    summary: list[dict[str, Any]]
    #: metric name -> {label, kind, stand_in, higher_is_better, description}
    metrics: dict[str, dict[str, Any]]
    settings: list[DecoderSetting]
    notes: list[str] = field(default_factory=list)
    #: system, bitstream, images, device, processes, timings
    info: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None
    #: report files written (name -> path); empty without ``out_dir``
    files: dict[str, Path] = field(default_factory=dict)
    #: HxWx3 uint8 center crops (main process)
    crops: dict[CropKey, np.ndarray] = field(default_factory=dict, repr=False)
    #: what the report's viewer shows (:data:`VIEWER_IMAGES`)
    viewer_images: str = "full"
    #: HxWx3 uint8 whole images for the viewer, keyed as the crops (main process; ``viewer_images="full"``)
    views: dict[CropKey, np.ndarray] = field(default_factory=dict, repr=False)

    def summary_for(self, decoder: str, setting: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.summary if r["decoder"] == decoder and (setting is None or r["setting"] == setting)]

    def rows_for(self, decoder: str, setting: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["decoder"] == decoder and (setting is None or r["setting"] == setting)]

    @property
    def report(self) -> Path | None:
        return self.files.get("html")

    def to_json(self) -> dict[str, Any]:
        """What ``metrics.json`` holds."""
        return result_json(self)

    def table(self, baselines: bool = False) -> str:
        """The compact text table ``rdpflex compare`` prints."""
        return text_table(self, baselines=baselines)


def finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return clean(v.item())
    return v


def columns(result: CompareResult) -> list[str]:
    """CSV column order: identity and rate, then metrics, metric extras, timing and labelling."""
    metric_cols = list(result.metrics)
    seen = set(BASE_COLUMNS) | set(metric_cols) | set(TAIL_COLUMNS)
    extras: list[str] = []
    for r in result.rows + result.summary:
        for k in r:
            if k not in seen:
                seen.add(k)
                extras.append(k)
    return BASE_COLUMNS + metric_cols + extras + TAIL_COLUMNS


def with_stand_in(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["stand_in"] = bool(row.get("stand_in_metrics"))
    return out


def result_json(result: CompareResult) -> dict[str, Any]:
    def rows(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: clean(v) for k, v in with_stand_in(r).items()} for r in rs]

    return {
        "rdpflex_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in result.info.items()},
        "metrics": result.metrics,
        "settings": [{"decoder": s.decoder, "setting": s.label, "options": s.options_dict()} for s in result.settings],
        "notes": list(result.notes),
        "columns": columns(result),
        "summary": rows(result.summary),
        "rows": rows(result.rows),
    }


def fmt_value(name: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.{_FMT.get(name, 4)}f}"
    return str(v)


def value_columns(result: CompareResult, rows: list[dict[str, Any]]) -> list[str]:
    """The measured columns of a summary table: metrics with a value, re-encoding consistency, decode time."""
    metric_cols = [m for m in result.metrics if any(finite(r.get(m)) for r in rows)]
    reencode_cols = [c for c in REENCODE_COLUMNS if any(c in r for r in rows)]
    return metric_cols + reencode_cols + ["decode_ms_per_mp"]


def text_table(result: CompareResult, baselines: bool = False) -> str:
    """A compact fixed-width table of the aggregate rows (learned decoders; baselines on request)."""
    keys = {(s.decoder, s.label) for s in result.settings}
    rows = [r for r in result.summary if baselines or (r["decoder"], r["setting"]) in keys]
    cols = ["decoder", "setting", "bpp", "bpp_estimated"] + value_columns(result, rows)
    heads = {
        "bpp_estimated": "bpp_est",
        "decode_ms_per_mp": "ms/MP",
        "reencode_agreement": "re_agree",
        "reencode_identical": "re_ident",
        "reencode_mse_psnr": "re_psnr",
    }
    stand = {m for m, meta in result.metrics.items() if meta.get("stand_in")}
    titles = [heads.get(c, c) + ("*" if c in stand else "") for c in cols]
    cells = [[fmt_value(c, r.get(c)) for c in cols] for r in rows]
    widths = [max(len(t), *(len(row[k]) for row in cells)) if cells else len(t) for k, t in enumerate(titles)]
    lines = ["  ".join(t.ljust(w) for t, w in zip(titles, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    if stand:
        lines.append("* computed with stand-in weights (random networks): not meaningful")
    return "\n".join(lines)
