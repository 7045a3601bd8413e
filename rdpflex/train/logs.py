"""What a run writes as it goes: ``train-log.jsonl``, ``metrics.jsonl`` and TensorBoard (Accelerate's tracker).

::

    stage.train_step ─► TrainLog.add ─(every log.every steps)─► TrainLog.write ─► train-log.jsonl, train/* events
    stage.validate ──────────────────────────────────────────► write_validation ─► metrics.jsonl, val/* events
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from rdpflex.errors import RdpflexError

if TYPE_CHECKING:
    from accelerate import Accelerator

    from rdpflex.train.stage import StepContext

#: the training logs shown beside the progress bar
SHOWN = ("loss", "bpp", "psnr")


def tracker_config(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A recipe flattened to the scalar ``dotted.key: value`` pairs TensorBoard's hparams accept."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= tracker_config(v, key + ".")
        elif isinstance(v, (bool, int, float, str)) or v is None:
            out[key] = "null" if v is None else v
        else:
            out[key] = json.dumps(v, default=str)
    return out


class TrainLog:
    """Averages a stage's step metrics between log points and writes them (``train/*``), with the schedule's
    multipliers and the speed; stops every process together on a non-finite value."""

    def __init__(self, acc: "Accelerator", output: Path, tensorboard: bool, grad_accum: int) -> None:
        self.acc, self.output, self.tensorboard, self.grad_accum = acc, output, tensorboard, grad_accum
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0
        self.t0 = time.time()

    def add(self, metrics: dict[str, float]) -> None:
        """The metrics of one micro-batch."""
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1

    def write(self, step: int, ctx: "StepContext") -> dict[str, float]:
        """Log the means since the last call at ``step`` (every process calls it) and return them."""
        acc = self.acc
        finite = torch.tensor([float(all(math.isfinite(v) for v in self.sums.values()))], device=acc.device)
        if float(acc.reduce(finite, reduction="sum")) < acc.num_processes:  # every process stops together
            raise RdpflexError(
                f"training diverged before step {step} (non-finite {', '.join(self.sums)}); "
                "lower optim.lr or set train.clip_grad_norm"
            )
        logs = {f"train/{k}": v / self.count for k, v in self.sums.items()}
        logs |= {
            "train/lambda_scale": ctx.lambda_scale,
            "train/lr_scale": ctx.lr_scale,
            "train/steps_per_s": self.count / self.grad_accum / max(time.time() - self.t0, 1e-9),
        }
        if self.tensorboard:
            acc.log(logs, step=step)
        if acc.is_main_process:
            with (self.output / "train-log.jsonl").open("a") as f:
                f.write(json.dumps({"step": step, **logs}) + "\n")
        self._reset()
        return logs


def progress_fields(logs: dict[str, float]) -> dict[str, str]:
    """The logs shown beside the progress bar (``loss``, ``bpp``, ``psnr``), short."""
    return {k.split("/")[1]: f"{v:.4g}" for k, v in logs.items() if k.split("/")[1] in SHOWN}


def write_validation(
    acc: "Accelerator",
    output: Path,
    tensorboard: bool,
    step: int,
    images: int,
    metrics: dict[str, float],
    started: float,
) -> None:
    """Log validation ``metrics`` on ``images`` held-out images (``val/*``, ``metrics.jsonl``, one line on
    stderr with the seconds since ``started``)."""
    if tensorboard:
        acc.log({f"val/{k}": v for k, v in metrics.items()}, step=step)
    with (output / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": step, "split": "val", "images": images, **metrics}) + "\n")
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    tqdm.write(
        f"[step {step}] validation on {images} held-out image(s): {shown} ({time.time() - started:.1f} s)",
        file=sys.stderr,
    )
