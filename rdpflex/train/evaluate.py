"""Held-out evaluation of a codec — estimated and real-bytes bpp/PSNR — and a JPEG reference point.

``python -m rdpflex.train.evaluate SYSTEM_DIR [--data samples|FOLDER] [--crop 256] [--json]`` prints,
per held-out image and on average, the codec's bpp (from the entropy-coded bytes, and the model's
estimate) and PSNR next to Pillow's JPEG at the quality whose bpp is closest to the codec's.

PSNR is computed on 8-bit RGB (reconstructions rounded to 0..255, as a PNG would hold them).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import numpy as np
import torch
from torch import Tensor

from rdpflex.codecs import Codec
from rdpflex.errors import RdpflexError
from rdpflex.images import psnr, to_uint8
from rdpflex.metrics.reference_codecs import encode_baseline
from rdpflex.registry import build_codec
from rdpflex.system import System
from rdpflex.train.data import folder_refs, load_val_images, sample_refs, split_refs


@torch.no_grad()
def codec_metrics(codec: Codec, x: Tensor, real_bytes: bool = True) -> dict[str, float]:
    """bpp/PSNR of one image (1, 3, H, W) for an eval-mode codec whose entropy tables are built.

    ``bpp_est``/``psnr_est``: the model's likelihoods and rounded latent (``forward`` in eval mode);
    ``bpp``/``psnr``: ``codec.compress`` byte strings and the image decoded from them.
    Pixels are the original image's (padding excluded).
    """
    H, W = x.shape[-2:]
    xp = codec.pad(x)
    out = codec(xp)
    bits = sum(float(-torch.log2(lik.float()).sum()) for lik in out["likelihoods"].values())
    ref = to_uint8(x)
    res = {"bpp_est": bits / (H * W), "psnr_est": psnr(ref, to_uint8(out["x_hat"][..., :H, :W]))}
    if real_bytes:
        enc = codec.compress(xp)
        streams = [s[0] for s in enc["strings"]]
        nbytes = sum(len(s) for s in streams)
        y_hat = codec.decompress_latent(streams, (xp.shape[-2], xp.shape[-1]))
        rec = codec.synthesize(y_hat)[..., :H, :W]
        res |= {"bpp": 8 * nbytes / (H * W), "psnr": psnr(ref, to_uint8(rec))}
    return res


def jpeg_metrics(img: np.ndarray, quality: int) -> dict[str, float]:
    """Pillow JPEG (4:2:0, default tables) at ``quality``: bpp from the file bytes, PSNR."""
    res = encode_baseline(img, "jpeg", quality)
    bpp = 8 * res.num_bytes / (img.shape[0] * img.shape[1])
    return {"quality": res.quality, "bpp": bpp, "psnr": psnr(img, res.image)}


def jpeg_at_bpp(img: np.ndarray, target_bpp: float) -> dict[str, float]:
    """JPEG at the quality (1..95) whose bpp is closest to ``target_bpp`` (bpp grows with quality: bisection)."""
    lo, hi = 1, 95
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if jpeg_metrics(img, mid)["bpp"] < target_bpp:
            lo = mid
        else:
            hi = mid
    cands = [jpeg_metrics(img, q) for q in (lo, hi)]
    return min(cands, key=lambda m: abs(m["bpp"] - target_bpp))


def compare_with_jpeg(codec: Codec, images: list[tuple[str, Tensor]]) -> dict[str, Any]:
    """Per-image and mean codec metrics next to JPEG at the codec's real bpp."""
    codec = codec.eval()
    codec.update(force=True)
    rows: list[dict[str, Any]] = []
    for name, x in images:
        m = codec_metrics(codec, x)
        j = jpeg_at_bpp(to_uint8(x), m["bpp"])
        rows.append(
            {
                "image": name,
                "height": x.shape[-2],
                "width": x.shape[-1],
                **m,
                "jpeg_quality": j["quality"],
                "jpeg_bpp": j["bpp"],
                "jpeg_psnr": j["psnr"],
            }
        )
    keys = ["bpp", "psnr", "bpp_est", "psnr_est", "jpeg_bpp", "jpeg_psnr"]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys} if rows else {}
    return {"images": rows, "mean": mean}


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{'image':<22} {'size':>9} {'bpp':>7} {'PSNR':>7} {'bpp_est':>8} | {'JPEG q':>6} {'bpp':>7} {'PSNR':>7}"]
    for r in report["images"]:
        lines.append(
            f"{r['image'][:22]:<22} {r['width']:>4}x{r['height']:<4} {r['bpp']:7.3f} {r['psnr']:7.2f} "
            f"{r['bpp_est']:8.3f} | "
            f"{r['jpeg_quality']:>6} {r['jpeg_bpp']:7.3f} {r['jpeg_psnr']:7.2f}"
        )
    m = report["mean"]
    if m:
        lines.append(
            f"{'mean':<22} {'':>9} {m['bpp']:7.3f} {m['psnr']:7.2f} {m['bpp_est']:8.3f} | {'':>6} "
            f"{m['jpeg_bpp']:7.3f} {m['jpeg_psnr']:7.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    @click.command()
    @click.argument("system_dir", required=False)
    @click.option(
        "--untrained",
        "untrained",
        default=None,
        metavar="ARCH",
        help="Evaluate a randomly initialised codec of ARCH instead (default config).",
    )
    @click.option("--data", default="samples", show_default=True, help="`samples` or an image folder.")
    @click.option("--val-fraction", default=0.25, show_default=True, help="Held-out fraction (same split as training).")
    @click.option("--crop", default=256, show_default=True, help="Centre-crop side (0: whole images).")
    @click.option("--seed", default=0, show_default=True)
    @click.option("--json", "as_json", is_flag=True)
    def cmd(
        system_dir: str | None,
        untrained: str | None,
        data: str,
        val_fraction: float,
        crop: int,
        seed: int,
        as_json: bool,
    ) -> None:
        """Codec vs JPEG on the held-out images of a dataset (the training split)."""
        if untrained:
            torch.manual_seed(seed)
            codec = build_codec(untrained)
        elif system_dir:
            codec = System.load(system_dir).codec
        else:
            raise RdpflexError("give SYSTEM_DIR or --untrained ARCH")
        refs = sample_refs() if data == "samples" else folder_refs(data)
        _, val = split_refs(refs, val_fraction)
        report = compare_with_jpeg(codec, load_val_images(val, crop or None))
        click.echo(json.dumps(report, indent=2) if as_json else format_table(report))

    try:
        cmd.main(args=argv, prog_name="python -m rdpflex.train.evaluate", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RdpflexError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
