"""Decoder knobs that changed nothing measurable: a note for the report.

A comparison sweeps a decoder along its knob (multi-realism beta, cdiff steps, idempotence zeta) to
trace a trade-off. When every setting of a decoder gives the same PSNR within :data:`PSNR_TOLERANCE_DB`
and every other computed quality metric within :data:`RELATIVE_TOLERANCE`, the sweep shows no
trade-off at all. That usually means an under-trained decoder, for example a generator whose
discriminator stayed at chance. The report says so in one line instead of letting flat rows pass
for a measured result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

#: PSNR spread (dB) below which a sweep counts as flat
PSNR_TOLERANCE_DB = 0.1
#: spread of every other metric, relative to its mean, below which a sweep counts as flat
RELATIVE_TOLERANCE = 0.02


def _finite(values: Iterable[Any]) -> list[float] | None:
    out = [float(v) for v in values if isinstance(v, (int, float))]
    return out if out and all(math.isfinite(v) for v in out) else None


def flat_knob_notes(
    summary: Sequence[dict[str, Any]], learned: Sequence[tuple[str, str]], metrics: Sequence[str]
) -> list[str]:
    """One note per decoder whose settings (``learned``: (decoder, setting) pairs, in sweep order) are flat.

    ``summary`` holds the aggregate rows, ``metrics`` the quality metrics computed (PSNR among them).
    A decoder counts only if PSNR and at least one other metric were computed for each of its settings.
    """
    by_key = {(r["decoder"], r["setting"]): r for r in summary}
    decoders: dict[str, list[dict[str, Any]]] = {}
    for key in learned:
        if key in by_key:
            decoders.setdefault(key[0], []).append(by_key[key])
    notes = []
    for decoder, rows in decoders.items():
        psnr = _finite(r.get("psnr") for r in rows)
        if len(rows) < 2 or psnr is None or len(psnr) < len(rows):
            continue
        spread = max(psnr) - min(psnr)
        if spread >= PSNR_TOLERANCE_DB:
            continue
        flat, moved = [], False
        for name in metrics:
            if name == "psnr":
                continue
            vals = _finite(r.get(name) for r in rows)
            if vals is None or len(vals) < len(rows):
                continue
            scale = max(abs(sum(vals) / len(vals)), 1e-12)
            if (max(vals) - min(vals)) / scale >= RELATIVE_TOLERANCE:
                moved = True
                break
            flat.append(name)
        if moved or not flat:
            continue
        notes.append(
            f"{decoder}: its settings {rows[0]['setting']} ... {rows[-1]['setting']} give the same result within "
            f"measurement (PSNR spread {spread:.2f} dB; {', '.join(flat)} within {RELATIVE_TOLERANCE:.0%}): the "
            "decoder does not respond to this knob, which usually means it is under-trained"
        )
    return notes
