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

One process or many: the same code runs under ``accelerate launch`` / ``torchrun``; every process
reads its own shard of a deterministic sample stream (:class:`~rdpflex.train.data.StreamSampler`),
so ``--resume`` restarts the stream at the exact batch, and on CPU a resumed run is bit-identical
to an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from rdpflex.errors import RdpflexError
from rdpflex.runtime import make_accelerator, reset_accelerator_state
from rdpflex.train import checkpoints as ckpt
from rdpflex.train.card import describe_export
from rdpflex.train.data import CropDataset, StreamSampler, build_refs, load_val_images
from rdpflex.train.recipe import LoadedRecipe, Recipe, load_recipe
from rdpflex.train.stage import StepContext

TRAINER_STATE = "trainer_state.json"
CKPT_PREFIX = "step-"


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


# -- checkpoints ----------------------------------------------------------------------------------
def checkpoint_dirs(output: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run (those with ``trainer_state.json``), oldest first."""
    root = Path(output) / "checkpoints"
    found = []
    for d in root.glob(f"{CKPT_PREFIX}*") if root.is_dir() else []:
        if (d / TRAINER_STATE).is_file():
            try:
                found.append((int(json.loads((d / TRAINER_STATE).read_text())["step"]), d))
            except (ValueError, KeyError, json.JSONDecodeError):
                continue
    return sorted(found)


def latest_checkpoint(output: Path) -> tuple[int, Path] | None:
    dirs = checkpoint_dirs(output)
    return dirs[-1] if dirs else None


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= _flat(v, key + ".")
        elif isinstance(v, (bool, int, float, str)) or v is None:
            out[key] = "null" if v is None else v
        else:
            out[key] = json.dumps(v, default=str)
    return out


class TrainingRun:
    """Runs one recipe. ``TrainingRun(loaded, output=None, resume=False).run() -> Path`` (the export)."""

    def __init__(self, loaded: LoadedRecipe, output: str | Path | None = None, resume: bool = False) -> None:
        self.loaded = loaded
        self.recipe = loaded.recipe
        self.output = Path(output or self.recipe.output or f"runs/{self.recipe.stage}")
        self.resume = resume

    # -- setup -----------------------------------------------------------------------------------
    def _accelerator(self) -> Any:
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

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> Path | None:
        r = self.recipe
        if r.train.cpu_threads:
            torch.set_num_threads(r.train.cpu_threads)
        resume_from = self._check_output()
        acc = self._accelerator()
        self.accelerator = acc
        try:
            if self.resume and resume_from is None:
                acc.print(f"note: no checkpoint in {self.output}; starting from step 0")
            # data (every process builds the same lists; the split is by name)
            train_refs, val_refs = build_refs(r.data)
            dataset = CropDataset(train_refs, r.data.crop, r.data.resize, r.data.hflip, r.data.unreadable, r.data.cache)

            # stage, modules and optimisers: identical initialisation on every process
            set_seed(r.seed)
            stage = self.loaded.stage_cls(r, self.loaded.config, acc)
            raw_modules = stage.modules()
            names = list(raw_modules)
            prepared = acc.prepare(*raw_modules.values()) if names else ()
            modules = dict(zip(names, prepared if len(names) != 1 else (prepared,)))
            opt_map = stage.optimizers()
            opt_names = list(opt_map)
            popts = acc.prepare(*opt_map.values()) if opt_names else ()
            optimizers = dict(zip(opt_names, popts if len(opt_names) != 1 else (popts,)))
            for opt in optimizers.values():
                for g in opt.param_groups:
                    g.setdefault("initial_lr", g["lr"])
            extra = getattr(stage, "checkpoint_objects", lambda: {})()
            for obj in extra.values():
                acc.register_for_checkpointing(obj)
            set_seed(r.seed, device_specific=True)  # different quantisation noise per process

            step = 0
            if resume_from is not None:
                step = self._load(acc, resume_from)
            acc.step = step * r.train.grad_accum

            if acc.is_main_process:
                self.output.mkdir(parents=True, exist_ok=True)
                (self.output / "recipe.yaml").write_text(self.loaded.dump())
            if r.log.tensorboard:
                acc.init_trackers(r.log.project, config=_flat({k: v for k, v in self.loaded.raw.items()}))

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
            val_images = [x for _, x in val_named]

            ctx = StepContext(
                acc,
                modules,
                optimizers,
                total_steps=r.train.steps,
                clip_grad_norm=r.train.clip_grad_norm,
                output_dir=self.output,
            )
            end = r.train.stop_at or r.train.steps
            acc.print(f"{stage.name}: {self._describe(raw_modules, dataset, val_images)}")
            if r.validation.at_start and step == 0:
                self._validate(stage, ctx, val_images, 0)
            bar = tqdm(
                total=end,
                initial=step,
                desc=stage.name,
                unit="step",
                disable=not acc.is_main_process,
                dynamic_ncols=True,
                file=sys.stderr,
            )
            sums: dict[str, float] = {}
            count = 0
            t0 = time.time()
            last_ckpt = step if resume_from is not None else -1
            it = iter(loader)
            while step < end:
                ctx.step = step
                ctx.lambda_scale = lambda_scale(r, step)
                ctx.lr_scale = lr_scale(r, step)
                for opt in optimizers.values():
                    for g in opt.param_groups:
                        g["lr"] = g["initial_lr"] * (1.0 if g.get("fixed_lr") else ctx.lr_scale)
                for _ in range(r.train.grad_accum):
                    batch = next(it).to(acc.device, non_blocking=True)
                    with acc.accumulate(*modules.values()):
                        metrics = stage.train_step(batch, ctx)
                    for k, v in metrics.items():
                        sums[k] = sums.get(k, 0.0) + float(v)
                    count += 1
                step += 1
                bar.update()
                if step % r.log.every == 0 or step == end:
                    finite = torch.tensor([float(all(math.isfinite(v) for v in sums.values()))], device=acc.device)
                    if float(acc.reduce(finite, reduction="sum")) < acc.num_processes:  # every process stops together
                        raise RdpflexError(
                            f"training diverged before step {step} (non-finite {', '.join(sums)}); "
                            "lower optim.lr or set train.clip_grad_norm"
                        )
                    logs = {f"train/{k}": v / count for k, v in sums.items()}
                    logs |= {
                        "train/lambda_scale": ctx.lambda_scale,
                        "train/lr_scale": ctx.lr_scale,
                        "train/steps_per_s": count / r.train.grad_accum / max(time.time() - t0, 1e-9),
                    }
                    if r.log.tensorboard:
                        acc.log(logs, step=step)
                    if acc.is_main_process:
                        with (self.output / "train-log.jsonl").open("a") as f:
                            f.write(json.dumps({"step": step, **logs}) + "\n")
                    bar.set_postfix(
                        {
                            k.split("/")[1]: f"{v:.4g}"
                            for k, v in logs.items()
                            if k.split("/")[1] in ("loss", "bpp", "psnr")
                        }
                    )
                    sums, count, t0 = {}, 0, time.time()
                if step % r.checkpoint.every == 0 or step == end:
                    self._save(acc, step)
                    last_ckpt = step
                if r.validation.every and step % r.validation.every == 0 and step < r.train.steps:
                    self._validate(stage, ctx, val_images, step)
            bar.close()
            if last_ckpt != step:
                self._save(acc, step)
            if step < r.train.steps:
                acc.print(f"stopped at step {step} of {r.train.steps} (train.stop_at); continue with --resume")
                return None
            self._validate(stage, ctx, val_images, step)
            self._check_replicas(acc, modules)
            acc.wait_for_everyone()
            path = None
            if acc.is_main_process:
                path = stage.export(self.output)
                acc.print(f"exported {path}")
                figures_on = val_named if r.validation.card else []
                describe_export(Path(path) if path else self.output / "system", self.loaded, figures_on, acc.print)
            acc.wait_for_everyone()
            return Path(path) if path else self.output / "system"
        finally:
            acc.end_training()
            reset_accelerator_state(acc)

    # -- pieces ----------------------------------------------------------------------------------
    def _describe(self, modules: dict[str, torch.nn.Module], dataset: Any, val_images: list) -> str:
        acc, r = self.accelerator, self.recipe
        params = sum(p.numel() for m in modules.values() for p in m.parameters() if p.requires_grad)
        return (
            f"{params / 1e6:.2f} M trainable parameters, {len(dataset)} training images, "
            f"{len(val_images)} held out, "
            f"{acc.num_processes} process(es) on {acc.device.type}, global batch "
            f"{r.train.batch_size * acc.num_processes * r.train.grad_accum}, mixed precision "
            f"{acc.mixed_precision}, "
            f"{r.train.steps} steps -> {self.output}"
        )

    def _save(self, acc: Any, step: int) -> None:
        """Write the checkpoint into a temporary directory, then publish it with one rename (crash-safe)."""
        d = self.output / "checkpoints" / f"{CKPT_PREFIX}{step:08d}"
        tmp = ckpt.temp_dir(d)
        if acc.is_main_process:
            ckpt.clean_stale(d.parent)  # temporaries of a killed run
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if acc.is_main_process:
            state = {
                "step": step,
                "total_steps": self.recipe.train.steps,
                "num_processes": acc.num_processes,
                "recipe_sha256": self.loaded.digest(),
                "stage": self.recipe.stage,
                "recipe": self.loaded.raw,
            }
            (tmp / TRAINER_STATE).write_text(json.dumps(state, indent=2, default=str) + "\n")
            ckpt.publish(tmp, d)
            keep = self.recipe.checkpoint.keep
            if keep:
                for _, old in checkpoint_dirs(self.output)[:-keep]:
                    ckpt.discard(old)
        acc.wait_for_everyone()

    def _load(self, acc: Any, found: tuple[int, Path]) -> int:
        step, d = found
        state = json.loads((d / TRAINER_STATE).read_text())
        if state.get("num_processes") != acc.num_processes:
            raise RdpflexError(
                f"checkpoint {d} was written by {state.get('num_processes')} process(es); "
                f"resume it with the same number (this run has {acc.num_processes})"
            )
        if state.get("stage") != self.recipe.stage:
            raise RdpflexError(
                f"checkpoint {d} belongs to a {state.get('stage')!r} run, this recipe's stage is {self.recipe.stage!r}"
            )
        prev = self.output / "recipe.yaml"
        old = state.get("recipe") or (yaml.safe_load(prev.read_text()) or {} if prev.is_file() else None)
        if old is not None:
            changed = ckpt.incompatible_changes(
                json.loads(json.dumps(old, default=str)), json.loads(json.dumps(self.loaded.raw, default=str))
            )
            if changed:
                resumable = ", ".join(p.rstrip(".") + (".*" if p.endswith(".") else "") for p in ckpt.RESUMABLE_CHANGES)
                raise RdpflexError(
                    f"cannot resume from {d}: the recipe changed incompatibly ({'; '.join(changed)}); "
                    f"only {resumable} may change on --resume"
                )
        ckpt.verify_pickles(d)  # every pickle opens with weights_only=True, or the resume is refused
        try:
            with ckpt.forced_weights_only():
                acc.load_state(str(d))
        except (RuntimeError, KeyError, ValueError, FileNotFoundError) as exc:
            raise RdpflexError(
                f"cannot resume from {d}: {str(exc).splitlines()[0]} (did the recipe's model change?)"
            ) from exc
        acc.print(f"resumed from {d} (step {step})")
        return step

    def _validate(self, stage: Any, ctx: StepContext, images: list, step: int) -> None:
        acc = self.accelerator
        if acc.is_main_process and images:
            t = time.time()
            with torch.no_grad():
                metrics = stage.validate([x.to(acc.device) for x in images], ctx)
            if metrics:
                if self.recipe.log.tensorboard:
                    acc.log({f"val/{k}": v for k, v in metrics.items()}, step=step)
                with (self.output / "metrics.jsonl").open("a") as f:
                    f.write(json.dumps({"step": step, "split": "val", "images": len(images), **metrics}) + "\n")
                shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                tqdm.write(
                    f"[step {step}] validation on {len(images)} held-out image(s): {shown} ({time.time() - t:.1f} s)",
                    file=sys.stderr,
                )
        acc.wait_for_everyone()

    def _check_replicas(self, acc: Any, modules: dict[str, torch.nn.Module]) -> None:
        """All processes must end with the same weights (catches gradients that were not synchronised)."""
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
