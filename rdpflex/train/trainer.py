"""The training engine: an explicit loop on HF Accelerate that runs any registered :class:`Stage`.

::

    OUTPUT/
      recipe.yaml                  the resolved recipe (after --set)
      checkpoints/step-00000400/   accelerator.save_state (model.safetensors, optimizer*.bin, RNG states)
                                   + trainer_state.json, written in a temporary directory and published
                                   with one rename (rdpflex.train.checkpoints); resumed with weights_only=True
      logs/<project>/              TensorBoard events (Accelerate's tracker)
      metrics.jsonl                validation metrics, one JSON object per evaluation
      train-log.jsonl              the training logs (train/*), one JSON object per log.every steps
      system/                      the export (codec stage: a loadable system directory)

:class:`TrainingRun` reads as its steps: :meth:`~TrainingRun.setup` (data, stage, prepared modules and
optimisers, resume), :meth:`~TrainingRun.loop` (the optimiser steps, with logs, checkpoints and validation
at their cadence, ending with a checkpoint) and :meth:`~TrainingRun.finish` (final validation, replica
check, export); checkpoints are :mod:`rdpflex.train.checkpoints`, logs :mod:`rdpflex.train.logs`.

One process or many: the same code runs under ``accelerate launch`` / ``torchrun``; every process
reads its own shard of a deterministic sample stream (:class:`~rdpflex.train.data.StreamSampler`),
so ``--resume`` restarts the stream at the exact batch, and on CPU a resumed run is bit-identical
to an uninterrupted one.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import torch
from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from rdpflex.errors import RdpflexError
from rdpflex.runtime import make_accelerator, reset_accelerator_state
from rdpflex.train.card import describe_export
from rdpflex.train.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from rdpflex.train.data import CropDataset, StreamSampler, build_refs, load_val_images
from rdpflex.train.logs import TrainLog, progress_fields, tracker_config, write_validation
from rdpflex.train.recipe import LoadedRecipe, Recipe, load_recipe
from rdpflex.train.stage import Stage, StepContext

if TYPE_CHECKING:
    from accelerate import Accelerator


# -- schedule -------------------------------------------------------------------------------------
def lambda_scale(recipe: Recipe, step: int) -> float:
    """Rate-weight multiplier at 0-based ``step``: ``lambda_factor`` during the first ``lambda_fraction``
    of the steps."""
    s = recipe.schedule
    return s.lambda_factor if step < s.lambda_fraction * recipe.train.steps else 1.0


def lr_scale(recipe: Recipe, step: int) -> float:
    """Learning-rate multiplier at 0-based ``step``: linear warm-up, then ``lr_factor`` in the last ``lr_fraction``."""
    s = recipe.schedule
    scale = min(1.0, (step + 1) / s.warmup_steps) if s.warmup_steps else 1.0
    if s.lr_fraction > 0 and step >= (1 - s.lr_fraction) * recipe.train.steps:
        scale *= s.lr_factor
    return scale


T = TypeVar("T")


def _prepared(acc: "Accelerator", objects: dict[str, T]) -> dict[str, T]:
    """``accelerator.prepare`` of named objects, by name."""
    names = list(objects)
    prepared = acc.prepare(*objects.values()) if names else ()
    return dict(zip(names, prepared if len(names) != 1 else (prepared,)))


@dataclass
class Setup:
    """What :meth:`TrainingRun.setup` builds for the loop."""

    stage: Stage
    ctx: StepContext
    loader: DataLoader
    #: the held-out images by name (main process only; empty elsewhere)
    val_named: list[tuple[str, Tensor]]
    #: the step the loop starts at (0, or the resumed checkpoint's)
    start: int
    resumed: bool

    @property
    def val_images(self) -> list[Tensor]:
        return [x for _, x in self.val_named]


class TrainingRun:
    """Runs one recipe. ``TrainingRun(loaded, output=None, resume=False).run() -> Path`` (the export)."""

    def __init__(self, loaded: LoadedRecipe, output: str | Path | None = None, resume: bool = False) -> None:
        self.loaded = loaded
        self.recipe = loaded.recipe
        self.output = Path(output or self.recipe.output or f"runs/{self.recipe.stage}")
        self.resume = resume

    def run(self) -> Path | None:
        """Set up, loop, finish; the export's path (None when stopped early by ``train.stop_at``)."""
        if self.recipe.train.cpu_threads:
            torch.set_num_threads(self.recipe.train.cpu_threads)
        resume_from = self._check_output()
        acc = self.accelerator = self._accelerator()
        try:
            s = self.setup(resume_from)
            step = self.loop(s)
            return self.finish(s, step)
        finally:
            acc.end_training()
            reset_accelerator_state(acc)

    # -- setup -----------------------------------------------------------------------------------
    def _accelerator(self) -> "Accelerator":
        r = self.recipe
        handlers = []
        if getattr(self.loaded.stage_cls, "find_unused_parameters", False):
            handlers.append(DistributedDataParallelKwargs(find_unused_parameters=True))
        return make_accelerator(
            r.train.mixed_precision,
            r.train.device == "cpu",
            settings=f"train.mixed_precision={r.train.mixed_precision}, train.device={r.train.device}",
            gradient_accumulation_steps=r.train.grad_accum,
            log_with="tensorboard" if r.log.tensorboard else None,
            project_config=ProjectConfiguration(project_dir=str(self.output), logging_dir=str(self.output / "logs")),
            kwargs_handlers=handlers,
        )

    def _check_output(self) -> tuple[int, Path] | None:
        latest = latest_checkpoint(self.output)
        if self.resume:
            return latest
        if latest is not None:
            raise RdpflexError(
                f"{self.output} already holds checkpoints (latest: step {latest[0]}); "
                "pass --resume to continue that run, or choose another --output"
            )
        return None

    def setup(self, resume_from: tuple[int, Path] | None) -> Setup:
        """Data, the stage with its prepared modules and optimisers (identical on every process), the
        resumed state, the output directory, trackers and loader; validates at step 0 if asked."""
        acc, r = self.accelerator, self.recipe
        if self.resume and resume_from is None:
            acc.print(f"note: no checkpoint in {self.output}; starting from step 0")
        # data (every process builds the same lists; the split is by name)
        train_refs, val_refs = build_refs(r.data)
        dataset = CropDataset(train_refs, r.data.crop, r.data.resize, r.data.hflip, r.data.unreadable, r.data.cache)

        # stage, modules and optimisers: identical initialisation on every process
        set_seed(r.seed)
        stage: Stage = self.loaded.stage_cls(r, self.loaded.config, acc)
        raw_modules = stage.modules()
        modules = _prepared(acc, dict(raw_modules))
        optimizers = _prepared(acc, dict(stage.optimizers()))
        for opt in optimizers.values():
            for g in opt.param_groups:
                g.setdefault("initial_lr", g["lr"])
        extra: dict[str, object] = getattr(stage, "checkpoint_objects", dict)()
        for obj in extra.values():
            acc.register_for_checkpointing(obj)
        set_seed(r.seed, device_specific=True)  # different quantisation noise per process

        step = 0
        if resume_from is not None:
            step = load_checkpoint(acc, self.output, resume_from, self.loaded)
        acc.step = step * r.train.grad_accum

        if acc.is_main_process:
            self.output.mkdir(parents=True, exist_ok=True)
            (self.output / "recipe.yaml").write_text(self.loaded.dump())
        if r.log.tensorboard:
            acc.init_trackers(r.log.project, config=tracker_config(dict(self.loaded.raw)))

        sampler = StreamSampler(
            len(dataset),
            r.train.batch_size,
            r.seed,
            acc.process_index,
            acc.num_processes,
            start_batch=step * r.train.grad_accum,
        )
        loader = DataLoader(
            dataset,
            batch_size=r.train.batch_size,
            sampler=sampler,
            num_workers=r.data.workers,
            generator=torch.Generator().manual_seed(r.seed),
            pin_memory=acc.device.type == "cuda",
            persistent_workers=r.data.workers > 0,
        )
        val_named = load_val_images(val_refs, r.data.val_crop, r.data.unreadable) if acc.is_main_process else []
        ctx = StepContext(
            acc,
            modules,
            optimizers,
            total_steps=r.train.steps,
            clip_grad_norm=r.train.clip_grad_norm,
            output_dir=self.output,
        )
        s = Setup(stage, ctx, loader, val_named, step, resume_from is not None)
        acc.print(f"{stage.name}: {self._describe(raw_modules, len(dataset), len(val_named))}")
        if r.validation.at_start and step == 0:
            self._validate(s, 0)
        return s

    def _describe(self, modules: dict[str, nn.Module], train_images: int, val_images: int) -> str:
        acc, r = self.accelerator, self.recipe
        params = sum(p.numel() for m in modules.values() for p in m.parameters() if p.requires_grad)
        return (
            f"{params / 1e6:.2f} M trainable parameters, {train_images} training images, "
            f"{val_images} held out, "
            f"{acc.num_processes} process(es) on {acc.device.type}, global batch "
            f"{r.train.batch_size * acc.num_processes * r.train.grad_accum}, mixed precision "
            f"{acc.mixed_precision}, "
            f"{r.train.steps} steps -> {self.output}"
        )

    # -- the loop --------------------------------------------------------------------------------
    def loop(self, s: Setup) -> int:
        """Optimiser steps up to ``train.stop_at`` or ``train.steps``, with logs, checkpoints and validation at
        their cadence; returns the step reached (its checkpoint saved)."""
        acc, r, ctx = self.accelerator, self.recipe, s.ctx
        step, end = s.start, r.train.stop_at or r.train.steps
        bar = tqdm(
            total=end,
            initial=step,
            desc=s.stage.name,
            unit="step",
            disable=not acc.is_main_process,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        log = TrainLog(acc, self.output, r.log.tensorboard, r.train.grad_accum)
        last_ckpt = step if s.resumed else -1
        it = iter(s.loader)
        while step < end:
            self._schedule(ctx, step)
            for _ in range(r.train.grad_accum):
                batch = next(it).to(acc.device, non_blocking=True)
                with acc.accumulate(*ctx.modules.values()):
                    log.add(s.stage.train_step(batch, ctx))
            step += 1
            bar.update()
            if step % r.log.every == 0 or step == end:
                bar.set_postfix(progress_fields(log.write(step, ctx)))
            if step % r.checkpoint.every == 0 or step == end:
                save_checkpoint(acc, self.output, step, self.loaded)
                last_ckpt = step
            if r.validation.every and step % r.validation.every == 0 and step < r.train.steps:
                self._validate(s, step)
        bar.close()
        if last_ckpt != step:
            save_checkpoint(acc, self.output, step, self.loaded)
        return step

    def _schedule(self, ctx: StepContext, step: int) -> None:
        """Step ``step``'s schedule: the context's multipliers and every optimiser's learning rates."""
        ctx.step = step
        ctx.lambda_scale = lambda_scale(self.recipe, step)
        ctx.lr_scale = lr_scale(self.recipe, step)
        for opt in ctx.optimizers.values():
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] * (1.0 if g.get("fixed_lr") else ctx.lr_scale)

    def _validate(self, s: Setup, step: int) -> None:
        acc, images = self.accelerator, s.val_images
        if acc.is_main_process and images:
            t = time.time()
            with torch.no_grad():
                metrics = s.stage.validate([x.to(acc.device) for x in images], s.ctx)
            if metrics:
                write_validation(acc, self.output, self.recipe.log.tensorboard, step, len(images), metrics, t)
        acc.wait_for_everyone()

    # -- the end ---------------------------------------------------------------------------------
    def finish(self, s: Setup, step: int) -> Path | None:
        """After the loop: the final validation, the replica check and the export (None when stopped early)."""
        acc, r = self.accelerator, self.recipe
        if step < r.train.steps:
            acc.print(f"stopped at step {step} of {r.train.steps} (train.stop_at); continue with --resume")
            return None
        self._validate(s, step)
        self._check_replicas(s.ctx.modules)
        acc.wait_for_everyone()
        path = None
        if acc.is_main_process:
            path = s.stage.export(self.output)
            acc.print(f"exported {path}")
            figures_on = s.val_named if r.validation.card else []
            describe_export(Path(path) if path else self.output / "system", self.loaded, figures_on, acc.print)
        acc.wait_for_everyone()
        return Path(path) if path else self.output / "system"

    def _check_replicas(self, modules: dict[str, nn.Module]) -> None:
        """All processes must end with the same weights (catches gradients that were not synchronised)."""
        acc = self.accelerator
        if acc.num_processes == 1:
            return
        sums = torch.tensor(
            [sum(float(p.detach().double().sum()) for p in acc.unwrap_model(m).parameters()) for m in modules.values()],
            dtype=torch.float64,
            device=acc.device,
        )
        gathered = acc.gather(sums.unsqueeze(0))
        if not torch.equal(gathered.min(0).values, gathered.max(0).values):
            raise RdpflexError(
                f"processes ended with different weights (checksums {gathered.tolist()}): a stage's "
                "gradients were not synchronised"
            )


def train(
    recipe: str | Path | LoadedRecipe,
    overrides: list[str] | tuple[str, ...] = (),
    output: str | Path | None = None,
    resume: bool = False,
) -> Path | None:
    """Run a recipe (file, shipped name or :class:`LoadedRecipe`); returns the exported path (None when
    stopped early)."""
    loaded = recipe if isinstance(recipe, LoadedRecipe) else load_recipe(recipe, overrides)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return TrainingRun(loaded, output, resume).run()
