"""``compare``'s aggregate rows: one per decoder setting and per baseline quality, and the metrics' labels.

Runs on the main process, on every process's rows gathered: means over the images, set metrics (FID ...)
on the whole set, the median decode time.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rdpflex.evaluation.knobs import flat_knob_notes
from rdpflex.evaluation.reencode import REENCODE_COLUMNS
from rdpflex.evaluation.rows import Row, new_row, row_order
from rdpflex.evaluation.selection import MetricSelection
from rdpflex.evaluation.specs import DecoderSetting
from rdpflex.metrics import compute_set_metrics, mean_rows
from rdpflex.metrics.base import STAND_IN_SUFFIX


@dataclass
class SummaryInputs:
    """Everything the aggregate rows are computed from (main process)."""

    rows: list[Row]
    settings: list[DecoderSetting]
    selection: MetricSelection
    #: setting index -> image index -> HxWx3 uint8 reconstruction (for set metrics)
    decoded: dict[int, dict[int, np.ndarray]]
    #: image index -> HxWx3 uint8 original
    originals: list[np.ndarray]
    file_bytes: int
    total_pixels: int
    est_bits_total: float
    cuda: bool


def summarise(inp: SummaryInputs) -> tuple[list[Row], list[str]]:
    """One aggregate row per decoder setting and per baseline quality (means over images, set metrics on the
    whole set, median decode time), and the set metrics' notes."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in inp.rows:
        groups.setdefault((r["decoder"], r["setting"]), []).append(r)
    key_to_idx = {(s.decoder, s.label): k for k, s in enumerate(inp.settings)}
    metric_names = list(inp.selection.image) + list(REENCODE_COLUMNS)
    summary = []
    set_notes: dict[tuple[str, str], list[str]] = {}
    for (decoder, setting), grp in groups.items():
        first = grp[0]
        learned = (decoder, setting) in key_to_idx
        n_pixels = sum(r["height"] * r["width"] for r in grp)
        nbytes = inp.file_bytes if learned else sum(r["bytes"] for r in grp)
        row = new_row(
            level="set",
            decoder=decoder,
            setting=setting,
            options=first["options"],
            image=f"({len(grp)} images)",
            index=-1,
            size=(None, None),
            nbytes=nbytes,
            bpp=8.0 * nbytes / n_pixels,
            bpp_estimated=inp.est_bits_total / inp.total_pixels if learned else float("nan"),
        )
        if "quality" in first:
            row["quality"] = first["quality"]
        stand_in = {n for r in grp for n in r.get("stand_in_metrics", "").split(";") if n}
        row_notes: list[str] = []
        row.update(mean_rows(grp, [n for n in metric_names if any(n in r for r in grp)]))
        if learned:
            s_idx = key_to_idx[(decoder, setting)]
            if inp.selection.set:
                imgs = inp.decoded.get(s_idx, {})
                order = sorted(imgs)
                orig = [torch.from_numpy(inp.originals[i]).permute(2, 0, 1) for i in order]
                rec = [torch.from_numpy(imgs[i]).permute(2, 0, 1) for i in order]
                res = compute_set_metrics(orig, rec, inp.selection.set, cuda=inp.cuda)
                for n, mr in res.items():
                    row[n] = float(mr.value)
                    row.update(mr.extra)
                    if mr.stand_in:
                        stand_in.add(n)
                    for note in mr.notes:
                        set_notes.setdefault((n, note), []).append(f"{decoder} {setting}")
                        row_notes.append(f"{n}: {note}")
            times = [r["decode_ms_per_mp"] for r in grp if "decode_ms_per_mp" in r]
            row["decode_ms_per_mp"] = statistics.median(times) if times else float("nan")
        row["stand_in_metrics"] = ";".join(
            n for n in list(inp.selection.image) + list(inp.selection.set) if n in stand_in
        )
        row["notes"] = "; ".join(row_notes)
        summary.append(row)
    summary.sort(key=row_order(inp.settings))
    notes = []
    for (n, note), where in set_notes.items():
        scope = "" if len(where) == len(inp.settings) else f" ({'; '.join(where)})"
        notes.append(f"{n}{scope}: {note}")
    notes += flat_knob_notes(summary, [(s.decoder, s.label) for s in inp.settings], inp.selection.names)
    return summary, notes


def metric_info(selection: MetricSelection, rows: list[Row], notes: list[str]) -> dict[str, dict[str, Any]]:
    """Each selected metric's label and flags; a metric is stand-in if any value was computed with stand-in weights
    (then a note is appended to ``notes``)."""
    used_stand_in = {n for r in rows for n in str(r.get("stand_in_metrics", "")).split(";") if n}
    info = {}
    for name, meta in selection.info.items():
        meta = dict(meta)
        if name in used_stand_in and not meta["stand_in"]:
            meta["stand_in"] = True
            meta["label"] += STAND_IN_SUFFIX
        info[name] = meta
    if any(m["stand_in"] for m in info.values()):
        labels = ", ".join(m["label"].removesuffix(STAND_IN_SUFFIX) for m in info.values() if m["stand_in"])
        notes.append(
            f"{labels} computed with STAND-IN weights (random networks for testing): those values mean nothing"
        )
    return info
