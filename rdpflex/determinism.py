"""Cross-process determinism check: encode under one thread count, decode under others.

The encoder and the decoder run in separate Python processes (``python -m rdpflex.determinism``),
as a sender and a receiver would; the decoding process decodes the file once per thread count,
setting ``torch.set_num_threads`` before each pass. For every image it reports whether the decoded
latent is bit-identical to the encoder's, whether the symbol checksum caught a mismatch, and the pixel difference of the
``mse`` reconstruction (floating-point noise of the synthesis network).

    rdpflex determinism IMAGE... [--system DIR] [--threads 1,2,4] [--entropy exact|float]
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from rdpflex.bitstream import RdpFile, read_rdp, write_rdp
from rdpflex.errors import EntropyMismatchError
from rdpflex.pipeline import compress_images, latents
from rdpflex.system import System

__all__ = ["Outcome", "run_check", "main"]


@dataclass
class Outcome:
    """One image decoded under ``decode_threads`` from a file encoded under ``encode_threads``."""

    stem: str
    encode_threads: int
    decode_threads: int
    latent_identical: bool  # y_hat bit-identical to the encoder's
    mismatch_detected: bool  # the symbol checksum raised EntropyMismatchError
    max_abs_pixel_diff: float  # mse reconstruction vs the encoder process's, in 0..255 (NaN if not decoded)
    mean_abs_pixel_diff: float
    png_values_differing: float  # fraction of 8-bit output values (as written to PNG) that differ


def _worker(argv: list[str]) -> None:
    """``encode SYSTEM OUT.rdp OUTDIR IMAGE...`` or ``decode SYSTEM FILE.rdp OUTDIR``.

    Thread counts come from ``RDPFLEX_THREADS`` (comma-separated; the encoder uses the first);
    the results of each pass go to ``OUTDIR/<threads>/``.
    """
    mode, system_dir, rdp_path, out_dir, *images = argv
    system = System.load(None if system_dir == "-" else Path(system_dir))
    threads = [int(t) for t in os.environ["RDPFLEX_THREADS"].split(",")]
    if mode == "encode":
        torch.set_num_threads(threads[0])
        enc = compress_images(
            [Path(p) for p in images], system, estimate=False, exact=os.environ["RDPFLEX_EXACT"] == "1"
        )
        write_rdp(rdp_path, enc.rdp)
        threads = threads[:1]
    rdp = read_rdp(rdp_path)
    for n in threads:
        torch.set_num_threads(n)
        _decode_all(system, rdp, Path(out_dir) / str(n))


def _decode_all(system: System, rdp: RdpFile, out: Path) -> None:
    """Entropy-decode every image (checked) and synthesise it; save latents, pixels and failures.

    Latents come from :func:`rdpflex.pipeline.latents`, the path ``decompress``, ``compare`` and
    ``decode_images`` take (same-size neighbours share one entropy-decode call); when a checksum fails
    there, the images are decoded one by one to name each one that fails."""
    out.mkdir(parents=True, exist_ok=True)
    codec = system.codec
    tensors, failed = {}, []
    with torch.no_grad():
        try:
            decoded = [(lat.stem, lat.y_hat) for lat in latents(rdp, system)]
        except EntropyMismatchError:
            decoded = []
            for im in rdp.images:
                try:
                    y = codec.decompress_latent(list(im.streams), tuple(im.padded_size), rdp.exact, im.symbols_crc)
                except EntropyMismatchError:
                    failed.append(im.stem)
                    continue
                decoded.append((im.stem, y))
        sizes = {im.stem: im.image_size for im in rdp.images}
        for stem, y_hat in decoded:
            H, W = sizes[stem]
            tensors[f"{stem}/y_hat"] = y_hat.contiguous()
            tensors[f"{stem}/x_hat"] = (codec.g_s(y_hat)[..., :H, :W].clamp(0, 1) * 255).contiguous()
    save_file(tensors, str(out / "latents.safetensors"))
    (out / "failed.json").write_text(json.dumps(failed))


def _spawn(args: list[str], threads: list[int], exact: bool) -> None:
    n = str(max(threads))
    env = dict(
        os.environ,
        OMP_NUM_THREADS=n,
        MKL_NUM_THREADS=n,
        RDPFLEX_THREADS=",".join(map(str, threads)),
        RDPFLEX_EXACT="1" if exact else "0",
    )
    proc = subprocess.run([sys.executable, "-m", "rdpflex.determinism", *args], env=env, capture_output=True, text=True)
    if proc.returncode:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode
        raise RuntimeError(f"determinism worker failed: {last}")


def run_check(
    images: list[Path], system_dir: Path | None, encode_threads: int, decode_threads: list[int], exact: bool = True
) -> list[Outcome]:
    """Encode ``images`` once under ``encode_threads``, decode under each of ``decode_threads``."""
    sysarg = "-" if system_dir is None else str(system_dir)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="rdpflex-determinism-") as tmp:
        t = Path(tmp)
        rdp, enc_dir = t / "file.rdp", t / "enc"
        enc_dir.mkdir()
        _spawn(["encode", sysarg, str(rdp), str(enc_dir), *map(str, images)], [encode_threads], exact)
        ref = load_file(str(enc_dir / str(encode_threads) / "latents.safetensors"))
        stems = sorted({k.split("/")[0] for k in ref}, key=[Path(p).stem for p in images].index)
        dec_root = t / "dec"
        _spawn(["decode", sysarg, str(rdp), str(dec_root)], decode_threads, exact)
        for n in decode_threads:
            dec_dir = dec_root / str(n)
            got, failed = (
                load_file(str(dec_dir / "latents.safetensors")),
                json.loads((dec_dir / "failed.json").read_text()),
            )
            for stem in stems:
                if stem in failed:
                    outcomes.append(
                        Outcome(stem, encode_threads, n, False, True, float("nan"), float("nan"), float("nan"))
                    )
                    continue
                a, b = got[f"{stem}/x_hat"], ref[f"{stem}/x_hat"]
                diff = (a - b).abs()
                outcomes.append(
                    Outcome(
                        stem,
                        encode_threads,
                        n,
                        bool((got[f"{stem}/y_hat"] == ref[f"{stem}/y_hat"]).all()),
                        False,
                        float(diff.max()),
                        float(diff.mean()),
                        float((a.round() != b.round()).float().mean()),
                    )
                )
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    """A markdown table of outcomes."""
    rows = [
        "| image | encode threads | decode threads | latent identical | mismatch detected | max "
        "/ mean abs pixel diff (0..255) | 8-bit values differing |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        rows.append(
            f"| {o.stem} | {o.encode_threads} | {o.decode_threads} | {'yes' if o.latent_identical else 'NO'} | "
            f"{'yes' if o.mismatch_detected else 'no'} | {o.max_abs_pixel_diff:.4g} / "
            f"{o.mean_abs_pixel_diff:.3g} | {o.png_values_differing:.2e} |"
        )
    return "\n".join(rows)


def as_json(outcomes: list[Outcome]) -> str:
    """Outcomes as JSON (NaN, for an image that did not decode, as null)."""
    rows = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(o).items()} for o in outcomes
    ]
    return json.dumps(rows, indent=2)


def main() -> None:
    _worker(sys.argv[1:])


if __name__ == "__main__":
    main()
