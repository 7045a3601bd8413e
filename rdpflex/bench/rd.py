"""``rdpflex bench rd``: rate–distortion of codecs against Pillow JPEG and WebP on held-out photographs.

Each system's codec compresses each photograph into its own ``.rdp`` (bpp from the file's bytes) and
its own synthesis (``mse``) decodes it; JPEG and WebP run at a sweep of qualities on the same
photographs (bpp from the whole file). Points are averaged over the photographs (mean bpp, mean
PSNR per operating point, as Kodak tables are). Several systems (one codec trained at several
lambdas) form a curve: its Bjøntegaard delta rate against each baseline is reported; each system's
point also gets its rate difference against each baseline at equal PSNR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rdpflex.evaluation.samples import fit
from rdpflex.images import from_uint8, psnr, to_uint8
from rdpflex.metrics.bdrate import bd_rate, rate_saving
from rdpflex.metrics.reference_codecs import available_baselines, encode_baseline
from rdpflex.samples import HELDOUT, sample_array

#: qualities of the baseline curves: dense at low rates, where learned codecs operate
RD_QUALITIES = (2, 5, 8, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90)


def heldout_images(names: tuple[str, ...] = HELDOUT, max_side: int = 512) -> list[tuple[str, np.ndarray]]:
    """The photographs as HxWx3 uint8, downscaled (Lanczos) to ``max_side`` as the demo does."""
    from PIL import Image

    return [(n, np.asarray(fit(Image.fromarray(sample_array(n), "RGB"), max_side))) for n in names]


def codec_point(system: Any, images: list[tuple[str, np.ndarray]]) -> dict[str, float]:
    """Mean bpp (file bytes, one ``.rdp`` per image) and mean PSNR of the codec's own synthesis."""
    from rdpflex.pipeline import compress_images, decode_images

    bpps, psnrs = [], []
    for name, arr in images:
        rdp = compress_images([(name, from_uint8(arr))], system, estimate=False).rdp
        bpps.append(8.0 * rdp.num_bytes() / (arr.shape[0] * arr.shape[1]))
        with torch.no_grad():
            ((_, x_hat),) = decode_images(rdp, system, "mse")
        psnrs.append(psnr(arr, to_uint8(x_hat)))
    return {"bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))}


def baseline_curve(
    codec: str, images: list[tuple[str, np.ndarray]], qualities: tuple[int, ...] = RD_QUALITIES
) -> list[dict[str, float]]:
    """Mean bpp and PSNR of a Pillow codec at each quality."""
    points = []
    for q in qualities:
        bpps, psnrs = [], []
        for _, arr in images:
            res = encode_baseline(arr, codec, q)
            bpps.append(8.0 * res.num_bytes / (arr.shape[0] * arr.shape[1]))
            psnrs.append(psnr(arr, res.image))
        points.append({"quality": q, "bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs))})
    return points


def bench_rd(
    system_dirs: list[Path | None],
    names: tuple[str, ...] = HELDOUT,
    max_side: int = 512,
    qualities: tuple[int, ...] = RD_QUALITIES,
) -> dict[str, list[dict[str, Any]]]:
    """Tables: each system's point with its rate difference at equal PSNR, the baselines' curves,
    and the Bjøntegaard delta rate of the systems' curve against each baseline."""
    from rdpflex.system import System

    images = heldout_images(names, max_side)
    curves = {c: baseline_curve(c, images, qualities) for c in available_baselines()}
    anchors = {c: [(p["bpp"], p["psnr"]) for p in pts] for c, pts in curves.items()}
    points = []
    for d in system_dirs:
        system = System.load(d)
        p = codec_point(system, images)
        row: dict[str, Any] = {
            "system": str(system.root or "(default system)"),
            "bpp": round(p["bpp"], 4),
            "psnr": round(p["psnr"], 2),
        }
        for c, anchor in anchors.items():
            saving = rate_saving((p["bpp"], p["psnr"]), anchor)
            row[f"vs {c} at equal PSNR (%)"] = "outside its PSNR range" if saving is None else round(saving, 1)
        points.append(row)
    curve = [(r["bpp"], r["psnr"]) for r in points]
    summary = [
        {
            "anchor": c,
            "points": len(curve),
            "BD-rate (%)": "undefined (needs two points overlapping the anchor's PSNR range)"
            if (v := bd_rate(curve, anchor)) is None
            else round(v, 1),
            "note": "negative: the codec needs fewer bits than the anchor for the same PSNR",
        }
        for c, anchor in anchors.items()
    ]
    baseline_rows = [
        {"codec": c, **{k: round(v, 4) if k == "bpp" else (round(v, 2) if k == "psnr" else v) for k, v in p.items()}}
        for c, pts in curves.items()
        for p in pts
    ]
    return {
        "points": points,
        "bd_rate": summary,
        "baselines": baseline_rows,
        "images": [{"name": n, "height": a.shape[0], "width": a.shape[1]} for n, a in images],
    }
