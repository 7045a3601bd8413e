"""``rdpflex bench fastpaths``: each CPU fast path of issue 13 measured on and off, interleaved, in one run.

Each row times the same work two ways (A = without the fast path, B = with it) alternately, median of
the repeats, and reports B / A as the median over rounds of the ratio within a round (< 1: the
fast path helps):

- ``inference_mode``: entropy decoding (``pipeline.latents``) and the ``mse`` synthesis under
  ``torch.inference_mode()`` instead of ``torch.no_grad()`` (decoders already run in inference mode);
- ``batched entropy decode``: the hyperprior latent codec decoding B same-size images in one call
  (one h_s pass on a batch, rANS per string) instead of B calls;
- ``precomputed beta offsets``: multirealism's G with its per-beta offsets cached (the default) or
  recomputed on every call (the FourierCond MLP and the per-conv projections);
- ``no repeated model loading``: decoding B images with one loaded system (what the CLI does) against
  loading the system and decoder for each image.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch

from rdpflex.bench.common import interleaved_times, paired_ratio


def bench_fastpaths(
    system_dir: Any = None, size: tuple[int, int] = (256, 256), batch: int = 4, repeats: int = 5
) -> list[dict]:
    from rdpflex.bench.codec import sample_image
    from rdpflex.bench.decoders import real_latents
    from rdpflex.decoders import decode_batch, parse_options
    from rdpflex.pipeline import compress_images, latents
    from rdpflex.system import System

    system = System.load(system_dir)
    codec = system.codec
    images = [
        (f"img{i}", sample_image(n, size))
        for i, n in enumerate(("astronaut", "chelsea", "coffee", "rocket", "retina", "motorcycle")[:batch])
    ]
    rdp = compress_images(images, system, estimate=False, exact=False).rdp
    rows = []

    def row(name: str, what: str, times: dict[str, list[float]]) -> None:
        t = {k: statistics.median(v) for k, v in times.items()}
        rows.append(
            {
                "fast path": name,
                "work": what,
                "off_ms": 1e3 * t["off"],
                "on_ms": 1e3 * t["on"],
                "on/off": paired_ratio(times, "on", "off"),
            }
        )

    def interleaved(fns: dict, repeats: int) -> dict[str, list[float]]:
        return interleaved_times(fns, repeats)

    def decode_all() -> None:
        for lat in latents(rdp, system):
            codec.synthesize(lat.y_hat)

    def decode_all_inference() -> None:
        with torch.inference_mode():
            decode_all()

    with torch.no_grad():
        t = interleaved({"off": decode_all, "on": decode_all_inference}, repeats)
    row("inference_mode", f"entropy decode + g_s, {batch} x {size[1]}x{size[0]}", t)

    lc = codec.latent_codec
    strings = [list(im.streams) for im in rdp.images]
    shape = codec.decompress_shape(rdp.images[0].padded_size)

    def one_by_one() -> None:
        for s in strings:
            lc.decompress([[x] for x in s], shape)

    def batched() -> None:
        lc.decompress([[s[k] for s in strings] for k in range(len(strings[0]))], shape)

    with torch.inference_mode():
        t = interleaved({"off": one_by_one, "on": batched}, repeats)
    row("batched entropy decode", f"latent codec decompress (float path), {batch} images", t)

    if "multirealism" in system.trained_decoders():
        dec: Any = system.decoder("multirealism")  # the plugin's class (bench does not import plugins)
        g = dec.generator
        beta = dec.resolve_beta(parse_options(dec, {}))
        y = torch.cat([lat.y_hat for lat in real_latents(system, size, batch)])

        def cached() -> None:
            g.precompute(beta)
            g(y, beta)

        def uncached() -> None:
            g.clear_cache()
            g(y, beta)

        with torch.inference_mode():
            t = interleaved({"off": uncached, "on": cached}, repeats)
        row("precomputed beta offsets", f"multirealism G, batch {batch} x {size[1]}x{size[0]}", t)

    lats = list(latents(rdp, system))
    opts = parse_options(system.decoder("mse"), {})

    def load_each() -> None:
        for lat in lats:
            s = System.load(system_dir)
            decode_batch(s.decoder("mse"), [lat], s.codec, opts, [torch.Generator()])

    def load_once() -> None:
        s = System.load(system_dir)
        for lat in lats:
            decode_batch(s.decoder("mse"), [lat], s.codec, opts, [torch.Generator()])

    t = interleaved({"off": load_each, "on": load_once}, max(1, repeats // 2))
    row("no repeated model loading", f"load system + mse decode of {batch} images", t)
    return rows
