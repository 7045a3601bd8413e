"""``rdpflex bench decoders``: decode time per megapixel of every decoder of a system, as a ratio to ``mse``.

Each decoder runs at its main settings (:data:`MAIN_SETTINGS`; its defaults otherwise) on the same
random latent, interleaved with ``mse`` in the same run, at batch sizes 1, 4 and 16 (images decoded
one after another, as the pipeline does, so ms/MP shows what batching would have to beat), with the
peak growth of the resident set. On a GPU: fp32 and bf16 autocast.
"""

from __future__ import annotations

from typing import Any

import torch

from rdpflex.bench.common import interleaved, peak_rss_increase

#: the settings each family is measured at (families not listed: their default options)
MAIN_SETTINGS: dict[str, list[dict[str, Any]]] = {
    "multirealism": [{}],  # one pass of G at beta_max
    "cdiff": [{"steps": 4}, {"steps": 16}, {"steps": 50}],
    "idempotence": [{}],  # its default steps
}


def random_latents(codec: Any, size: tuple[int, int], count: int, device: str) -> list[Any]:
    from rdpflex.latent import Latent

    g = torch.Generator().manual_seed(0)
    c, h, w = codec.latent_shape(size)
    return [Latent((3 * torch.randn(1, c, h, w, generator=g)).round().to(device), size, size, f"img{i}") for i in range(count)]


def bench_decoders(system_dir: Any = None, size: tuple[int, int] = (256, 256), batches: tuple[int, ...] = (1, 4, 16),
                   repeats: int = 3, device: str = "cpu", dtypes: tuple[str, ...] = ("fp32",), decoders: tuple[str, ...] | None = None) -> list[dict]:
    """One row per decoder, setting, dtype and batch size: ms/MP, ratio to ``mse`` in the same run, peak memory."""
    from rdpflex.decoders import parse_options
    from rdpflex.system import System

    system = System.load(system_dir).to(device)
    names = ["mse", *[n for n in (decoders or system.trained_decoders()) if n != "mse"]]
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    rows = []
    for batch in batches:
        lats = random_latents(system.codec, size, batch, device)
        mp = batch * size[0] * size[1] / 1e6
        for dtype in dtypes:
            autocast = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=dtype == "bf16")

            def runner(name: str, opts: Any) -> Any:
                dec = system.decoder(name)

                def run() -> None:
                    with torch.inference_mode(), autocast:
                        for i, lat in enumerate(lats):
                            dec.decode(lat, system.codec, opts, torch.Generator(device=device).manual_seed(i))
                return run

            mse = runner("mse", parse_options(type(system.decoder("mse")), {}))
            for name in names:
                for setting in MAIN_SETTINGS.get(name, [{}]):
                    opts = parse_options(system.decoder(name), setting)
                    run = runner(name, opts)
                    t = interleaved({"mse": mse, "dec": run}, repeats, sync=sync)
                    peak = peak_rss_increase(run) if device == "cpu" else _cuda_peak(run, device)
                    rows.append({"decoder": name, "options": opts.model_dump(), "device": device, "dtype": dtype, "batch": batch,
                                 "size": f"{size[1]}x{size[0]}", "ms_per_MP": 1e3 * t["dec"] / mp,
                                 "ratio_to_mse": t["dec"] / t["mse"], "peak_MiB": peak / 2**20})
    return rows


def _cuda_peak(run: Any, device: str) -> int:
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    run()
    return torch.cuda.max_memory_allocated(device) - base
