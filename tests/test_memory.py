"""Bounded memory on large images: tiling equals one pass, and peak RSS stays within the documented budget.

The 4096x4096 measurement runs the command line a user runs (``compress``, ``decompress`` with every built-in
family, ``compare``), each in a fresh process, and is ``@pytest.mark.slow``; the always-on checks run the same
commands in-process on a 1152x1152 image and record the largest input any network receives (it must be a tile,
not the image), and decode a 2048x2048 latent with ``multirealism`` in a fresh process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rdpflex import tiling
from rdpflex.system import System

PROBE = Path(__file__).with_name("memory_probe.py")
CLI_PEAK = Path(__file__).with_name("cli_peak_rss.py")
#: documented budget (docs/reliability.md): peak RSS of a process coding one 4096x4096 image, system loaded
BUDGET_4096_MIB = 2560
#: always-on: growth over the loaded process for a 2048x2048 multirealism decode (untiled: about 530 MiB)
BUDGET_2048_GROWTH_MIB = 400


def probe(phase: str, side: int, folder: Path) -> dict:
    out = subprocess.run(
        [sys.executable, str(PROBE), phase, str(side), str(folder)], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def demo() -> System:
    return System.load(None)


def test_tiled_synthesis_and_analysis_equal_one_pass(demo):
    torch.manual_seed(0)
    c = demo.codec
    y = torch.randn(1, c.latent_channels, 10, 14).round()
    g = demo.decoder("multirealism").generator
    g.precompute(1.0)
    x = torch.rand(1, 3, 10 * 16, 14 * 16)
    with torch.no_grad():
        for fn, inp, a, b in ((c.g_s, y, 1, 16), (lambda t: g(t, 1.0), y, 1, 16), (c.g_a, x, 16, 1)):
            whole = fn(inp)
            tiles = tiling.tiled(fn, inp, a, b, tile=7, margin=tiling.MARGIN)  # 2 x 2 tiles
            assert tiles.shape == whole.shape
            print("max |tiled - one pass|", float((tiles - whole).abs().max()))
            assert (tiles - whole).abs().max() < 1e-4, float((tiles - whole).abs().max())


def test_small_images_are_not_tiled():
    calls = []
    tiling.tiled(lambda t: calls.append(t.shape) or t, torch.zeros(1, 1, 64, 64), 1, 1)
    assert calls == [(1, 1, 64, 64)]


def test_large_decode_memory_is_bounded(tmp_path):
    r = probe("multirealism-synthesis", 2048, tmp_path)
    assert r["peak_mib"] - r["base_mib"] < BUDGET_2048_GROWTH_MIB, r


#: the families and options of the command-line measurement (cdiff at 1 step: its memory does not grow with steps)
DECODE_ARGS = {
    "mse": [],
    "multirealism": ["--set", "beta=2.56"],
    "cdiff": ["--set", "steps=1"],
    "idempotence": [],  # refused above its budget of 2^22 padded pixels untiled, naming it and --tile
}


def cli_peak(*args: object) -> dict:
    """Exit code, peak RSS and seconds of ``rdpflex ARGS`` in a fresh process (tests/cli_peak_rss.py)."""
    cmd = [sys.executable, str(CLI_PEAK), *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_4096_through_the_command_line_within_budget(tmp_path):
    """What a user runs on a 4096 x 4096 photograph: ``rdpflex compress``, ``rdpflex decompress`` with every built-in
    family and ``rdpflex compare``, each in its own process: within the budget or cleanly refused, except cdiff and
    compare, held at their measured peaks (about an hour on the loaded 2-core VM, most of it cdiff's 289 tiles)."""
    from rdpflex.images import save_png

    (tmp_path / "img").mkdir()
    save_png(torch.rand(1, 3, 4096, 4096, generator=torch.Generator().manual_seed(0)), tmp_path / "img" / "big.png")
    rdp = tmp_path / "big.rdp"
    rows = {"compress": cli_peak("compress", tmp_path / "img" / "big.png", "-o", rdp, "--no-estimate")}
    for family, extra in DECODE_ARGS.items():
        rows[family] = cli_peak("decompress", rdp, "-o", tmp_path / family, "--decoder", family, *extra)
    report = ["--decoder", "mse", "--metrics", "psnr", "--no-baselines"]
    rows["compare --no-reencode"] = cli_peak(
        "compare", tmp_path / "img", "-o", tmp_path / "r1", *report, "--no-reencode"
    )
    rows["compare"] = cli_peak("compare", tmp_path / "img", "-o", tmp_path / "r2", *report)
    print(json.dumps(rows))
    table = os.environ.get("RDPFLEX_MEMORY_TABLE")
    if table:
        Path(table).write_text(json.dumps(rows, indent=1))
    refused = rows.pop("idempotence")
    budget = r"error: idempotence: .* above the 4194304 pixels sampled whole; decode it in tiles \(--tile 512\)"
    assert refused["rc"] == 2 and re.fullmatch(budget, refused["stderr"]), refused
    assert all(r["rc"] == 0 for r in rows.values()), rows
    within = ("compress", "mse", "multirealism")
    assert all(rows[k]["peak_mib"] <= BUDGET_4096_MIB for k in within) and refused["peak_mib"] <= BUDGET_4096_MIB, rows
    # not yet within 2.5 GiB (docs/reliability.md section 4, "Open"): held at what was measured on 2026-12-07, so
    # that they do not grow further unnoticed
    assert all(rows[k]["peak_mib"] <= limit for k, limit in OVER_BUDGET_MIB.items()), rows


#: measured peaks above the budget (2026-12-07: cdiff 2775 MiB, compare 3408 / 4146 MiB) plus 10 %
OVER_BUDGET_MIB = {"cdiff": 3050, "compare --no-reencode": 3750, "compare": 4560}


def largest_module_inputs(run) -> dict[str, int]:
    """Run ``run()`` and return, per module class, the largest side (H or W) of any 4-D input it received."""
    seen: dict[str, int] = {}

    def record(module, args):
        for a in args:
            if isinstance(a, torch.Tensor) and a.dim() == 4:
                name = type(module).__name__
                seen[name] = max(seen.get(name, 0), *a.shape[-2:])

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        run()
    finally:
        handle.remove()
    return seen


@pytest.fixture(scope="module")
def just_over_one_tile(tmp_path_factory) -> Path:
    """A 1152 x 1152 image (72 latent units: just over the 64-unit tile of the exact tiling) and its .rdp."""
    from rdpflex.cli import main
    from rdpflex.images import save_png

    d = tmp_path_factory.mktemp("tiles")
    (d / "img").mkdir()
    save_png(torch.rand(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(0)), d / "img" / "x.png")
    main(["compress", str(d / "img" / "x.png"), "-o", str(d / "x.rdp"), "--no-estimate"])
    return d


#: the always-on check: an image just above the size where every family starts to tile
SIDE = 1152


@pytest.mark.parametrize(
    "family",
    ["mse", "multirealism", pytest.param("cdiff", marks=pytest.mark.slow)],  # cdiff: 2.5 min on 2 cores
)
def test_the_command_line_decodes_large_images_in_tiles(family, just_over_one_tile, capsys):
    """``rdpflex decompress`` (in-process) on a 1152 x 1152 image: no network ever sees the whole image, so memory
    follows the tile (the 4096 x 4096 figures: the slow test above). cdiff tiles without ``--tile``."""
    from rdpflex.cli import main

    d = just_over_one_tile
    args = ["decompress", str(d / "x.rdp"), "-o", str(d / family), "--decoder", family, *DECODE_ARGS[family]]
    seen = largest_module_inputs(lambda: main(args))
    assert (d / family / "x.png").is_file()
    assert seen and max(seen.values()) < SIDE, seen  # whole-image synthesis would feed SIDE x SIDE somewhere
    if family == "cdiff":
        assert seen["UNet2DModel"] <= 256, seen  # its automatic tiles


def test_compare_decodes_and_reencodes_large_images_in_tiles(just_over_one_tile, tmp_path):
    """``compare`` decodes through the same tiled path and re-encodes (g_a, g_s) in tiles too."""
    from rdpflex.evaluation import compare

    d = just_over_one_tile
    kw = dict(decoders=["mse"], metrics="psnr", baselines=False, progress=False, warmup=False)
    seen = largest_module_inputs(lambda: compare(d / "img", None, out_dir=tmp_path / "report", **kw))
    assert seen and max(seen.values()) < SIDE, seen


class RecordingCodec:
    """The two things the mse decoder uses of a codec, recording the latent size of every g_s call."""

    def __init__(self, codec) -> None:
        self.codec, self.latent_stride, self.calls = codec, codec.latent_stride, []

    def synthesize(self, y_hat: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(y_hat.shape[-2:]))
        return self.codec.synthesize(y_hat)


def test_mse_batches_are_tiled_like_single_images(demo):
    """The pipeline (CLI, compare, decode_images) calls ``decode_batch``: it must tile as ``decode`` does, or a
    large image runs g_s whole (4096x4096: 5.3 GB instead of the budget)."""
    from rdpflex.latent import Latent
    from rdpflex_plugins.mse.decoder import MSEDecoder

    torch.manual_seed(0)
    h, w = 16, tiling.TILE + 6  # latent just over one tile wide
    y = torch.randn(2, demo.codec.latent_channels, h, w).round()
    lats = [Latent(y[i : i + 1], (h * 16, w * 16), (h * 16, w * 16)) for i in range(2)]
    codec = RecordingCodec(demo.codec)
    with torch.no_grad():
        batch = MSEDecoder().decode_batch(lats, codec, None, [torch.Generator(), torch.Generator()])
        whole = demo.codec.synthesize(y).clamp(0, 1)
    assert len(codec.calls) > 1 and all(cw <= tiling.TILE + 2 * tiling.MARGIN for _, cw in codec.calls), codec.calls
    assert (batch - whole).abs().max() < 1e-4
