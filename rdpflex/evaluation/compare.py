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

import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
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
from rdpflex.evaluation.baselines import DEFAULT_QUALITIES, available_baselines, encode_baseline
from rdpflex.evaluation.borrowed import borrowed
from rdpflex.evaluation.knobs import flat_knob_notes
from rdpflex.evaluation.reencode import REENCODE_COLUMNS, mse_reconstruction
from rdpflex.evaluation.reencode import reencode as reencode_output
from rdpflex.evaluation.report import write_report
from rdpflex.evaluation.result import BITSTREAM_FILE, VIEWER_IMAGES, CompareResult, CropKey
from rdpflex.evaluation.selection import AUTO, MetricSelection, select_metrics
from rdpflex.evaluation.specs import DecoderSetting, DecoderSpec, resolve_settings
from rdpflex.images import check_size, find_images, from_uint8, load_image, to_uint8
from rdpflex.latent import Latent
from rdpflex.metrics import compute_image_metrics, compute_set_metrics, mean_rows
from rdpflex.metrics.base import STAND_IN_SUFFIX
from rdpflex.pipeline import batches, compress_images, decode_group, decode_latent, latents
from rdpflex.plugins import get_decoder_class
from rdpflex.runtime import make_accelerator
from rdpflex.system import System

#: per-image metrics computed for the JPEG/WebP baselines (when selected): the cheap ones
BASELINE_METRICS = ("psnr", "ms_ssim", "detail")
DEFAULT_CROP = 256

__all__ = [
    "BASELINE_METRICS",
    "DEFAULT_CROP",
    "CompareResult",
    "CropKey",
    "compare",
    "load_image_set",
    "make_accelerator",
    "record_bytes",
    "center_crop",
]


# --------------------------------------------------------------------------------------- helpers


def load_image_set(images: Any, quiet: bool = False) -> list[tuple[str, Tensor]]:
    """``(stem, (1, 3, H, W) float)`` pairs from a folder, a list of files, or ``(stem, tensor)`` pairs."""
    if isinstance(images, (str, Path)):
        folder = Path(images)
        if folder.is_file():
            paths: Iterable[Any] = [folder]
        else:
            paths = find_images(folder)
            if not paths:
                raise ImageError(f"{folder} holds no images (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp, .ppm)")
        images = paths
    out: list[tuple[str, Tensor]] = []
    for item in images:
        if isinstance(item, tuple):
            stem, x = item
            if x.dim() == 3:
                x = x.unsqueeze(0)
            if x.dim() != 4 or x.shape[:2] != (1, 3):
                raise ImageError(f"image {stem!r}: expected a (1, 3, H, W) tensor, got {tuple(x.shape)}")
            check_size(*x.shape[-2:], stem)
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


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` (at most the image) of an HxWx3 array."""
    h, w = img.shape[:2]
    ch, cw = min(size, h), min(size, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[top : top + ch, left : left + cw])


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


def _row(
    level: str,
    decoder: str,
    setting: str,
    options: str,
    image: str,
    index: int,
    size: tuple[int | None, int | None],
    nbytes: int,
    bpp: float,
    bpp_est: float,
) -> dict[str, Any]:
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
        "bpp_estimated": bpp_est,
    }


def _labelled(row: dict[str, Any], stand_in: list[str], notes: list[str]) -> dict[str, Any]:
    """The row with its last two columns: metrics computed with stand-in weights, and the metrics' notes."""
    row["stand_in_metrics"] = ";".join(stand_in)
    row["notes"] = "; ".join(dict.fromkeys(notes))
    return row


# ----------------------------------------------------------------------------- the state of one run


@dataclass
class _Run:
    """What every step of one :func:`compare` call reads: the validated inputs and the process's role."""

    acc: Any
    pairs: list[tuple[str, Tensor]]
    system: System
    settings: list[DecoderSetting]
    selection: MetricSelection
    out: Path | None
    notes: list[str]
    seed: int
    crop_size: int
    batch_size: int
    reencode: bool
    progress: bool
    warmup: bool
    qualities: list[int]
    baseline_names: list[str]
    baseline_codecs: list[str]
    viewer_images: str

    def keep_view(self, local: _Local, key: CropKey, u8: np.ndarray) -> None:
        """Keep a whole 8-bit image for the report's viewer (``viewer_images="full"`` only)."""
        if self.viewer_images == "full":
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
            disable=not (self.progress and self.main),
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

    rows: list[dict[str, Any]] = field(default_factory=list)
    crops: list[tuple[CropKey, np.ndarray]] = field(default_factory=list)
    #: whole images for the report's viewer (``viewer_images="full"``)
    views: list[tuple[CropKey, np.ndarray]] = field(default_factory=list)
    #: (setting index, image index, HxWx3 uint8) for set metrics (FID ...)
    images: list[tuple[int, int, np.ndarray]] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)


@dataclass
class SummaryInputs:
    """Everything the aggregate rows are computed from (main process)."""

    rows: list[dict[str, Any]]
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


# --------------------------------------------------------------------------------------- compare


def compare(
    images: Any,
    system: Any = None,
    decoders: Sequence[str | DecoderSpec] | None = None,
    metrics: str | Sequence[str] | None = AUTO,
    out_dir: str | Path | None = None,
    *,
    seed: int = 0,
    baselines: bool = True,
    qualities: Sequence[int] = DEFAULT_QUALITIES,
    baseline_metrics: Sequence[str] = BASELINE_METRICS,
    mixed_precision: str = "no",
    cpu: bool = False,
    accelerator: Any = None,
    crop_size: int = DEFAULT_CROP,
    progress: bool = True,
    warmup: bool = True,
    batch_size: int = 1,
    reencode: bool = True,
    viewer_images: str = "full",
) -> CompareResult:
    """Encode ``images`` once, decode the bitstream with every decoder setting, measure, report.

    :param images: a folder, a list of image files, or ``(stem, (1, 3, H, W) tensor in [0, 1])`` pairs.
    :param system: a :class:`~rdpflex.system.System`, a system directory, or None (the default system).
    :param decoders: specs ``"NAME"`` / ``"NAME:KEY=V1,V2:KEY2=..."`` (cartesian product of the values);
        None: ``mse`` + every decoder trained in the system, each at its ``sweep`` or default options.
    :param metrics: ``"auto"`` (every metric whose weights are present; the others are skipped with a
        note) or names (``"psnr,lpips,fid256"`` or a list); missing weights then raise
        :class:`~rdpflex.errors.WeightsMissingError`.
    :param out_dir: where to write ``bitstream.rdp``, ``metrics.csv``, ``metrics.json``, the plots,
        ``crops/`` and ``report.html`` (main process only); None writes nothing.
    :param seed: image ``i`` is decoded with seed ``seed + i`` (stochastic decoders).
    :param baselines: also run JPEG and WebP (Pillow) at ``qualities``, with ``baseline_metrics``.
    :param mixed_precision: ``"no"``, ``"bf16"`` (or ``"fp16"`` on GPU): autocast around decoding.
    :param cpu: force the CPU even when a GPU is present.
    :param accelerator: an existing :class:`accelerate.Accelerator` (otherwise one is made).
    :param crop_size: side of the center crops shown side by side in the report.
    :param reencode: re-encode every decoded output with the same codec and report the re-encoding
        consistency (:mod:`rdpflex.evaluation.reencode`): ``reencode_agreement``, ``reencode_identical``,
        ``reencode_mse_psnr``.
    :param viewer_images: what the report's interactive viewer shows: ``"full"`` (every decoded image at
        full resolution, written under ``viewer/``), ``"crops"`` (the center crops only: a small report),
        ``"none"`` (no viewer; the static crop grid).
    :param batch_size: same-size images decoded together (at most this many; see
        :func:`rdpflex.pipeline.batches`). Default 1: ``decode_ms_per_mp`` is then per image.
    :param warmup: before timing, decode one 64x64-pixel corner of a latent once per decoder family
        (one-time initialisation then does not count in ``decode_ms_per_mp``).
    """
    with borrowed(system):  # the caller's System ends on its own device, dtype and train/eval mode
        t_start = time.perf_counter()
        acc = accelerator if accelerator is not None else make_accelerator(mixed_precision, cpu)
        run = _validate(
            acc,
            images,
            system,
            decoders,
            metrics,
            out_dir,
            seed=seed,
            baselines=baselines,
            qualities=qualities,
            baseline_metrics=baseline_metrics,
            crop_size=crop_size,
            progress=progress,
            warmup=warmup,
            batch_size=batch_size,
            reencode=reencode,
            viewer_images=viewer_images,
        )
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
        views = gather_object(local.views) if run.viewer_images == "full" else []
        summary, set_metrics_s = _summary(run, enc, rows, decoded)
        info = _info(run, enc, timings, set_metrics_s, t_start)
        result = CompareResult(
            rows=rows,
            summary=summary,
            metrics=_metric_info(run, rows + summary),
            settings=run.settings,
            notes=run.notes,
            info=info,
            out_dir=run.out,
            viewer_images=run.viewer_images,
        )
        if run.main:
            result.crops = dict(crops)
            result.views = dict(views)
            _report(run, result, t_start)
        acc.wait_for_everyone()
        return result


# ----------------------------------------------------------------------------------------- steps


def _validate(
    acc: Any,
    images: Any,
    system: Any,
    decoders: Sequence[str | DecoderSpec] | None,
    metrics: str | Sequence[str] | None,
    out_dir: str | Path | None,
    *,
    seed: int,
    baselines: bool,
    qualities: Sequence[int],
    baseline_metrics: Sequence[str],
    crop_size: int,
    progress: bool,
    warmup: bool,
    batch_size: int,
    reencode: bool,
    viewer_images: str,
) -> _Run:
    """Check every input on every process before any work; load the images, the system and the settings."""
    if crop_size < 8:
        raise RdpflexError(f"crop size must be at least 8 px, got {crop_size}")
    if viewer_images not in VIEWER_IMAGES:
        raise RdpflexError(f"viewer images must be one of {', '.join(VIEWER_IMAGES)}, got {viewer_images!r}")
    if batch_size < 1:
        raise RdpflexError(f"batch size must be at least 1, got {batch_size}")
    if baselines and any(not 1 <= int(q) <= 100 for q in qualities):
        raise RdpflexError(f"baseline qualities must lie in 1..100, got {list(qualities)}")
    notes: list[str] = []
    pairs = load_image_set(images, quiet=not acc.is_main_process)
    selection = select_metrics(metrics)
    notes += selection.notes()
    if not isinstance(system, System):
        system = System.load(system)
    system.to("cpu")  # entropy coding on the CPU, always
    settings = resolve_settings(system, decoders, notes)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise RdpflexError(f"report directory {out} exists and is not a directory")
    base_codecs = available_baselines() if baselines else []
    if baselines and "webp" not in base_codecs:
        notes.append("WebP baseline skipped: this Pillow has no WebP support")
    return _Run(
        acc=acc,
        pairs=pairs,
        system=system,
        settings=settings,
        selection=selection,
        out=out,
        notes=notes,
        seed=seed,
        crop_size=crop_size,
        batch_size=batch_size,
        reencode=reencode,
        progress=progress,
        warmup=warmup,
        qualities=sorted({int(q) for q in qualities}),
        baseline_codecs=base_codecs,
        baseline_names=[n for n in selection.image if n in set(baseline_metrics)],
        viewer_images=viewer_images,
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
        if run.out is not None:
            run.out.mkdir(parents=True, exist_ok=True)
            tmp = run.out / f".{BITSTREAM_FILE}.tmp"
            tmp.write_bytes(blob)
            tmp.replace(run.out / BITSTREAM_FILE)
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
    if run.warmup and lats:
        _warm_up(lats[0], run)
    for i in mine:
        stem, x_cpu = run.pairs[i]
        original = to_uint8(x_cpu)
        local.crops.append((CropKey.original(stem), center_crop(original, run.crop_size)))
        run.keep_view(local, CropKey.original(stem), original)
    bar = run.bar(len(mine) * len(run.settings), "decode")
    lats_d = [(i, lat.to(run.device)) for i, lat in zip(mine, lats)]
    mse_refs: dict[int, Tensor] = {}  # the file's own mse reconstruction, once per image
    for s_idx, s in enumerate(run.settings):
        bar.set_postfix_str(s.key, refresh=False)
        for group in batches(lats_d, run.batch_size):
            _sync(run.device)
            t0 = time.perf_counter()
            with run.acc.autocast():
                x_hats = decode_group(group, run.system, s.decoder, s.options, run.seed)
            _sync(run.device)
            dt = time.perf_counter() - t0
            local.timing["decode_s"] += dt
            group_mp = sum(enc.pixels[i] for i, _ in group) / 1e6
            # a batch's time is shared by its images: ms per megapixel of the batch
            timing = {"decode_ms_per_mp": dt * 1000.0 / group_mp, "batch_images": len(group)}
            for (i, lat), x_hat in zip(group, x_hats):
                row, u8 = _measure(run, enc, s, i, lat, x_hat.float(), mse_refs, local, timing)
                local.rows.append(row)
                local.crops.append((CropKey.decoder(s, run.pairs[i][0]), center_crop(u8, run.crop_size)))
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
) -> tuple[dict[str, Any], np.ndarray]:
    """The row of one decoded image: rate, per-image metrics, re-encoding consistency; and its 8-bit pixels."""
    stem, x_cpu = run.pairs[i]
    t0 = time.perf_counter()
    values, stand_in, mnotes = _image_metric_values(x_cpu.to(run.device), x_hat, run.selection.image)
    local.timing["image_metrics_s"] += time.perf_counter() - t0
    u8 = to_uint8(x_hat)
    row = _row(
        "image",
        s.decoder,
        s.label,
        s.options_json(),
        stem,
        i,
        enc.sizes[i],
        enc.rec_bytes[i],
        8.0 * enc.rec_bytes[i] / enc.pixels[i],
        enc.est_bits[i] / enc.pixels[i],
    )
    row.update(values)
    if run.reencode:
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
    return _labelled(row, stand_in, mnotes), u8


def _baselines(run: _Run, enc: _Encoded, mine: list[int], local: _Local) -> None:
    """JPEG/WebP at every quality on this process's images; the crop closest in bpp to the bitstream's."""
    t_base = time.perf_counter()
    if run.baseline_codecs:
        bar = run.bar(len(mine) * len(run.qualities) * len(run.baseline_codecs), "baselines")
        for i in mine:
            stem, x_cpu = run.pairs[i]
            x = x_cpu.to(run.device)
            orig_u8 = to_uint8(x_cpu)
            target = 8.0 * enc.rec_bytes[i] / enc.pixels[i]
            for codec in run.baseline_codecs:
                best: tuple[float, np.ndarray, int] | None = None
                for q in run.qualities:
                    res = encode_baseline(orig_u8, codec, q)
                    bpp = 8.0 * res.num_bytes / enc.pixels[i]
                    values, stand_in, mnotes = _image_metric_values(
                        x, from_uint8(res.image, run.device), run.baseline_names
                    )
                    row = _row(
                        "image",
                        codec,
                        f"quality={q}",
                        f'{{"quality": {q}}}',
                        stem,
                        i,
                        enc.sizes[i],
                        res.num_bytes,
                        bpp,
                        float("nan"),
                    )
                    row.update(values)
                    row["quality"] = q
                    local.rows.append(_labelled(row, stand_in, mnotes))
                    if best is None or abs(bpp - target) < best[0]:
                        best = (abs(bpp - target), res.image, q)
                    bar.update()
                assert best is not None
                local.crops.append((CropKey.baseline(codec, best[2], stem), center_crop(best[1], run.crop_size)))
                run.keep_view(local, CropKey.baseline(codec, best[2], stem), best[1])
        bar.close()
    local.timing["baselines_s"] = time.perf_counter() - t_base


def _sort_key(settings: list[DecoderSetting]) -> Callable[[dict[str, Any]], tuple[int, int, int]]:
    """Rows in settings order, then JPEG, then WebP; by quality, then image index."""
    order = {(s.decoder, s.label): k for k, s in enumerate(settings)}
    base_order = {c: len(settings) + k for k, c in enumerate(("jpeg", "webp"))}

    def key(r: dict[str, Any]) -> tuple[int, int, int]:
        k = order.get((r["decoder"], r["setting"]), base_order.get(r["decoder"], 10**6))
        return (k, r.get("quality") or 0, r["index"])

    return key


def _gather(
    run: _Run, local: _Local
) -> tuple[
    list[dict[str, Any]], list[tuple[CropKey, np.ndarray]], dict[int, dict[int, np.ndarray]], list[dict[str, float]]
]:
    """Every process's rows, crops, decoded images (for set metrics) and timings, on every process."""
    rows = gather_object(local.rows)
    crops = gather_object(local.crops)
    images = gather_object(local.images) if run.selection.set else []
    timings = gather_object([local.timing])
    rows.sort(key=_sort_key(run.settings))
    decoded: dict[int, dict[int, np.ndarray]] = {}
    for s_idx, i, u8 in images:
        decoded.setdefault(s_idx, {})[i] = u8
    return rows, crops, decoded, timings


def _summary(
    run: _Run, enc: _Encoded, rows: list[dict[str, Any]], decoded: dict[int, dict[int, np.ndarray]]
) -> tuple[list[dict[str, Any]], float]:
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


def _metric_info(run: _Run, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each selected metric's label and flags; a metric is stand-in if any value was computed with stand-in weights."""
    used_stand_in = {n for r in rows for n in str(r.get("stand_in_metrics", "")).split(";") if n}
    metric_info = {}
    for name, meta in run.selection.info.items():
        meta = dict(meta)
        if name in used_stand_in and not meta["stand_in"]:
            meta["stand_in"] = True
            meta["label"] += STAND_IN_SUFFIX
        metric_info[name] = meta
    if any(m["stand_in"] for m in metric_info.values()):
        labels = ", ".join(m["label"].removesuffix(STAND_IN_SUFFIX) for m in metric_info.values() if m["stand_in"])
        run.notes.append(
            f"{labels} computed with STAND-IN weights (random networks for testing): those values mean nothing"
        )
    return metric_info


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
            "file": BITSTREAM_FILE if run.out is not None else None,
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
        "seed": run.seed,
        "qualities": run.qualities if run.baseline_codecs else [],
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
    if run.out is not None:
        result.info["timing"]["total_s"] = time.perf_counter() - t_start
        result.files = write_report(result, run.out)


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


# --------------------------------------------------------------------------------------- summary


def summarise(inp: SummaryInputs) -> tuple[list[dict[str, Any]], list[str]]:
    """One aggregate row per decoder setting and per baseline quality (means over images, set metrics on the
    whole set, median decode time), and the set metrics' notes."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
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
        row = _row(
            "set",
            decoder,
            setting,
            first["options"],
            f"({len(grp)} images)",
            -1,
            (None, None),
            nbytes,
            8.0 * nbytes / n_pixels,
            inp.est_bits_total / inp.total_pixels if learned else float("nan"),
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
    summary.sort(key=_sort_key(inp.settings))
    notes = []
    for (n, note), where in set_notes.items():
        scope = "" if len(where) == len(inp.settings) else f" ({'; '.join(where)})"
        notes.append(f"{n}{scope}: {note}")
    notes += flat_knob_notes(summary, [(s.decoder, s.label) for s in inp.settings], inp.selection.names)
    return summary, notes
