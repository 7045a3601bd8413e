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

import math
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rdpflex.bitstream import RdpFile, dumps, loads
from rdpflex.errors import ImageError, RdpflexError
from rdpflex.evaluation.baselines import DEFAULT_QUALITIES, available_baselines, encode_baseline
from rdpflex.evaluation.reencode import REENCODE_COLUMNS, mse_reconstruction
from rdpflex.evaluation.reencode import reencode as reencode_output
from rdpflex.evaluation.selection import AUTO, MetricSelection, select_metrics
from rdpflex.evaluation.specs import DecoderSetting, DecoderSpec, resolve_settings

#: file names inside the report directory
BITSTREAM_FILE = "bitstream.rdp"
CSV_FILE = "metrics.csv"
JSON_FILE = "metrics.json"
HTML_FILE = "report.html"
RD_PLOT = "rate_distortion.png"
REALISM_PLOT = "distortion_realism.png"
CROPS_DIR = "crops"

#: per-image metrics computed for the JPEG/WebP baselines (when selected): the cheap ones
BASELINE_METRICS = ("psnr", "ms_ssim", "detail")
DEFAULT_CROP = 256


@dataclass
class CompareResult:
    """What :func:`compare` measured. Rows are plain dicts (the CSV's rows, NaN for "not computed")."""

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
    #: (decoder key or "original" or "jpeg"/"webp", stem) -> HxWx3 uint8 center crop (main process)
    crops: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def summary_for(self, decoder: str, setting: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.summary if r["decoder"] == decoder and (setting is None or r["setting"] == setting)]

    def rows_for(self, decoder: str, setting: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["decoder"] == decoder and (setting is None or r["setting"] == setting)]

    @property
    def report(self) -> Path | None:
        return self.files.get("html")

    def to_json(self) -> dict[str, Any]:
        from rdpflex.evaluation.report import result_json

        return result_json(self)

    def table(self, baselines: bool = False) -> str:
        from rdpflex.evaluation.report import text_table

        return text_table(self, baselines=baselines)


# --------------------------------------------------------------------------------------- helpers


def make_accelerator(mixed_precision: str = "no", cpu: bool = False):
    """An :class:`accelerate.Accelerator` for sampling (GPU when present unless ``cpu``)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    import os

    if mixed_precision not in ("no", "bf16", "fp16"):
        raise RdpflexError(f"mixed precision {mixed_precision!r} is not supported; allowed: no, bf16, fp16")
    launched = int(os.environ.get("LOCAL_RANK", -1)) != -1 or int(os.environ.get("WORLD_SIZE", 1) or 1) > 1
    if launched and not cpu and not torch.cuda.is_available():
        # without a GPU, Accelerate runs a torchrun/accelerate-launch job as several processes only with cpu=True
        cpu = True
    try:
        return Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    except ValueError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        if "already been initialized" in msg and PartialState().num_processes == 1:
            # an Accelerator with other settings exists in this (single) process: start afresh
            AcceleratorState._reset_state()
            try:
                return Accelerator(mixed_precision=mixed_precision, cpu=cpu)
            except ValueError as exc2:
                msg = str(exc2).splitlines()[0]
        raise RdpflexError(f"cannot set up Accelerate (mixed_precision={mixed_precision}, cpu={cpu}): {msg}") from None


def load_image_set(images: Any, quiet: bool = False) -> list[tuple[str, Tensor]]:
    """``(stem, (1, 3, H, W) float)`` pairs from a folder, a list of files, or ``(stem, tensor)`` pairs."""
    from rdpflex.images import check_size, find_images, load_image

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


def record_bytes(rdp: RdpFile) -> list[int]:
    """Bytes of each image's record inside the file (so that header + sum(records) == file size)."""
    empty = len(dumps(RdpFile(rdp.fingerprint, [], rdp.arch)))
    return [len(dumps(RdpFile(rdp.fingerprint, [im], rdp.arch))) - empty for im in rdp.images]


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` (at most the image) of an HxWx3 array."""
    h, w = img.shape[:2]
    ch, cw = min(size, h), min(size, w)
    t, l = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[t : t + ch, l : l + cw])


def _u8_hwc(x: Tensor) -> np.ndarray:
    from rdpflex.metrics import quantize

    return quantize(x[0] if x.dim() == 4 else x).permute(1, 2, 0).cpu().numpy()


def _hwc_to_tensor(a: np.ndarray, device: torch.device) -> Tensor:
    return torch.from_numpy(np.array(a, dtype=np.uint8, copy=True)).to(device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def _nan() -> float:
    return float("nan")


def _image_metric_values(x: Tensor, x_hat: Tensor, names: Sequence[str]) -> tuple[dict[str, float], list[str], list[str]]:
    """(values, stand-in metric names, notes) of the per-image metrics."""
    from rdpflex.metrics import compute_image_metrics

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
    :param batch_size: same-size images decoded together (at most this many; see
        :func:`rdpflex.pipeline.batches`). Default 1: ``decode_ms_per_mp`` is then per image.
    :param warmup: before timing, decode one 64x64-pixel corner of a latent once per decoder family
        (one-time initialisation then does not count in ``decode_ms_per_mp``).
    """
    from accelerate.utils import broadcast_object_list, gather_object
    from tqdm.auto import tqdm

    from rdpflex.pipeline import batches, compress_images, decode_group, latents
    from rdpflex.system import System

    t_start = time.perf_counter()
    acc = accelerator if accelerator is not None else make_accelerator(mixed_precision, cpu)
    device = acc.device
    main = acc.is_main_process
    notes: list[str] = []

    # -- validate everything on every process before any work --------------------------------
    if crop_size < 8:
        raise RdpflexError(f"crop size must be at least 8 px, got {crop_size}")
    if batch_size < 1:
        raise RdpflexError(f"batch size must be at least 1, got {batch_size}")
    if baselines and any(not 1 <= int(q) <= 100 for q in qualities):
        raise RdpflexError(f"baseline qualities must lie in 1..100, got {list(qualities)}")
    pairs = load_image_set(images, quiet=not main)
    selection: MetricSelection = select_metrics(metrics)
    notes += selection.notes()
    if not isinstance(system, System):
        system = System.load(system)
    system.to("cpu")  # entropy coding on the CPU, always
    settings = resolve_settings(system, decoders, notes)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise RdpflexError(f"report directory {out} exists and is not a directory")

    # -- encode once (main process), share the bytes ---------------------------------------
    payload: list[Any] = [None]
    main_exc: BaseException | None = None
    if main:
        try:
            t0 = time.perf_counter()
            enc = compress_images(pairs, system)
            blob = dumps(enc.rdp)
            encode_s = time.perf_counter() - t0
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                tmp = out / f".{BITSTREAM_FILE}.tmp"
                tmp.write_bytes(blob)
                tmp.replace(out / BITSTREAM_FILE)
            payload = [(blob, list(enc.estimated_bits), encode_s, None)]
        except Exception as exc:  # noqa: BLE001 - the other processes must not wait forever
            main_exc = exc
            payload = [(None, None, None, str(exc) or exc.__class__.__name__)]
    acc.wait_for_everyone()
    payload = broadcast_object_list(payload)
    blob, est_bits, encode_s, error = payload[0]
    if main_exc is not None:
        raise main_exc
    if error is not None:
        raise RdpflexError(f"the main process failed to encode the images: {error}")
    rdp = loads(blob)
    file_bytes = len(blob)
    rec_bytes = record_bytes(rdp)
    sizes = [tuple(im.image_size) for im in rdp.images]
    pixels = [h * w for h, w in sizes]
    total_pixels = sum(pixels)
    stems = [im.stem for im in rdp.images]

    need_images = bool(selection.set)
    image_names = selection.image
    base_names = [n for n in image_names if n in set(baseline_metrics)]
    base_codecs = available_baselines() if baselines else []
    if baselines and "webp" not in base_codecs:
        notes.append("WebP baseline skipped: this Pillow has no WebP support")

    local_rows: list[dict[str, Any]] = []
    local_crops: list[tuple[str, str, np.ndarray]] = []
    local_images: list[tuple[int, int, np.ndarray]] = []  # (setting index, image index, HxWx3 uint8)
    timing: dict[str, float] = {"encode_s": encode_s or 0.0}

    with acc.split_between_processes(list(range(len(pairs)))) as mine:
        mine = list(mine)
        # entropy decoding of this process's share, on the CPU
        t0 = time.perf_counter()
        sub = RdpFile(rdp.fingerprint, [rdp.images[i] for i in mine], rdp.arch, exact=rdp.exact, version=rdp.version)
        lats = list(latents(sub, system, "bitstream"))
        timing["entropy_decode_s"] = time.perf_counter() - t0
        timing.update(decode_s=0.0, image_metrics_s=0.0, baselines_s=0.0)
        system.to(device)
        try:
            if warmup and lats:
                _warm_up(lats[0], system, settings, device, acc)
            bar = tqdm(total=len(mine) * len(settings), desc="decode", unit="img", file=sys.stderr,
                       disable=not (progress and main), dynamic_ncols=True)
            for i in mine:
                stem, x_cpu = pairs[i]
                local_crops.append(("original", stem, center_crop(_u8_hwc(x_cpu), crop_size)))
            lats_d = [(i, lat.to(device)) for i, lat in zip(mine, lats)]
            mse_refs: dict[int, Tensor] = {}
            for s_idx, s in enumerate(settings):
                bar.set_postfix_str(s.key, refresh=False)
                for group in batches(lats_d, batch_size):
                    _sync(device)
                    t0 = time.perf_counter()
                    with acc.autocast():
                        x_hats = decode_group(group, system, s.decoder, s.options, seed)
                    _sync(device)
                    dt = time.perf_counter() - t0
                    timing["decode_s"] += dt
                    group_mp = sum(pixels[i] for i, _ in group) / 1e6
                    for (i, lat), x_hat in zip(group, x_hats):
                        stem, x_cpu = pairs[i]
                        x = x_cpu.to(device)
                        x_hat = x_hat.float()
                        t0 = time.perf_counter()
                        values, stand_in, mnotes = _image_metric_values(x, x_hat, image_names)
                        timing["image_metrics_s"] += time.perf_counter() - t0
                        u8 = _u8_hwc(x_hat)
                        row = _row("image", s.decoder, s.label, s.options_json(), stem, i, sizes[i],
                                   rec_bytes[i], 8.0 * rec_bytes[i] / pixels[i], est_bits[i] / pixels[i])
                        row.update(values)
                        if reencode:
                            t0 = time.perf_counter()
                            if i not in mse_refs:  # the file's own mse reconstruction, once per image
                                mse_refs[i] = mse_reconstruction(lat, system.codec)
                            re = reencode_output(_hwc_to_tensor(u8, device), lat, rdp.images[i], system.codec, rdp.exact, mse_refs[i])
                            timing["reencode_s"] = timing.get("reencode_s", 0.0) + time.perf_counter() - t0
                            row.update(reencode_agreement=re.latent_agreement, reencode_identical=float(re.bitstream_identical),
                                       reencode_mse_psnr=re.mse_psnr)
                        # a batch's time is shared by its images: ms per megapixel of the batch
                        row["decode_ms_per_mp"] = dt * 1000.0 / group_mp
                        row["batch_images"] = len(group)
                        row["stand_in_metrics"] = ";".join(stand_in)
                        row["notes"] = "; ".join(dict.fromkeys(mnotes))
                        local_rows.append(row)
                        local_crops.append((s.key, stem, center_crop(u8, crop_size)))
                        if need_images:
                            local_images.append((s_idx, i, u8))
                        bar.update()
            bar.close()

            t_base = time.perf_counter()
            if base_codecs:
                qs = sorted({int(q) for q in qualities})
                bbar = tqdm(total=len(mine) * len(qs) * len(base_codecs), desc="baselines", unit="img", file=sys.stderr,
                            disable=not (progress and main), dynamic_ncols=True)
                for i in mine:
                    stem, x_cpu = pairs[i]
                    x = x_cpu.to(device)
                    orig_u8 = _u8_hwc(x_cpu)
                    target = 8.0 * rec_bytes[i] / pixels[i]
                    for codec in base_codecs:
                        best: tuple[float, np.ndarray, int] | None = None
                        for q in qs:
                            res = encode_baseline(orig_u8, codec, q)
                            bpp = 8.0 * res.num_bytes / pixels[i]
                            values, stand_in, mnotes = _image_metric_values(x, _hwc_to_tensor(res.image, device), base_names)
                            row = _row("image", codec, f"quality={q}", f'{{"quality": {q}}}', stem, i, sizes[i],
                                       res.num_bytes, bpp, _nan())
                            row.update(values)
                            row["quality"] = q
                            row["stand_in_metrics"] = ";".join(stand_in)
                            row["notes"] = "; ".join(dict.fromkeys(mnotes))
                            local_rows.append(row)
                            if best is None or abs(bpp - target) < best[0]:
                                best = (abs(bpp - target), res.image, q)
                            bbar.update()
                        assert best is not None
                        local_crops.append((f"{codec}[quality={best[2]}]", stem, center_crop(best[1], crop_size)))
                bbar.close()
            timing["baselines_s"] = time.perf_counter() - t_base
        finally:
            system.to("cpu")

    # -- gather on the main process -----------------------------------------------------------
    rows = gather_object(local_rows)
    crops_list = gather_object(local_crops)
    images_list = gather_object(local_images) if need_images else []
    timings = gather_object([timing])

    order = {s.key: k for k, s in enumerate(settings)}
    base_order = {c: len(settings) + k for k, c in enumerate(("jpeg", "webp"))}

    def sort_key(r: dict[str, Any]) -> tuple:
        k = order.get(f"{r['decoder']}[{r['setting']}]", base_order.get(r["decoder"], 10**6))
        return (k, r.get("quality") or 0, r["index"])

    rows.sort(key=sort_key)
    summary_payload: list[Any] = [None]
    if main:
        originals = [_u8_hwc(x) for _, x in pairs]
        decoded: dict[int, dict[int, np.ndarray]] = {}
        for s_idx, i, u8 in images_list:
            decoded.setdefault(s_idx, {})[i] = u8
        t0 = time.perf_counter()
        summary = _summarise(rows, settings, selection, decoded, originals, file_bytes, total_pixels,
                             sum(est_bits), device, notes, sort_key)
        summary_payload = [(summary, notes, time.perf_counter() - t0)]
    summary_payload = broadcast_object_list(summary_payload)
    summary, notes, set_metrics_s = summary_payload[0]

    # a metric is stand-in if any value was computed with stand-in weights
    used_stand_in = {n for r in rows + summary for n in str(r.get("stand_in_metrics", "")).split(";") if n}
    metric_info = {}
    from rdpflex.metrics.base import STAND_IN_SUFFIX

    for name, meta in selection.info.items():
        meta = dict(meta)
        if name in used_stand_in and not meta["stand_in"]:
            meta["stand_in"] = True
            meta["label"] += STAND_IN_SUFFIX
        metric_info[name] = meta
    if any(m["stand_in"] for m in metric_info.values()):
        labels = ", ".join(m["label"].removesuffix(STAND_IN_SUFFIX) for m in metric_info.values() if m["stand_in"])
        notes.append(f"{labels} computed with STAND-IN weights (random networks for testing): those values mean nothing")

    info = {
        "system": {"root": str(system.root) if system.root else None, "fingerprint": system.fingerprint,
                   "arch": system.codec.arch},
        "bitstream": {"file": BITSTREAM_FILE if out is not None else None, "bytes": file_bytes,
                      "bpp": 8.0 * file_bytes / total_pixels, "bpp_estimated": sum(est_bits) / total_pixels},
        "images": [{"stem": st, "height": h, "width": w, "record_bytes": b} for st, (h, w), b in zip(stems, sizes, rec_bytes)],
        "device": str(device),
        "processes": acc.num_processes,
        "mixed_precision": str(acc.mixed_precision),
        "seed": seed,
        "qualities": sorted({int(q) for q in qualities}) if base_codecs else [],
        "baselines": base_codecs,
        "timing": {
            "encode_s": timings[0]["encode_s"],
            # summed over processes (each works on its share of the images)
            **{k: sum(t[k] for t in timings) for k in ("entropy_decode_s", "decode_s", "image_metrics_s", "baselines_s")},
            "set_metrics_s": set_metrics_s,
            "total_s": time.perf_counter() - t_start,
        },
    }
    result = CompareResult(rows=rows, summary=summary, metrics=metric_info, settings=settings, notes=notes,
                           info=info, out_dir=out)
    if main:
        result.crops = {(k, st): a for k, st, a in crops_list}
        if out is not None:
            from rdpflex.evaluation.report import write_report

            result.info["timing"]["total_s"] = time.perf_counter() - t_start
            result.files = write_report(result, out)
    acc.wait_for_everyone()
    return result


def _warm_up(lat: Any, system: Any, settings: list[DecoderSetting], device: torch.device, acc: Any) -> None:
    """Decode a small corner of ``lat`` once with the first setting of every decoder family (untimed)."""
    from rdpflex.latent import Latent
    from rdpflex.pipeline import decode_latent

    codec = system.codec
    side = 64
    try:
        c, h, w = codec.latent_shape((side, side))
    except Exception:  # noqa: BLE001 - a codec without latent_shape: no warm-up
        return
    if lat.y_hat.shape[-2] < h or lat.y_hat.shape[-1] < w:
        return
    small = Latent(lat.y_hat[..., :h, :w].contiguous(), (side, side), (side, side), lat.stem).to(device)
    from rdpflex.decoders import capabilities
    from rdpflex.plugins import get_decoder_class

    done: set[str] = set()
    for s in settings:
        if s.decoder in done:
            continue
        done.add(s.decoder)
        if capabilities(get_decoder_class(s.decoder)).needs_grad:
            continue  # guided families re-derive the file's grid from its streams: no corner crop to warm up with
        with acc.autocast():
            decode_latent(small, system, s.decoder, s.options, 0)
    _sync(device)


def _row(level: str, decoder: str, setting: str, options: str, image: str, index: int, size: tuple[int, int],
         nbytes: int, bpp: float, bpp_est: float) -> dict[str, Any]:
    return {
        "level": level, "decoder": decoder, "setting": setting, "options": options, "image": image, "index": index,
        "height": size[0], "width": size[1], "bytes": nbytes, "bpp": bpp, "bpp_estimated": bpp_est,
    }


def _mean(values: list[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(sum(vals) / len(vals)) if vals else float("nan")


def _summarise(rows, settings, selection, decoded, originals, file_bytes, total_pixels, est_bits_total, device,
               notes, sort_key) -> list[dict[str, Any]]:
    from rdpflex.metrics import compute_set_metrics

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["decoder"], r["setting"]), []).append(r)
    key_to_idx = {(s.decoder, s.label): k for k, s in enumerate(settings)}
    metric_names = [n for n in selection.image] + list(REENCODE_COLUMNS)
    summary = []
    set_notes: dict[tuple[str, str], list[str]] = {}
    for (decoder, setting), grp in groups.items():
        first = grp[0]
        learned = (decoder, setting) in key_to_idx
        n_pixels = sum(r["height"] * r["width"] for r in grp)
        nbytes = file_bytes if learned else sum(r["bytes"] for r in grp)
        row = {
            "level": "set", "decoder": decoder, "setting": setting, "options": first["options"],
            "image": f"({len(grp)} images)", "index": -1, "height": None, "width": None,
            "bytes": nbytes, "bpp": 8.0 * nbytes / n_pixels,
            "bpp_estimated": est_bits_total / total_pixels if learned else float("nan"),
        }
        if "quality" in first:
            row["quality"] = first["quality"]
        stand_in: set[str] = set()
        row_notes: list[str] = []
        for r in grp:
            stand_in |= {n for n in r.get("stand_in_metrics", "").split(";") if n}
        for n in metric_names:
            if any(n in r for r in grp):
                row[n] = _mean([r.get(n, float("nan")) for r in grp])
        if learned:
            s_idx = key_to_idx[(decoder, setting)]
            if selection.set:
                imgs = decoded.get(s_idx, {})
                order = sorted(imgs)
                orig = [torch.from_numpy(originals[i]).permute(2, 0, 1) for i in order]
                rec = [torch.from_numpy(imgs[i]).permute(2, 0, 1) for i in order]
                res = compute_set_metrics(orig, rec, selection.set, cuda=device.type == "cuda")
                for n, mr in res.items():
                    row[n] = float(mr.value)
                    for k, v in mr.extra.items():
                        row[k] = v
                    if mr.stand_in:
                        stand_in.add(n)
                    for note in mr.notes:
                        set_notes.setdefault((n, note), []).append(f"{decoder} {setting}")
                        row_notes.append(f"{n}: {note}")
            times = [r["decode_ms_per_mp"] for r in grp if "decode_ms_per_mp" in r]
            row["decode_ms_per_mp"] = statistics.median(times) if times else float("nan")
        row["stand_in_metrics"] = ";".join(n for n in list(selection.image) + list(selection.set) if n in stand_in)
        row["notes"] = "; ".join(row_notes)
        summary.append(row)
    summary.sort(key=sort_key)
    for (n, note), where in set_notes.items():
        scope = "" if len(where) == len(settings) else f" ({'; '.join(where)})"
        notes.append(f"{n}{scope}: {note}")
    return summary
