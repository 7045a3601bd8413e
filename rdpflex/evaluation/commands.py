"""``rdpflex compare`` and ``rdpflex demo`` (click commands; the work is in :mod:`rdpflex.evaluation.compare`).

Several processes: ``torchrun --nproc_per_node N -m rdpflex.cli compare ...`` (or ``accelerate launch``):
the images are split between the processes and the main process writes the same report.

Imports inside the commands are lazy for start-up time: ``rdpflex --help`` loads this module's
commands only by name (:data:`rdpflex.cli.LAZY_COMMANDS`), and the options must not pull in torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from rdpflex.cli_options import system_option
from rdpflex.errors import ImageError, RdpflexError

if TYPE_CHECKING:
    from rdpflex.evaluation.result import CompareResult

_Command = TypeVar("_Command", bound=Callable[..., object])


def _is_main() -> bool:
    from accelerate import PartialState  # lazy: start-up

    return PartialState().is_main_process


def _finish(ok: bool) -> None:
    """Leave a torchrun/accelerate process group cleanly (no barrier after a failure: it could hang)."""
    import torch.distributed as dist  # lazy: start-up

    if dist.is_available() and dist.is_initialized():
        if ok:
            dist.barrier()
        dist.destroy_process_group()


def _emit(result: CompareResult, as_json: bool, header: str = "") -> None:
    if not _is_main():
        return
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if as_json:
        data = result.to_json()
        data["report"] = str(result.report) if result.report else None
        click.echo(json.dumps(data, indent=2, allow_nan=False))
        return
    if header:
        click.echo(header)
    click.echo(result.table())
    bs = result.info["bitstream"]
    click.echo(
        f"bitstream: {bs['bytes']} bytes, {bs['bpp']:.4f} bpp (file), {bs['bpp_estimated']:.4f} "
        "bpp (model estimate); "
        f"{len(result.info['images'])} image(s), {result.info['processes']} process(es) on "
        f"{result.info['device']}, "
        f"{result.info['timing']['total_s']:.1f} s"
    )
    if result.report:
        click.echo(f"report: {result.report}")


def _compare_options(f: _Command) -> _Command:
    options = [
        click.option(
            "--decoder",
            "decoders",
            multiple=True,
            metavar="'NAME[:KEY=V1,V2,...]'",
            help="Decoder and knob values (cartesian product over knobs separated by ':'). Repeatable. "
            "Default: mse + every decoder trained in the system, at its sweep.",
        ),
        click.option(
            "--metrics",
            default="auto",
            show_default=True,
            metavar="auto|NAME,...",
            help="Metric names (psnr, ms_ssim, st-lpips, st-lpips-vgg, lpips, detail, fid, kid, fid256, kid256, "
            "swd, plugin metrics ...); auto: every metric whose weights are present (ST-LPIPS ships its own; "
            "detail and swd need none).",
        ),
        click.option("--seed", default=0, show_default=True, help="Seed of stochastic decoders (image i uses seed+i)."),
        click.option(
            "--baselines/--no-baselines",
            default=True,
            show_default=True,
            help="JPEG and WebP (Pillow) reference curves.",
        ),
        click.option(
            "--quality",
            "qualities",
            default=None,
            metavar="Q1,Q2,...",
            help="Baseline qualities (default 5,10,20,...,90,95).",
        ),
        click.option(
            "--mixed-precision",
            default="no",
            show_default=True,
            type=click.Choice(["no", "bf16", "fp16"]),
            help="Autocast while decoding (fp16: GPU only).",
        ),
        click.option("--cpu", is_flag=True, help="Use the CPU even when a GPU is present."),
        click.option(
            "--batch-size",
            default=1,
            show_default=True,
            help="Same-size images decoded together per decoder call (memory bound; 1: timings per image).",
        ),
        click.option(
            "--crop", "crop_size", default=256, show_default=True, help="Side of the center crops in the report."
        ),
        click.option(
            "--reencode/--no-reencode",
            default=True,
            show_default=True,
            help="Re-encode every output with the same codec: latent agreement, identical bitstream, mse "
            "PSNR of the re-encoding.",
        ),
        click.option(
            "--viewer-images",
            default="full",
            show_default=True,
            type=click.Choice(["full", "crops", "none"]),
            help="Images of the report's viewer: full (every decoded image whole, under viewer/), crops (the "
            "center crops only: a small report), none (no viewer).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON instead of a table."),
    ]
    for option in reversed(options):  # click lists options in decoration order, innermost first
        f = option(f)
    return f


def _qualities(text: str | None) -> tuple[int, ...]:
    from rdpflex.metrics.reference_codecs import DEFAULT_QUALITIES  # lazy: start-up (Pillow's codecs)

    if not text:
        return DEFAULT_QUALITIES
    try:
        return tuple(int(q) for q in text.split(",") if q.strip())
    except ValueError:
        raise RdpflexError(f"--quality expects integers 1..100 separated by commas, got {text!r}") from None


@click.command("compare")
@click.argument("image_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Report directory to write.")
@system_option
@_compare_options
def compare_command(
    image_dir: Path,
    output: Path,
    system_dir: Path | None,
    decoders: tuple[str, ...],
    metrics: str,
    seed: int,
    baselines: bool,
    qualities: str | None,
    mixed_precision: str,
    cpu: bool,
    batch_size: int,
    crop_size: int,
    reencode: bool,
    viewer_images: str,
    as_json: bool,
) -> None:
    """Encode IMAGE_DIR once, decode the one bitstream with every decoder setting, report metrics.

    Writes OUTPUT/bitstream.rdp, metrics.csv, metrics.json, rate_distortion.png,
    distortion_realism.png, crops/, viewer/ and report.html (with an interactive viewer).
    """
    from rdpflex.evaluation.compare import compare  # lazy: start-up (torch, accelerate)

    if not image_dir.exists():
        raise ImageError(f"{image_dir}: no such directory")
    ok = False
    try:
        result = compare(
            image_dir,
            system_dir,
            decoders=list(decoders) or None,
            metrics=metrics,
            out_dir=output,
            seed=seed,
            baselines=baselines,
            qualities=_qualities(qualities),
            mixed_precision=mixed_precision,
            cpu=cpu,
            crop_size=crop_size,
            batch_size=batch_size,
            reencode=reencode,
            viewer_images=viewer_images,
        )
        _emit(result, as_json)
        ok = True
    finally:
        _finish(ok)


@click.command("demo")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("rdpflex-demo"),
    show_default=True,
    help="Folder for images/ (the exported samples) and report/.",
)
@system_option
@click.option(
    "--samples",
    default=None,
    metavar="NAME,...",
    help="Sample photographs to use (default: the held-out astronaut,coffee,chelsea; names: rdpflex.samples.NAMES).",
)
@click.option(
    "--max-side", default=512, show_default=True, help="Downscale the samples so that the longer side is at most this."
)
@click.option("--metrics", default="auto", show_default=True, metavar="auto|NAME,...", help="As for `rdpflex compare`.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON instead of a table.")
def demo_command(
    output: Path, system_dir: Path | None, samples: str | None, max_side: int, metrics: str, as_json: bool
) -> None:
    """The embedded demo: the held-out sample photographs, the default system, every decoder family along
    its main knob, JPEG/WebP baselines, metrics auto. Offline, CPU, no downloads."""
    from rdpflex.errors import RdpflexError
    from rdpflex.evaluation.compare import compare
    from rdpflex.evaluation.samples import DEMO_QUALITIES, DEMO_SAMPLES, SAMPLE_NAMES, demo_decoders, export_samples
    from rdpflex.plugins import get_decoders
    from rdpflex.system import System

    if max_side < 64:
        raise RdpflexError(f"--max-side must be at least 64 px, got {max_side}")
    names = tuple(n.strip() for n in samples.split(",") if n.strip()) if samples else DEMO_SAMPLES
    unknown = [n for n in names if n not in SAMPLE_NAMES]
    if unknown or not names:
        raise RdpflexError(
            f"--samples: unknown sample {unknown[0] if unknown else ''!r}; samples: {', '.join(SAMPLE_NAMES)}"
        )
    system = System.load(system_dir)  # fails (one line) before anything is written when the system is missing
    decoders, notes = demo_decoders(system, get_decoders())
    for note in notes:
        click.echo(note, err=True)
    images = output / "images"
    ok = False
    try:
        if _is_main():
            export_samples(images, names, max_side)
        from accelerate import PartialState

        PartialState().wait_for_everyone()
        paths = [images / f"{n}.png" for n in names]  # not the folder: it may hold files of an earlier demo
        result = compare(
            paths,
            system,
            decoders=decoders,
            metrics=metrics,
            out_dir=output / "report",
            cpu=True,
            qualities=DEMO_QUALITIES,
        )
        if _is_main() and result.crops:
            from rdpflex.evaluation.figure import crop_grid

            stem = names[0]
            psnr = {f"{r['decoder']}[{r['setting']}]": r["psnr"] for r in result.rows if r.get("image") == stem}
            crop_grid(result.crops, stem, output / "report" / "crops.png", psnr)
        where = system.root or "(default system)"
        _emit(
            result, as_json, header=f"rdpflex demo: {len(names)} sample photographs (<= {max_side} px), system {where}"
        )
        ok = True
    finally:
        _finish(ok)
