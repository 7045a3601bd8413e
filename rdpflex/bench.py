"""``rdpflex bench``: measured speed against CompressAI on the same model, and decoder timings.

Every figure is a median over repeats, measured in one run on one machine, and written with the
machine and date. Ratios compare rdpflex with CompressAI's own ``compress``/``decompress`` of the
identical model (an imported ``mbt2018-mean``), so they carry over between machines.
"""

from __future__ import annotations

import datetime as dt
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{platform.node() or 'host'}: {cpu}, {torch.get_num_threads()} torch threads{gpu}, torch {torch.__version__}"


def timeit(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1, cuda: bool = False) -> float:
    """Median wall time in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def paired(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeats: int = 5) -> tuple[float, float]:
    """Median times of two functions measured alternately (A, B, A, B...), so load drifts hit both."""
    fn_a(), fn_b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, acc in ((fn_a, ta), (fn_b, tb)):
            t = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def bench_vs_compressai(size: tuple[int, int] = (512, 768), N: int = 128, M: int = 192, repeats: int = 5) -> list[dict]:
    """rdpflex vs CompressAI on one mbt2018-mean (random weights, quality-1..4 sizes), CPU."""
    from compressai.zoo.image import model_architectures

    from rdpflex.bitstream import dumps, loads
    from rdpflex.codecs.compressai_zoo import CompressAIZooCodec
    from rdpflex.pipeline import compress_images, latents
    from rdpflex.system import System

    torch.manual_seed(0)
    net = model_architectures["mbt2018-mean"](N, M).eval()
    net.update(force=True)
    system = System(CompressAIZooCodec("mbt2018-mean", N=N, M=M, net=net))
    x = torch.rand(1, 3, *size)
    # a smooth image: white noise would make the rANS coder dominate unrealistically
    x = torch.nn.functional.avg_pool2d(x, 9, 1, 4).clamp(0, 1)
    mp = size[0] * size[1] / 1e6
    ref = net.compress(x)

    def enc(exact: bool, estimate: bool = False) -> Callable[[], bytes]:
        return lambda: dumps(compress_images([("img", x)], system, estimate=estimate, exact=exact).rdp)

    def dec(blob: bytes) -> Callable[[], None]:
        def run() -> None:
            lat = next(latents(loads(blob), system))
            system.codec.synthesize(lat.y_hat)
        return run

    with torch.no_grad():
        blobs = {exact: enc(exact)() for exact in (False, True)}
        t_cai_enc, t_flt_enc = paired(lambda: net.compress(x), enc(False), repeats)
        _, t_ex_enc = paired(lambda: net.compress(x), enc(True), repeats)
        _, t_ex_est = paired(lambda: None, enc(True, estimate=True), repeats)
        t_cai_dec, t_flt_dec = paired(lambda: net.decompress(ref["strings"], ref["shape"]), dec(blobs[False]), repeats)
        _, t_ex_dec = paired(lambda: net.decompress(ref["strings"], ref["shape"]), dec(blobs[True]), repeats)
    same = loads(blobs[False]).images[0].streams == [ref["strings"][0][0], ref["strings"][1][0]]
    name = f"{size[1]}x{size[0]} (mbt2018-mean N={N} M={M})"

    def row(task: str, t: float, t_ref: float, note: str) -> dict:
        return {"task": task, "compressai_ms": 1e3 * t_ref, "rdpflex_ms": 1e3 * t, "ratio": t / t_ref, "ms_per_MP": 1e3 * t / mp, "note": note}

    return [
        row(f"encode {name}, float entropy path", t_flt_enc, t_cai_enc,
            ".rdp container included" + ("; strings byte-identical" if same else "; STRINGS DIFFER")),
        row(f"encode {name}, exact entropy path", t_ex_enc, t_cai_enc, f"{t_ex_enc / t_flt_enc:.2f}x the float path"),
        row(f"encode {name}, exact + the model's rate estimate", t_ex_est, t_cai_enc, "what `rdpflex compress` does by default (--no-estimate skips it)"),
        row(f"decode {name}, float entropy path (mse)", t_flt_dec, t_cai_dec, "parse + CRCs + entropy decode + g_s"),
        row(f"decode {name}, exact entropy path (mse)", t_ex_dec, t_cai_dec, f"{t_ex_dec / t_flt_dec:.2f}x the float path"),
    ]


def bench_exact_rate(system_dir=None, names: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket", "retina", "motorcycle"),
                     max_side: int = 512) -> list[dict]:
    """File bytes of the exact entropy path against the float path on photographs (the rate cost of exactness)."""
    from rdpflex.pipeline import compress_images
    from rdpflex.system import System
    from rdpflex.train.data import _sample_array

    system = System.load(system_dir)
    rows = []
    for n in names:
        img = torch.from_numpy(_sample_array(n)).permute(2, 0, 1).float().div(255)[None]
        scale = max_side / max(img.shape[-2:])
        if scale < 1:
            img = torch.nn.functional.interpolate(img, scale_factor=scale, mode="area")
        sizes = {exact: compress_images([(n, img)], system, estimate=False, exact=exact).rdp.num_bytes() for exact in (False, True)}
        px = img.shape[-2] * img.shape[-1]
        rows.append({"image": f"{n} {img.shape[-1]}x{img.shape[-2]}", "float_bpp": 8 * sizes[False] / px,
                     "exact_bpp": 8 * sizes[True] / px, "cost_pct": 100 * (sizes[True] / sizes[False] - 1)})
    total = {k: sum(r[k] for r in rows) for k in ("float_bpp", "exact_bpp")}
    rows.append({"image": "mean", "float_bpp": total["float_bpp"] / len(names), "exact_bpp": total["exact_bpp"] / len(names),
                 "cost_pct": 100 * (total["exact_bpp"] / total["float_bpp"] - 1)})
    return rows


def bench_decoders(system_dir=None, size: tuple[int, int] = (256, 256), repeats: int = 3, device: str = "cpu",
                   dtypes: tuple[str, ...] = ("fp32",)) -> list[dict]:
    """ms per megapixel of every decoder trained in a system (its default options)."""
    from rdpflex.decoders import parse_options
    from rdpflex.latent import Latent
    from rdpflex.system import System

    system = System.load(system_dir).to(device)
    h, w = system.codec.latent_shape(size)[1:]
    y_hat = torch.randn(1, system.codec.latent_channels, h, w, device=device).round()
    lat = Latent(y_hat, size, size)
    rows = []
    for name in ["mse", *[n for n in system.trained_decoders() if n != "mse"]]:
        dec = system.decoder(name)
        opts = parse_options(type(dec), {})
        for dtype in dtypes:
            autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=dtype == "bf16")
            gen = torch.Generator(device=device).manual_seed(0)

            def run():
                with torch.no_grad(), autocast:
                    dec.decode(lat, system.codec, opts, gen)

            t = timeit(run, repeats, cuda=device.startswith("cuda"))
            rows.append({"decoder": name, "options": opts.model_dump(), "dtype": dtype, "device": device,
                         "size": f"{size[1]}x{size[0]}", "ms_per_MP": 1e3 * t / (size[0] * size[1] / 1e6)})
    return rows


def to_markdown(rows: list[dict], title: str) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [f"### {title}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def report(system_dir=None, device: str = "cpu", quick: bool = False) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    size = (256, 384) if quick else (512, 768)
    parts = [f"## rdpflex bench — {stamp}", "", f"Machine: {machine()}", ""]
    parts.append(to_markdown(bench_vs_compressai(size, repeats=3 if quick else 5), "rdpflex vs CompressAI, same model, CPU"))
    parts.append(to_markdown(bench_exact_rate(system_dir, max_side=256 if quick else 512), "Rate cost of the exact entropy path (file bytes, this system)"))
    dtypes = ("fp32", "bf16") if device.startswith("cuda") else ("fp32",)
    parts.append(to_markdown(bench_decoders(system_dir, device=device, dtypes=dtypes), f"Decoders ({device})"))
    return "\n".join(parts)
