"""The model card of a training export (:mod:`rdpflex.model_card`): the run's record, figures measured on the
held-out images, ``README.md``."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rdpflex.errors import RdpflexError
from rdpflex.model_card import now, write_card
from rdpflex.train.recipe import RECIPES_DIR, LoadedRecipe
from rdpflex.weights import read_json, write_json

#: the figures of a card: distortion and a perceptual distance (ST-LPIPS, Ghildyal & Liu 2022)
CARD_METRICS = ("psnr", "st-lpips")


def measure(system: Any, images: Sequence[tuple[str, Any]], metrics: Sequence[str] = CARD_METRICS) -> dict[str, Any]:
    """Encode ``images`` (``(name, (1, 3, H, W) tensor in [0, 1])`` pairs) into one bitstream and decode it with
    ``mse`` and every decoder trained in ``system`` at its default options (image ``i`` with seed ``i``).

    Returns the ``evaluation`` record of ``system.json``: bpp from the bytes of the images' records, the mean
    of each metric per decoder, the metrics' labels (stand-in weights say so), the images, date and machine.
    """
    import torch

    from rdpflex.bitstream import record_bytes
    from rdpflex.metrics import compute_image_metrics
    from rdpflex.pipeline import compress_images, decode_latent, latents

    pairs = list(images)
    if not pairs:
        raise RdpflexError("measuring a system needs at least one image")
    rdp = compress_images(pairs, system).rdp
    pixels = sum(int(x.shape[-2]) * int(x.shape[-1]) for _, x in pairs)
    lats = list(latents(rdp, system))
    decoders: dict[str, dict[str, float]] = {}
    labels: dict[str, str] = {}
    with torch.no_grad():
        for name in dict.fromkeys(["mse", *system.trained_decoders()]):
            sums = dict.fromkeys(metrics, 0.0)
            for i, ((_, x), lat) in enumerate(zip(pairs, lats)):
                x_hat = decode_latent(lat, system, name, seed=i)
                for key, res in compute_image_metrics(x, x_hat.clamp(0, 1), list(metrics)).items():
                    sums[key] += float(res.value)
                    labels[key] = res.label
            decoders[name] = {k: v / len(pairs) for k, v in sums.items()}
    return {
        "images": [name for name, _ in pairs],
        "pixels": pixels,
        "bpp": 8 * sum(record_bytes(rdp)) / pixels,
        "decoders": decoders,
        "labels": labels,
        "fingerprint": system.fingerprint,
        "date": now(),
        "machine": f"{platform.machine()} with {os.cpu_count()} CPU cores, torch {torch.__version__}, cpu",
    }


def training_record(loaded: LoadedRecipe) -> dict[str, Any]:
    """What ``system.json`` ``training`` keeps of one run: recipe (shipped name or file name), its digest and
    ``--set`` overrides, stage, what it trains, steps, batch, data."""
    source = Path(loaded.source)
    try:
        recipe = source.resolve().relative_to(RECIPES_DIR.resolve()).with_suffix("").as_posix()
    except ValueError:
        recipe = source.name
    r, data = loaded.recipe, loaded.recipe.data
    what = (
        str(data.path)
        if data.dataset == "folder"
        else "sample photographs " + (", ".join(data.samples) if data.samples else "(rdpflex.samples)")
    )
    if data.holdout:
        what += f"; held out: {', '.join(data.holdout)}"
    return {
        "recipe": recipe,
        "recipe_sha256": loaded.digest()[:16],
        "overrides": list(loaded.overrides),
        "stage": r.stage,
        "trains": getattr(loaded.config, "family", None) or r.stage,
        "steps": r.train.steps,
        "batch": f"{r.train.batch_size} x {data.crop} px",
        "data": what,
        "date": now(),
    }


def record_training(root: Path, record: dict[str, Any]) -> None:
    """Append a training run to ``root/system.json`` ``training`` (runs before it, inherited, are kept)."""
    info = read_json(root / "system.json")
    info["training"] = [*info.get("training", []), record]
    write_json(root / "system.json", info)


def describe_export(
    root: Path, loaded: LoadedRecipe, val_images: Sequence[tuple[str, Any]], echo: Callable[[str], Any] = print
) -> Path | None:
    """When ``root`` is a system folder: append this run to ``system.json`` ``training``, measure the system on
    ``val_images`` (bpp, PSNR, ST-LPIPS of every decoder; none: no figures) and write its model card.
    Returns the card's path.

    A figure that cannot be measured (a decoder's plugin missing, say) leaves the card without figures and
    says why in one line: the export itself is already written."""
    if not (root / "system.json").is_file():
        return None
    from rdpflex.system import System

    record_training(root, training_record(loaded))
    evaluation = None
    if val_images:
        try:
            evaluation = measure(System.load(root), val_images)
        except RdpflexError as exc:
            echo(f"warning: the model card has no figures: {exc}")
    card = write_card(root, evaluation)
    echo(f"model card {card}")
    return card


def card_for(system_dir: Path, val_recipe: str, trained_with: Sequence[str] = ()) -> Path:
    """Measure ``system_dir`` on the held-out validation images of the recipe ``val_recipe`` and rewrite its card;
    ``trained_with``: recipes (``NAME [--set K=V ...]``) that replace its recorded training runs, for a system
    exported before cards existed (the bundled demo system: ``make demo-card``)."""
    import shlex

    from rdpflex.system import System
    from rdpflex.train.data import build_refs, load_val_images
    from rdpflex.train.recipe import load_recipe

    records = []
    for spec in trained_with:
        name, *rest = shlex.split(spec)
        if any(a != "--set" for a in rest[::2]) or len(rest) % 2:
            raise RdpflexError(f"--trained-with {spec!r}: expected NAME [--set KEY=VALUE ...]")
        records.append({**training_record(load_recipe(name, rest[1::2])), "date": None})
    if records:  # the history is replaced, so running this twice records each run once
        info = read_json(system_dir / "system.json")
        write_json(system_dir / "system.json", {**info, "training": records})
    data = load_recipe(val_recipe).recipe.data
    images = load_val_images(build_refs(data)[1], data.val_crop, data.unreadable)
    return write_card(system_dir, measure(System.load(system_dir), images))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rdpflex.train.card SYSTEM VAL_RECIPE [--trained-with 'NAME --set K=V' ...]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rdpflex.train.card", description=card_for.__doc__)
    parser.add_argument("system", type=Path)
    parser.add_argument("val_recipe", help="the recipe whose held-out validation images are measured")
    parser.add_argument("--trained-with", action="append", default=[], metavar="'NAME [--set K=V ...]'")
    args = parser.parse_args(argv)
    try:
        print(f"model card {card_for(args.system, args.val_recipe, args.trained_with)}")
    except RdpflexError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
