"""``rdpflex bench codec``: rdpflex against CompressAI on the same model, same images, one run.

For every model (CompressAI's ``mbt2018-mean`` and ``cheng2020-anchor`` imported through
:class:`~rdpflex.codecs.compressai_zoo.CompressAIZooCodec`, rdpflex's own ``msh`` and ``elic``) and
image size, four encoders and three decoders run interleaved:

- CompressAI: the zoo model's own ``compress``/``decompress`` (for rdpflex's own codecs, their
  compressai latent codec called directly: ``latent_codec.compress(g_a(x))``);
- rdpflex, float entropy path: the ``.rdp`` bytes (byte-identical strings to CompressAI's);
- rdpflex, exact entropy path (the default for files): fixed-point entropy parameters;
- rdpflex's default encode (encoder only): what ``rdpflex compress`` does, a PNG file in, the exact
  path and the model's rate estimate.

Sizes: the ``.rdp`` file decomposed against the model's estimated bits (sum of -log2
likelihoods) by :func:`rdpflex.bench.overhead.breakdown`: scale-table rounding, CDF quantisation,
rANS framing, the container in format versions 2 and 3, and what a finer scale table would save.
Random weights time like trained ones; only trained weights (the bundled demo system) give
meaningful size overheads.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from rdpflex.bench.common import interleaved_times, paired_ratio

SIZES: tuple[tuple[int, int], ...] = ((64, 64), (256, 256), (512, 768))
#: model name -> how to build it with random weights (CompressAI zoo widths of qualities 1-5; rdpflex defaults)
MODELS = ("mbt2018-mean", "cheng2020-anchor", "msh", "elic")
#: photographs bundled with scikit-image used at each size (coffee is 400x600: 1.28x to 512x768)
SIZE_SAMPLES = {(64, 64): "astronaut", (256, 256): "astronaut", (512, 768): "coffee"}


def sample_tensor(name: str) -> torch.Tensor:
    """A sample photograph (rdpflex.samples) as (1, 3, H, W) in [0, 1]."""
    from rdpflex.images import from_uint8
    from rdpflex.samples import sample_array

    return from_uint8(sample_array(name))


def sample_image(name: str, size: tuple[int, int]) -> torch.Tensor:
    """A bundled photograph resized to cover ``size`` (H, W) and centre-cropped: (1, 3, H, W) in [0, 1]."""
    img = sample_tensor(name)
    h, w = img.shape[-2:]
    scale = max(size[0] / h, size[1] / w)
    nh, nw = max(size[0], round(h * scale)), max(size[1], round(w * scale))
    img = F.interpolate(
        img, size=(nh, nw), mode="area" if scale < 1 else "bicubic", align_corners=None if scale < 1 else False
    )
    top, left = (nh - size[0]) // 2, (nw - size[1]) // 2
    return img[..., top : top + size[0], left : left + size[1]].clamp(0, 1).contiguous()


def build_model(name: str) -> tuple[Any, Any]:
    """``(system, reference)`` with random weights; ``reference`` is the CompressAI model (zoo) or None (own codec)."""
    from compressai.zoo.image import model_architectures

    from rdpflex.codecs.compressai_zoo import CompressAIZooCodec
    from rdpflex.registry import build_codec
    from rdpflex.system import System

    torch.manual_seed(0)
    if name in ("mbt2018-mean", "cheng2020-anchor"):
        net = model_architectures[name](128) if name == "cheng2020-anchor" else model_architectures[name](128, 192)
        net.eval().update(force=True)
        return System(CompressAIZooCodec(name, N=int(net.N), M=int(net.M), net=net)), net
    codec = build_codec(name).eval()
    codec.update(force=True)
    return System(codec), None


def reference_coder(
    system: Any, net: Any
) -> tuple[Callable[[torch.Tensor], dict], Callable[[dict, tuple[int, int]], torch.Tensor]]:
    """CompressAI's own encode and decode of the model: the zoo model's methods, or the latent codec called directly."""
    codec = system.codec
    if net is not None:
        return net.compress, lambda out, hw: net.decompress(out["strings"], out["shape"])["x_hat"]
    lc = codec.latent_codec
    return (
        lambda x: lc.compress(codec.g_a(x)),
        lambda out, hw: codec.g_s(lc.decompress(out["strings"], codec.decompress_shape(hw))["y_hat"]).clamp(0, 1),
    )


@torch.no_grad()
def bench_model(system: Any, net: Any, x: torch.Tensor, repeats: int = 3) -> tuple[dict, dict]:
    """Time ratios and sizes for one model and one image ``x`` (1, 3, H, W), H and W multiples of 64.

    Ratios are medians over rounds of each contender's time over CompressAI's in the same round
    (:func:`~rdpflex.bench.common.paired_ratio`), robust to load that drifts between rounds. ``default``
    is what ``rdpflex compress`` does without options: a PNG file in, exact path, with the rate estimate.
    """
    import tempfile
    from pathlib import Path

    from rdpflex.bench.overhead import breakdown
    from rdpflex.bitstream import dumps, loads
    from rdpflex.images import save_png
    from rdpflex.pipeline import compress_images, latents

    codec = system.codec
    ref_enc, ref_dec = reference_coder(system, net)
    hw = (int(x.shape[-2]), int(x.shape[-1]))

    def enc(exact: bool) -> Callable[[], bytes]:
        return lambda: dumps(compress_images([("img", x)], system, estimate=False, exact=exact).rdp)

    def dec(blob: bytes) -> Callable[[], torch.Tensor]:
        return lambda: codec.synthesize(next(latents(loads(blob), system)).y_hat).clamp(0, 1)

    ref = ref_enc(x)
    blobs = {exact: enc(exact)() for exact in (False, True)}
    with tempfile.TemporaryDirectory() as tmp:
        png = save_png(x, Path(tmp) / "img.png")
        t_enc = interleaved_times(
            {
                "compressai": lambda: ref_enc(x),
                "float": enc(False),
                "exact": enc(True),
                "default": lambda: dumps(compress_images([png], system).rdp),
            },
            repeats,
        )
    t_dec = interleaved_times(
        {"compressai": lambda: ref_dec(ref, hw), "float": dec(blobs[False]), "exact": dec(blobs[True])}, repeats
    )
    strings = [s[0] for s in ref["strings"]]
    mp = hw[0] * hw[1] / 1e6
    timing = {
        "compressai_enc_ms_per_MP": 1e3 * statistics.median(t_enc["compressai"]) / mp,
        "float_enc_ratio": paired_ratio(t_enc, "float", "compressai"),
        "exact_enc_ratio": paired_ratio(t_enc, "exact", "compressai"),
        "default_enc_ratio": paired_ratio(t_enc, "default", "compressai"),
        "compressai_dec_ms_per_MP": 1e3 * statistics.median(t_dec["compressai"]) / mp,
        "float_dec_ratio": paired_ratio(t_dec, "float", "compressai"),
        "exact_dec_ratio": paired_ratio(t_dec, "exact", "compressai"),
        "strings_identical": loads(blobs[False]).images[0].streams == strings,
        "container_pct": 100 * (len(blobs[True]) / sum(len(b) for b in loads(blobs[True]).images[0].streams) - 1),
    }
    # where the bytes go: estimate, scale-table rounding, CDF quantisation, rANS framing, container (v2 and v3)
    sizes = breakdown(system, x)
    sizes["exact_file_v3_B"] = len(blobs[True])
    return timing, sizes


def bench_codec(
    models: tuple[str, ...] = MODELS,
    sizes: tuple[tuple[int, int], ...] = SIZES,
    repeats: int = 3,
    system_dir: Any = None,
    trained: bool = True,
) -> dict[str, list[dict]]:
    """``{"time": rows, "size": rows}``: every model at every size (random weights), plus the trained
    demo system (or ``system_dir``) for sizes when ``trained``."""
    from rdpflex.bench.overhead import breakdown
    from rdpflex.system import System

    contenders = [(m, "random", *build_model(m)) for m in models]
    if trained:
        system = System.load(system_dir)
        contenders.append(
            (f"{system.codec.arch} ({'demo system' if system_dir is None else system_dir})", "trained", system, None)
        )
    time_rows, size_rows = [], []
    for name, weights, system, net in contenders:
        for size in sizes:
            x = sample_image(SIZE_SAMPLES.get(size, "astronaut"), size)
            label = {"model": name, "weights": weights, "size": f"{size[1]}x{size[0]}"}
            if weights == "random":
                timing, sz = bench_model(system, net, system.codec.pad(x), repeats)
                time_rows.append({**label, **timing})
            else:  # trained weights: sizes only (random weights time alike)
                sz = breakdown(system, system.codec.pad(x))
            size_rows.append({**label, **sz})
    return {"time": time_rows, "size": size_rows}


def bench_exact_rate(
    system_dir: Any = None,
    names: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket", "retina", "motorcycle"),
    max_side: int = 512,
) -> list[dict]:
    """File bytes of the exact entropy path against the float path on photographs (the rate cost of exactness)."""
    from rdpflex.pipeline import compress_images
    from rdpflex.system import System

    system = System.load(system_dir)
    rows: list[dict[str, Any]] = []
    for n in names:
        img = sample_tensor(n)
        scale = max_side / max(img.shape[-2:])
        if scale < 1:
            img = F.interpolate(img, scale_factor=scale, mode="area")
        sizes = {
            exact: compress_images([(n, img)], system, estimate=False, exact=exact).rdp.num_bytes()
            for exact in (False, True)
        }
        px = img.shape[-2] * img.shape[-1]
        rows.append(
            {
                "image": f"{n} {img.shape[-1]}x{img.shape[-2]}",
                "float_bpp": 8 * sizes[False] / px,
                "exact_bpp": 8 * sizes[True] / px,
                "cost_pct": 100 * (sizes[True] / sizes[False] - 1),
            }
        )
    total = {k: sum(r[k] for r in rows) for k in ("float_bpp", "exact_bpp")}
    rows.append(
        {
            "image": "mean",
            "float_bpp": total["float_bpp"] / len(names),
            "exact_bpp": total["exact_bpp"] / len(names),
            "cost_pct": 100 * (total["exact_bpp"] / total["float_bpp"] - 1),
        }
    )
    return rows
