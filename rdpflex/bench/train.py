"""``rdpflex bench train``: optimiser steps per second of each training stage, and 2-process CPU scaling.

Each stage's shipped recipe runs as a real ``rdpflex train`` process (``python -m rdpflex.train.launch``,
or ``torchrun --nproc_per_node 2`` for the scaling row) twice, for ``n1`` and ``n2`` steps; steps/s is
``(n2 - n1) / (t2 - t1)``, so start-up, model building, the final checkpoint and validation cancel out.
Paper-width recipes run on CPU with ``train.batch_size=1`` and 64 px crops (:data:`PAPER_CPU`: their
GPUs' 256 px batches do not fit a 2-core budget), bundled sample photographs instead of a dataset, no
LPIPS (no AlexNet weights offline) and no mixed precision; the rows say so.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from rdpflex.errors import RdpflexError
from rdpflex.runtime import launch_command

DEMO_SYSTEM = str(Path(__file__).resolve().parents[1] / "assets" / "demo-system")
#: paper widths on a CPU: batch 1, 64 px crops of the bundled photographs (their GPUs' 256 px batches of
#: 8-64 do not fit a 2-core budget), no LPIPS (no AlexNet weights offline)
PAPER_CPU = ("data.dataset=samples", "data.path=null", "train.batch_size=1", "data.crop=64")
#: (width, stage, recipe, overrides)
STAGES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("quick", "codec", "quick/codec", ()),
    ("quick", "joint", "quick/multirealism-joint", (f"joint.codec.init={DEMO_SYSTEM}",)),
    ("quick", "decoder (multirealism)", "quick/multirealism-decoder", (f"decoder.system={DEMO_SYSTEM}",)),
    ("quick", "decoder (cdiff)", "quick/cdiff-decoder", (f"decoder.system={DEMO_SYSTEM}",)),
    ("quick", "prior (idempotence)", "quick/idempotence-prior", ()),
    ("paper", "codec", "paper/codec-elic", PAPER_CPU),
    ("paper", "joint", "paper/multirealism-joint", (*PAPER_CPU, "joint.multirealism.perceptual=none")),
    (
        "paper",
        "decoder (multirealism)",
        "paper/multirealism-decoder-msh",
        (*PAPER_CPU, f"decoder.system={DEMO_SYSTEM}", "decoder.settings.perceptual=none"),
    ),
    (
        "paper",
        "decoder (cdiff)",
        "paper/cdiff-hfd-msh",
        (
            *PAPER_CPU,
            f"decoder.system={DEMO_SYSTEM}",
            "decoder.settings.perceptual=none",
            "decoder.settings.lpips_weight=0",
        ),
    ),
    ("paper", "prior (idempotence)", "paper/idempotence-prior", PAPER_CPU),
)
#: every run: CPU, fp32, no mid-run checkpoints or validation (one 64 px image at the end), data loaded
#: in the main process
COMMON = (
    "train.device=cpu",
    "train.mixed_precision='no'",
    "data.workers=0",
    "checkpoint.every=1000000",
    "validation.every=null",
    "validation.at_start=false",
    "data.val_crop=64",  # the end-of-run validation (in both runs, so it cancels) kept short
    "data.val_max_images=1",
    "log.every=1000000",
)


def run_steps(
    recipe: str, overrides: tuple[str, ...], steps: int, processes: int = 1, threads: int | None = None
) -> float:
    """Wall seconds of one training run of ``steps`` steps in a fresh output directory."""
    sets = [*COMMON, *overrides, f"train.steps={steps}"] + ([f"train.cpu_threads={threads}"] if threads else [])
    with tempfile.TemporaryDirectory() as out:
        cmd = [*launch_command(processes), recipe, "--output", out, *[a for s in sets for a in ("--set", s)]]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise RdpflexError(f"bench train: {recipe} failed ({tail})")
    return elapsed


def steps_per_second(
    recipe: str, overrides: tuple[str, ...], n1: int, n2: int, processes: int = 1, threads: int | None = None
) -> float:
    """(n2 - n1) / (t2 - t1): start-up and the final checkpoint cancel. NaN when the longer run was not
    slower (start-up noise larger than n2 - n1 steps): raise the step counts."""
    t1 = run_steps(recipe, overrides, n1, processes, threads)
    t2 = run_steps(recipe, overrides, n2, processes, threads)
    return (n2 - n1) / (t2 - t1) if t2 > t1 else math.nan


def bench_train(
    widths: tuple[str, ...] = ("quick", "paper"),
    steps: dict[str, tuple[int, int]] | None = None,
    scaling: bool = True,
    stages: tuple[str, ...] | None = None,
    table: tuple = STAGES,
    on_row: Any = None,
) -> list[dict[str, Any]]:
    """One row per stage and width of ``table`` (steps/s, images/s); with ``scaling`` a 2-process row for the
    first codec stage measured. ``on_row`` is called with each row as soon as it is measured (long runs)."""
    from rdpflex.train.recipe import load_recipe

    steps = {"quick": (4, 12), "paper": (1, 3), "tiny": (1, 2), **(steps or {})}
    cores = os.cpu_count() or 1
    rows = []
    for width, stage, recipe, overrides in table:
        if width not in widths or (stages and stage not in stages):
            continue
        r = load_recipe(recipe, [*COMMON, *overrides]).recipe
        n1, n2 = steps[width]
        sps = steps_per_second(recipe, overrides, n1, n2, threads=cores)
        row = {
            "stage": stage,
            "width": width,
            "recipe": recipe,
            "processes": 1,
            "batch": r.train.batch_size,
            "crop": r.data.crop,
            "steps_per_s": sps,
            "images_per_s": sps * r.train.batch_size,
            "scaling": None,
            "note": "; ".join(o for o in overrides if not o.startswith(("joint.codec.init", "decoder.system"))),
        }
        rows.append(row)
        if on_row:
            on_row(row)
        if scaling and stage == "codec" and not any(r["processes"] == 2 for r in rows):
            sps2 = steps_per_second(recipe, overrides, n1, n2, processes=2, threads=max(1, cores // 2))
            rows.append(
                {
                    **row,
                    "processes": 2,
                    "steps_per_s": sps2,
                    "images_per_s": 2 * sps2 * r.train.batch_size,
                    "scaling": sps2 / sps,
                    "note": f"torchrun, {max(1, cores // 2)} thread(s) per process, batch per process",
                }
            )
            if on_row:
                on_row(rows[-1])
    return rows
