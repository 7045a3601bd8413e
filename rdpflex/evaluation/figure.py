"""One picture of a compare run: centre crops of one photograph, every family side by side, all decoded
from the same bitstream (``rdpflex demo`` writes it as ``crops.png``; the README shows one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rdpflex.evaluation.result import CropKey

#: label height above each crop, pixels
_LABEL = 18


def pick_settings(keys: list[str]) -> list[str]:
    """The crops to show, in order: the original, ``mse``, each decoder family's first and last setting
    (its chain's two ends), then the baselines (JPEG/WebP at the rate closest to the file's)."""
    families: dict[str, list[str]] = {}
    for key in keys:
        if key != "original":
            families.setdefault(key.split("[", 1)[0], []).append(key)
    chosen = ["original"] if "original" in keys else []
    for family, members in families.items():
        if family in ("jpeg", "webp"):
            continue
        chosen += [members[0]] if len(members) == 1 else [members[0], members[-1]]
    return chosen + [k for f in ("jpeg", "webp") for k in families.get(f, [])]


def _caption(key: str, psnr: float | None) -> str:
    text = key.replace("[default]", "").replace("[", ": ").replace("]", "").replace(",", ", ")
    return text if psnr is None else f"{text} | {psnr:.1f} dB"


def crop_grid(
    crops: dict[CropKey, np.ndarray],
    stem: str,
    path: Path | str,
    psnr: dict[str, float] | None = None,
    columns: int = 4,
) -> Path | None:
    """Write the crops of ``stem`` (``{CropKey: HxWx3 uint8}``) as one labelled PNG grid; None without crops."""
    by_key = {key.label: arr for key, arr in crops.items() if key.stem == stem}
    tiles = [(k, by_key[k]) for k in pick_settings(list(by_key))]
    if not tiles:
        return None
    h = max(a.shape[0] for _, a in tiles)
    w = max(a.shape[1] for _, a in tiles)
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (w + 4), rows * (h + _LABEL + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    font: Any = ImageFont.load_default()
    for i, (key, arr) in enumerate(tiles):
        x, y = (i % columns) * (w + 4), (i // columns) * (h + _LABEL + 4)
        draw.text((x + 2, y + 3), _caption(key, (psnr or {}).get(key)), fill="black", font=font)
        sheet.paste(Image.fromarray(arr, "RGB"), (x, y + _LABEL))
    path = Path(path)
    sheet.save(path, format="PNG", optimize=True)
    return path
