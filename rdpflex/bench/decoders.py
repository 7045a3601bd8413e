"""``rdpflex bench decoders``: decode time per megapixel of every decoder of a system, as a ratio to ``mse``.

Each decoder runs at its main settings (:data:`MAIN_SETTINGS`; its defaults otherwise) on the same
latents, interleaved with ``mse`` in the same run, at batch sizes 1, 4 and 16 through the pipeline's
batched path (:func:`rdpflex.decoders.decode_batch`: one call per batch, inference mode or autograd as
the family declares); the ratio is the median over rounds of the decoder's time over ``mse``'s in the
same round; with the peak growth of the resident set (CPU) or of allocated memory (GPU).
The latents are real: crops of the bundled photographs compressed into one ``.rdp`` and entropy-decoded,
because some families (idempotence) re-run the encoder against the file's own streams.

Variants (:data:`VARIANTS`), each applied alike to ``mse`` and the decoder it is compared with:
``fp32``; ``bf16`` (autocast); ``channels_last`` (modules and latents in NHWC memory format);
``compile`` (``torch.compile`` of every top-level network of the decoder and of the codec's g_s).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch

from rdpflex.bench.common import interleaved_times, paired_ratio, peak_rss_increase

#: the settings each family is measured at (families not listed: their default options)
MAIN_SETTINGS: dict[str, list[dict[str, Any]]] = {
    "multirealism": [{}],  # one pass of G at beta_max
    "cdiff": [{"steps": 4}, {"steps": 16}, {"steps": 50}],
    "idempotence": [{}],  # its default steps
}
VARIANTS = ("fp32", "bf16", "channels_last", "compile")
#: photographs the benchmark latents are cut from (centre crops, one per image, cycled)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "retina", "motorcycle")


def real_latents(system: Any, size: tuple[int, int], count: int, device: str = "cpu") -> list[Any]:
    """``count`` latents of ``size`` (H, W): photographs compressed into one file and entropy-decoded."""
    from rdpflex.bench.codec import sample_image
    from rdpflex.pipeline import compress_images, latents

    images = [(f"img{i}", sample_image(PHOTOS[i % len(PHOTOS)], size)) for i in range(count)]
    lats = list(latents(compress_images(images, system, estimate=False).rdp, system))
    for lat in lats:
        lat.y_hat = lat.y_hat.to(device)
    return lats


def _networks(obj: Any) -> list[tuple[Any, str]]:
    """(owner, attribute) of every top-level ``nn.Module`` with parameters held by a decoder object."""
    items = obj.named_children() if isinstance(obj, torch.nn.Module) else vars(obj).items()
    return [(obj, k) for k, v in items if isinstance(v, torch.nn.Module) and any(True for _ in v.parameters())]


def apply_variant(
    system: Any, decoders: list[Any], lats: list[Any], variant: str, backend: str = "inductor"
) -> list[Any]:
    """Put the system's codec, the given decoder objects and the latents in ``variant``'s form (in place)."""
    if variant == "channels_last":
        for obj in [system.codec, *decoders]:
            for owner, k in _networks(obj):
                getattr(owner, k).to(memory_format=torch.channels_last)
        for lat in lats:
            lat.y_hat = lat.y_hat.contiguous(memory_format=torch.channels_last)
    elif variant == "compile":
        system.codec.g_s = torch.compile(system.codec.g_s, backend=backend, dynamic=False)
        for dec in decoders:
            for owner, k in _networks(dec):
                setattr(owner, k, torch.compile(getattr(owner, k), backend=backend, dynamic=False))
    return lats


def bench_decoders(
    system_dir: Any = None,
    size: tuple[int, int] = (64, 64),
    batches: tuple[int, ...] = (1, 4, 16),
    repeats: int = 3,
    device: str = "cpu",
    variants: tuple[str, ...] = ("fp32",),
    decoders: tuple[str, ...] | None = None,
    max_batch: dict[str, int] | None = None,
    compile_backend: str = "inductor",
) -> list[dict]:
    """One row per decoder, setting, variant and batch size: ms/MP, ratio to ``mse`` in the same run, peak memory.

    ``max_batch`` caps the batch size of a family (e.g. ``{"idempotence": 4}`` where 16 images take
    minutes on a CPU); rows above the cap are skipped (and say so in the table's absence).
    """
    from rdpflex.decoders import decode_batch, parse_options
    from rdpflex.system import System

    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    rows = []
    for variant in variants:
        system = System.load(system_dir).to(device)  # fresh per variant: channels_last and compile change modules
        names = ["mse", *[n for n in (decoders or system.trained_decoders()) if n != "mse"]]
        objs = {n: system.decoder(n) for n in names}
        system.to(device)  # the decoders just loaded too
        all_lats = apply_variant(
            system, list(objs.values()), real_latents(system, size, max(batches), device), variant, compile_backend
        )
        autocast = torch.autocast(
            device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=variant == "bf16"
        )
        for batch in batches:
            lats = all_lats[:batch]
            mp = batch * size[0] * size[1] / 1e6

            def runner(name: str, opts: Any, lats: list = lats) -> Callable[[], Any]:
                def run() -> None:
                    with autocast:
                        decode_batch(
                            objs[name],
                            lats,
                            system.codec,
                            opts,
                            [torch.Generator(device=device).manual_seed(i) for i in range(len(lats))],
                        )

                return run

            mse = runner("mse", parse_options(objs["mse"], {}))
            for name in names:
                if max_batch and batch > max_batch.get(name, batch):
                    continue
                for setting in MAIN_SETTINGS.get(name, [{}]):
                    opts = parse_options(objs[name], setting)
                    run = runner(name, opts)
                    peak = peak_rss_increase(run) if device == "cpu" else _cuda_peak(run, device)  # also the warm-up
                    times = interleaved_times({"mse": mse, "dec": run}, repeats, warmup=0, sync=sync)
                    t = {k: statistics.median(v) for k, v in times.items()}
                    rows.append(
                        {
                            "decoder": name,
                            "options": ", ".join(f"{k}={v}" for k, v in opts.model_dump().items() if k != "seed"),
                            "device": device,
                            "variant": variant,
                            "batch": batch,
                            "size": f"{size[1]}x{size[0]}",
                            "ms_per_MP": 1e3 * t["dec"] / mp,
                            "ms_per_image": 1e3 * t["dec"] / batch,
                            "ratio_to_mse": paired_ratio(times, "dec", "mse"),
                            "peak_MiB": peak / 2**20,
                        }
                    )
    return rows


def _cuda_peak(run: Any, device: str) -> int:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    run()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base
