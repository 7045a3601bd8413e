"""The rows of ``compare``'s tables: one per image (``level="image"``) or per setting (``level="set"``).

A row is a plain dict (its metric columns depend on the metrics selected): :func:`new_row` writes its
leading columns in the order of :data:`~rdpflex.evaluation.result.BASE_COLUMNS`, the measurements follow,
and :func:`labelled` adds the last two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rdpflex.evaluation.specs import DecoderSetting

#: one row of ``metrics.csv`` / ``metrics.json``: column name -> value
Row = dict[str, Any]


def new_row(
    *,
    level: str,
    decoder: str,
    setting: str,
    options: str,
    image: str,
    index: int,
    size: tuple[int, int] | tuple[None, None],
    nbytes: int,
    bpp: float,
    bpp_estimated: float,
) -> Row:
    """The leading columns of a row: what was decoded, from which image, at what rate."""
    return {
        "level": level,
        "decoder": decoder,
        "setting": setting,
        "options": options,
        "image": image,
        "index": index,
        "height": size[0],
        "width": size[1],
        "bytes": nbytes,
        "bpp": bpp,
        "bpp_estimated": bpp_estimated,
    }


def labelled(row: Row, stand_in: list[str], notes: list[str]) -> Row:
    """The row with its last two columns: metrics computed with stand-in weights, and the metrics' notes."""
    row["stand_in_metrics"] = ";".join(stand_in)
    row["notes"] = "; ".join(dict.fromkeys(notes))
    return row


def row_order(settings: list[DecoderSetting]) -> Callable[[Row], tuple[int, int, int]]:
    """Sort key: rows in settings order, then JPEG, then WebP; by quality, then image index."""
    order = {(s.decoder, s.label): k for k, s in enumerate(settings)}
    base_order = {c: len(settings) + k for k, c in enumerate(("jpeg", "webp"))}

    def key(r: Row) -> tuple[int, int, int]:
        k = order.get((r["decoder"], r["setting"]), base_order.get(r["decoder"], 10**6))
        return (k, r.get("quality") or 0, r["index"])

    return key
