"""``compare``: one bitstream, every decoder setting, the same metrics — plus JPEG/WebP reference curves.

::

    images ──(main process, CPU)── compress_images ─► bitstream.rdp ──broadcast──┐
                                                                                 ▼
    every process: its share of the images (split_between_processes)
        entropy-decode its latents on the CPU ─► move the system to accelerator.device
        for each image, for each decoder setting: decode (autocast), per-image metrics, timing
        JPEG / WebP at each quality: bpp from the bytes, cheap per-image metrics
    gather_object(rows, crops, decoded images) ─► main process: set metrics (FID ...), aggregates,
        CSV / JSON / plots / report.html (only the main process writes files)

A single process and ``torchrun --nproc_per_node K`` produce the same rows: image ``i`` is decoded
with seed ``seed + i`` wherever it runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import broadcast_object_list, gather_object
from torch import Tensor
from tqdm.auto import tqdm

from rdpflex.bitstream import RdpFile, dumps, loads, record_bytes
from rdpflex.decoders import capabilities
from rdpflex.errors import ImageError, RdpflexError
from rdpflex.evaluation.borrowed import borrowed
from rdpflex.evaluation.config import BASELINE_METRICS, DEFAULT_CROP, CompareConfig
from rdpflex.evaluation.reencode import mse_reconstruction
from rdpflex.evaluation.reencode import reencode as reencode_output
from rdpflex.evaluation.report import write_report
from rdpflex.evaluation.result import BITSTREAM_FILE, CompareResult, CropKey
from rdpflex.evaluation.rows import Row, labelled, new_row, row_order
from rdpflex.evaluation.selection import MetricSelection, select_metrics
from rdpflex.evaluation.specs import DecoderSetting, resolve_settings
from rdpflex.evaluation.summary import SummaryInputs, metric_info, summarise
from rdpflex.images import center_crop, check_size, find_images, from_uint8, load_image, to_uint8
from rdpflex.latent import Latent
from rdpflex.metrics import compute_image_metrics
from rdpflex.metrics.reference_codecs import available_baselines, encode_baseline
from rdpflex.pipeline import batches, compress_images, decode_group, decode_latent, latents
from rdpflex.plugins import get_decoder_class
from rdpflex.runtime import make_accelerator
from rdpflex.system import System

#: what ``compare`` reads images from: a folder or one file, image files, or ``(stem, (1, 3, H, W) tensor)`` pairs
ImageSet = str | Path | Sequence[str | Path] | Sequence[tuple[str, Tensor]]

__all__ = [
    "BASELINE_METRICS",
    "DEFAULT_CROP",
    "CompareConfig",
    "CompareResult",
    "CropKey",
    "compare",
    "load_image_set",
    "make_accelerator",
    "record_bytes",
    "center_crop",
]


# --------------------------------------------------------------------------------------- helpers


def load_image_set(images: ImageSet, quiet: bool = False) -> list[tuple[str, Tensor]]:
    """``(stem, (1, 3, H, W) float)`` pairs from a folder, a list of files, or ``(stem, tensor)`` pairs."""
    items: Sequence[str | Path | tuple[str, Tensor]]
    if isinstance(images, (str, Path)):
        folder = Path(images)
        if folder.is_file():
            items = [folder]
        else:
            items = find_images(folder)
            if not items:
                raise ImageError(f"{folder} holds no images (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp, .ppm)")
    else:
        items = images
    out: list[tuple[str, Tensor]] = []
    for item in items:
        if isinstance(item, tuple):
            stem, x = item
            if x.dim() == 3:
                x = x.unsqueeze(0)
            if x.dim() != 4 or x.shape[:2] != (1, 3):
                raise ImageError(f"image {stem!r}: expected a (1, 3, H, W) tensor, got {tuple(x.shape)}")
            check_size(int(x.shape[-2]), int(x.shape[-1]), stem)
            out.append((str(stem), x.detach().float().cpu()))
        else:
            out.append((Path(item).stem, load_image(item, quiet=quiet)))
    if not out:
        raise ImageError("no images to compare")
    stems = [s for s, _ in out]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ImageError(f"two images share the stem {dup[0]!r}; rename one (rows and crops are keyed by stem)")
    return out


def _image_metric_values(
    x: Tensor, x_hat: Tensor, names: Sequence[str]
) -> tuple[dict[str, float], list[str], list[str]]:
    """(values, stand-in metric names, notes) of the per-image metrics."""
    if not names:
        return {}, [], []
    res = compute_image_metrics(x, x_hat, list(names))
    values = {n: float(r.value) for n, r in res.items()}
    stand_in = [n for n, r in res.items() if r.stand_in]
    notes = [note for r in res.values() for note in r.notes]
    return values, stand_in, notes


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- the state of one run


@dataclass
class _Run:
    """What every step of one :func:`compare` call reads: the options, what they loaded, the process's role."""

    cfg: CompareConfig
    acc: Any
    pairs: list[tuple[str, Tensor]]
    system: System
    settings: list[DecoderSetting]
    selection: MetricSelection
    notes: list[str]
    baseline_names: list[str]
    baseline_codecs: list[str]

    def keep_view(self, local: _Local, key: CropKey, u8: np.ndarray) -> None:
        """Keep a whole 8-bit image for the report's viewer (``viewer_images="full"`` only)."""
        if self.cfg.viewer_images == "full":
            local.views.append((key, u8))

    @property
    def device(self) -> torch.device:
        return self.acc.device

    @property
    def main(self) -> bool:
        return bool(self.acc.is_main_process)

    def bar(self, total: int, desc: str) -> Any:
        return tqdm(
            total=total,
            desc=desc,
            unit="img",
            file=sys.stderr,
            disable=not (self.cfg.progress and self.main),
            dynamic_ncols=True,
        )


@dataclass
class _Encoded:
    """The one bitstream, as every process holds it after the broadcast."""

    rdp: RdpFile
    file_bytes: int
    est_bits: list[float]
    encode_s: float

    def __post_init__(self) -> None:
        self.rec_bytes = record_bytes(self.rdp)
        self.sizes: list[tuple[int, int]] = [(int(im.image_size[0]), int(im.image_size[1])) for im in self.rdp.images]
        self.pixels = [h * w for h, w in self.sizes]
        self.total_pixels = sum(self.pixels)


@dataclass
class _Local:
    """What one process measured on its share of the images."""

    rows: list[Row] = field(default_factory=list)
    crops: list[tuple[CropKey, np.ndarray]] = field(default_factory=list)
    #: whole images for the report's viewer (``viewer_images="full"``)
    views: list[tuple[CropKey, np.ndarray]] = field(default_factory=list)
    #: (setting index, image index, HxWx3 uint8) for set metrics (FID ...)
    images: list[tuple[int, int, np.ndarray]] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------- compare


def compare(
    images: ImageSet,
    system: System | str | Path | None = None,
    *,
    config: CompareConfig | None = None,
    accelerator: Any = None,
    **options: Any,
) -> CompareResult:
    """Encode ``images`` once, decode the bitstream with every decoder setting, measure, report.

    :param images: a folder, a list of image files, or ``(stem, (1, 3, H, W) tensor in [0, 1])`` pairs.
    :param system: a :class:`~rdpflex.system.System`, a system directory, or None (the default system).
    :param config: the run's options (:class:`~rdpflex.evaluation.config.CompareConfig`; default: its defaults).
    :param accelerator: an existing :class:`accelerate.Accelerator` (otherwise one is made).
    :param options: any field of :class:`~rdpflex.evaluation.config.CompareConfig` (``decoders``,
        ``metrics``, ``out_dir``, ``seed``, ``baselines``, ``qualities`` ...), replacing the config's.
    """
    cfg = CompareConfig.from_options(config, options)
    with borrowed(system):  # the caller's System ends on its own device, dtype and train/eval mode
        t_start = time.perf_counter()
        acc = accelerator if accelerator is not None else make_accelerator(cfg.mixed_precision, cfg.cpu)
        run = _prepare(cfg, acc, images, system)
        payload, failure = _encode(run) if run.main else (None, None)
        enc = _broadcast(run, payload, failure)
        local = _Local(timing={"encode_s": enc.encode_s})
        with acc.split_between_processes(list(range(len(run.pairs)))) as mine:
            mine = list(mine)
            lats = _entropy_decode(run, enc, mine, local)
            run.system.to(run.device)
            try:
                _decode(run, enc, mine, lats, local)
                _baselines(run, enc, mine, local)
            finally:
                run.system.to("cpu")
        rows, crops, decoded, timings = _gather(run, local)
        views = gather_object(local.views) if cfg.viewer_images == "full" else []
        summary, set_metrics_s = _summary(run, enc, rows, decoded)
        info = _info(run, enc, timings, set_metrics_s, t_start)
        result = CompareResult(
            rows=rows,
            summary=summary,
            metrics=metric_info(run.selection, rows + summary, run.notes),
            settings=run.settings,
            notes=run.notes,
            info=info,
            out_dir=cfg.out,
            viewer_images=cfg.viewer_images,
        )
        if run.main:
            result.crops = dict(crops)
            result.views = dict(views)
            _report(run, result, t_start)
        acc.wait_for_everyone()
        return result


# ----------------------------------------------------------------------------------------- steps


def _prepare(cfg: CompareConfig, acc: Any, images: ImageSet, system: System | str | Path | None) -> _Run:
    """Load the images, the system, the metrics and the settings on every process, before any work."""
    notes: list[str] = []
    pairs = load_image_set(images, quiet=not acc.is_main_process)
    selection = select_metrics(cfg.metrics)
    notes += selection.notes()
    if not isinstance(system, System):
        system = System.load(system)
    system.to("cpu")  # entropy coding on the CPU, always
    settings = resolve_settings(system, cfg.decoders, notes)
    base_codecs = available_baselines() if cfg.baselines else []
    if cfg.baselines and "webp" not in base_codecs:
        notes.append("WebP baseline skipped: this Pillow has no WebP support")
    return _Run(
        cfg=cfg,
        acc=acc,
        pairs=pairs,
        system=system,
        settings=settings,
        selection=selection,
        notes=notes,
        baseline_codecs=base_codecs,
        baseline_names=[n for n in selection.image if n in set(cfg.baseline_metrics)],
    )


_Payload = tuple[bytes | None, list[float] | None, float | None, str | None]


def _encode(run: _Run) -> tuple[_Payload, Exception | None]:
    """Main process: encode every image into one bitstream (written to the report directory).

    Returns what is broadcast (bytes, estimated bits, seconds, error message) and the exception, if any.
    """
    try:
        t0 = time.perf_counter()
        enc = compress_images(run.pairs, run.system)
        blob = dumps(enc.rdp)
        encode_s = time.perf_counter() - t0
        if run.cfg.out is not None:
            run.cfg.out.mkdir(parents=True, exist_ok=True)
            tmp = run.cfg.out / f".{BITSTREAM_FILE}.tmp"
            tmp.write_bytes(blob)
            tmp.replace(run.cfg.out / BITSTREAM_FILE)
        return (blob, list(enc.estimated_bits), encode_s, None), None
    except Exception as exc:  # noqa: BLE001 - the other processes must not wait forever
        return (None, None, None, str(exc) or exc.__class__.__name__), exc


def _broadcast(run: _Run, payload: _Payload | None, failure: Exception | None) -> _Encoded:
    """Share the main process's bytes with every process (or its failure: nobody waits forever)."""
    run.acc.wait_for_everyone()
    blob, est_bits, encode_s, error = broadcast_object_list([payload])[0]
    if failure is not None:
        raise failure
    if error is not None:
        raise RdpflexError(f"the main process failed to encode the images: {error}")
    return _Encoded(loads(blob), len(blob), est_bits, encode_s or 0.0)


def _entropy_decode(run: _Run, enc: _Encoded, mine: list[int], local: _Local) -> list[Latent]:
    """This process's share of the latents, entropy-decoded (and checked) on the CPU."""
    t0 = time.perf_counter()
    rdp = enc.rdp
    sub = RdpFile(rdp.fingerprint, [rdp.images[i] for i in mine], rdp.arch, exact=rdp.exact, version=rdp.version)
    lats = list(latents(sub, run.system, "bitstream"))
    local.timing["entropy_decode_s"] = time.perf_counter() - t0
    local.timing.update(decode_s=0.0, image_metrics_s=0.0, baselines_s=0.0)
    return lats


def _decode(run: _Run, enc: _Encoded, mine: list[int], lats: list[Latent], local: _Local) -> None:
    """Decode this process's images with every setting (timed, batched), measuring each output."""
    if run.cfg.warmup and lats:
        _warm_up(lats[0], run)
    for i in mine:
        stem, x_cpu = run.pairs[i]
        original = to_uint8(x_cpu)
        local.crops.append((CropKey.original(stem), center_crop(original, run.cfg.crop_size)))
        run.keep_view(local, CropKey.original(stem), original)
    bar = run.bar(len(mine) * len(run.settings), "decode")
    lats_d = [(i, lat.to(run.device)) for i, lat in zip(mine, lats)]
    mse_refs: dict[int, Tensor] = {}  # the file's own mse reconstruction, once per image
    for s_idx, s in enumerate(run.settings):
        bar.set_postfix_str(s.key, refresh=False)
        for group in batches(lats_d, run.cfg.batch_size):
            _sync(run.device)
            t0 = time.perf_counter()
            with run.acc.autocast():
                x_hats = decode_group(group, run.system, s.decoder, s.options, run.cfg.seed)
            _sync(run.device)
            dt = time.perf_counter() - t0
            local.timing["decode_s"] += dt
            group_mp = sum(enc.pixels[i] for i, _ in group) / 1e6
            # a batch's time is shared by its images: ms per megapixel of the batch
            timing = {"decode_ms_per_mp": dt * 1000.0 / group_mp, "batch_images": len(group)}
            for (i, lat), x_hat in zip(group, x_hats):
                row, u8 = _measure(run, enc, s, i, lat, x_hat.float(), mse_refs, local, timing)
                local.rows.append(row)
                local.crops.append((CropKey.decoder(s, run.pairs[i][0]), center_crop(u8, run.cfg.crop_size)))
                run.keep_view(local, CropKey.decoder(s, run.pairs[i][0]), u8)
                if run.selection.set:
                    local.images.append((s_idx, i, u8))
                bar.update()
    bar.close()


def _measure(
    run: _Run,
    enc: _Encoded,
    s: DecoderSetting,
    i: int,
    lat: Latent,
    x_hat: Tensor,
    mse_refs: dict[int, Tensor],
    local: _Local,
    timing: dict[str, float],
) -> tuple[Row, np.ndarray]:
    """The row of one decoded image: rate, per-image metrics, re-encoding consistency; and its 8-bit pixels."""
    stem, x_cpu = run.pairs[i]
    t0 = time.perf_counter()
    values, stand_in, mnotes = _image_metric_values(x_cpu.to(run.device), x_hat, run.selection.image)
    local.timing["image_metrics_s"] += time.perf_counter() - t0
    u8 = to_uint8(x_hat)
    row = new_row(
        level="image",
        decoder=s.decoder,
        setting=s.label,
        options=s.options_json(),
        image=stem,
        index=i,
        size=enc.sizes[i],
        nbytes=enc.rec_bytes[i],
        bpp=8.0 * enc.rec_bytes[i] / enc.pixels[i],
        bpp_estimated=enc.est_bits[i] / enc.pixels[i],
    )
    row.update(values)
    if run.cfg.reencode:
        t0 = time.perf_counter()
        if i not in mse_refs:
            mse_refs[i] = mse_reconstruction(lat, run.system.codec)
        re = reencode_output(
            from_uint8(u8, run.device), lat, enc.rdp.images[i], run.system.codec, enc.rdp.exact, mse_refs[i]
        )
        local.timing["reencode_s"] = local.timing.get("reencode_s", 0.0) + time.perf_counter() - t0
        row.update(
            reencode_agreement=re.latent_agreement,
            reencode_identical=float(re.bitstream_identical),
            reencode_mse_psnr=re.mse_psnr,
        )
    row.update(timing)
    return labelled(row, stand_in, mnotes), u8


def _baselines(run: _Run, enc: _Encoded, mine: list[int], local: _Local) -> None:
    """JPEG/WebP at every quality on this process's images; the crop closest in bpp to the bitstream's."""
    t_base = time.perf_counter()
    if run.baseline_codecs:
        bar = run.bar(len(mine) * len(run.cfg.qualities) * len(run.baseline_codecs), "baselines")
        for i in mine:
            stem, x_cpu = run.pairs[i]
            x = x_cpu.to(run.device)
            orig_u8 = to_uint8(x_cpu)
            target = 8.0 * enc.rec_bytes[i] / enc.pixels[i]
            for codec in run.baseline_codecs:
                best: tuple[float, np.ndarray, int] | None = None
                for q in run.cfg.qualities:
                    res = encode_baseline(orig_u8, codec, q)
                    bpp = 8.0 * res.num_bytes / enc.pixels[i]
                    values, stand_in, mnotes = _image_metric_values(
                        x, from_uint8(res.image, run.device), run.baseline_names
                    )
                    row = new_row(
                        level="image",
                        decoder=codec,
                        setting=f"quality={q}",
                        options=f'{{"quality": {q}}}',
                        image=stem,
                        index=i,
                        size=enc.sizes[i],
                        nbytes=res.num_bytes,
                        bpp=bpp,
                        bpp_estimated=float("nan"),
                    )
                    row.update(values)
                    row["quality"] = q
                    local.rows.append(labelled(row, stand_in, mnotes))
                    if best is None or abs(bpp - target) < best[0]:
                        best = (abs(bpp - target), res.image, q)
                    bar.update()
                assert best is not None
                local.crops.append((CropKey.baseline(codec, best[2], stem), center_crop(best[1], run.cfg.crop_size)))
                run.keep_view(local, CropKey.baseline(codec, best[2], stem), best[1])
        bar.close()
    local.timing["baselines_s"] = time.perf_counter() - t_base


def _gather(
    run: _Run, local: _Local
) -> tuple[list[Row], list[tuple[CropKey, np.ndarray]], dict[int, dict[int, np.ndarray]], list[dict[str, float]]]:
    """Every process's rows, crops, decoded images (for set metrics) and timings, on every process."""
    rows = gather_object(local.rows)
    crops = gather_object(local.crops)
    images = gather_object(local.images) if run.selection.set else []
    timings = gather_object([local.timing])
    rows.sort(key=row_order(run.settings))
    decoded: dict[int, dict[int, np.ndarray]] = {}
    for s_idx, i, u8 in images:
        decoded.setdefault(s_idx, {})[i] = u8
    return rows, crops, decoded, timings


def _summary(
    run: _Run, enc: _Encoded, rows: list[Row], decoded: dict[int, dict[int, np.ndarray]]
) -> tuple[list[Row], float]:
    """Main process: the aggregate rows (and set metrics), broadcast with the notes to every process."""
    payload: list[Any] = [None]
    if run.main:
        t0 = time.perf_counter()
        summary, notes = summarise(
            SummaryInputs(
                rows=rows,
                settings=run.settings,
                selection=run.selection,
                decoded=decoded,
                originals=[to_uint8(x) for _, x in run.pairs],
                file_bytes=enc.file_bytes,
                total_pixels=enc.total_pixels,
                est_bits_total=sum(enc.est_bits),
                cuda=run.device.type == "cuda",
            )
        )
        payload = [(summary, run.notes + notes, time.perf_counter() - t0)]
    summary, notes, set_metrics_s = broadcast_object_list(payload)[0]
    run.notes[:] = notes
    return summary, set_metrics_s


def _info(
    run: _Run, enc: _Encoded, timings: list[dict[str, float]], set_metrics_s: float, t_start: float
) -> dict[str, Any]:
    """System, bitstream, images, device and timings (the report's header; ``metrics.json``)."""
    system, acc = run.system, run.acc
    return {
        "system": {
            "root": str(system.root) if system.root else None,
            "fingerprint": system.fingerprint,
            "arch": system.codec.arch,
        },
        "bitstream": {
            "file": BITSTREAM_FILE if run.cfg.out is not None else None,
            "bytes": enc.file_bytes,
            "bpp": 8.0 * enc.file_bytes / enc.total_pixels,
            "bpp_estimated": sum(enc.est_bits) / enc.total_pixels,
        },
        "images": [
            {"stem": im.stem, "height": h, "width": w, "record_bytes": b}
            for im, (h, w), b in zip(enc.rdp.images, enc.sizes, enc.rec_bytes)
        ],
        "device": str(run.device),
        "processes": acc.num_processes,
        "mixed_precision": str(acc.mixed_precision),
        "seed": run.cfg.seed,
        "qualities": list(run.cfg.qualities) if run.baseline_codecs else [],
        "baselines": run.baseline_codecs,
        "timing": {
            "encode_s": timings[0]["encode_s"],
            # summed over processes (each works on its share of the images)
            **{
                k: sum(t[k] for t in timings)
                for k in ("entropy_decode_s", "decode_s", "image_metrics_s", "baselines_s")
            },
            "set_metrics_s": set_metrics_s,
            "total_s": time.perf_counter() - t_start,
        },
    }


def _report(run: _Run, result: CompareResult, t_start: float) -> None:
    """Main process: write the report files (with the total time so far)."""
    if run.cfg.out is not None:
        result.info["timing"]["total_s"] = time.perf_counter() - t_start
        result.files = write_report(result, run.cfg.out)


def _warm_up(lat: Latent, run: _Run) -> None:
    """Decode a small corner of ``lat`` once with the first setting of every decoder family (untimed)."""
    codec = run.system.codec
    side = 64
    try:
        c, h, w = codec.latent_shape((side, side))
    except Exception:  # noqa: BLE001 - a codec without latent_shape: no warm-up
        return
    if lat.y_hat.shape[-2] < h or lat.y_hat.shape[-1] < w:
        return
    small = Latent(lat.y_hat[..., :h, :w].contiguous(), (side, side), (side, side), lat.stem).to(run.device)
    done: set[str] = set()
    for s in run.settings:
        if s.decoder in done:
            continue
        done.add(s.decoder)
        if capabilities(get_decoder_class(s.decoder)).needs_grad:
            continue  # guided families re-derive the file's grid from its streams: no corner crop to warm up with
        with run.acc.autocast():
            decode_latent(small, run.system, s.decoder, s.options, 0)
    _sync(run.device)
