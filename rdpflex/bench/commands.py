"""``rdpflex bench [codec|decoders|train|startup|rd]``: print tables, write JSON, append markdown.

``rdpflex bench`` without a subcommand runs codec, decoders and train (``make bench``); ``rdpflex bench
fastpaths`` measures the CPU fast paths on and off.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from rdpflex.cli_options import device_option, system_option

_Command = TypeVar("_Command", bound=Callable[..., object])


def _outputs(f: _Command) -> _Command:
    f = click.option(
        "--json",
        "json_path",
        type=click.Path(path_type=Path),
        default=None,
        help="Write the rows and the machine as JSON here.",
    )(f)
    f = click.option(
        "-o", "--output", type=click.Path(path_type=Path), default=None, help="Append the tables to this markdown file."
    )(f)
    return click.option("--quick", is_flag=True, help="Smaller sizes, fewer repeats (a smoke run).")(f)


def _emit(
    name: str, tables: dict[str, list[dict]], output: Path | None, json_path: Path | None, command: str
) -> dict[str, Any]:
    from rdpflex.bench.common import describe_machine, machine, to_markdown, write_json

    m = machine()
    text = "\n".join(
        [
            f"## rdpflex bench {name}",
            "",
            f"`{command}` — {describe_machine(m)}",
            "",
            *[to_markdown(rows, title) for title, rows in tables.items()],
        ]
    )
    click.echo(text)
    if output is not None:
        with open(output, "a") as f:
            f.write("\n" + text)
        click.echo(f"appended to {output}", err=True)
    payload = {"bench": name, "command": command, "machine": m, "tables": tables}
    if json_path is not None:
        write_json(json_path, payload)
        click.echo(f"wrote {json_path}", err=True)
    return payload


def _command_line() -> str:
    import sys

    return "rdpflex " + " ".join(sys.argv[1:])


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    try:
        return tuple((int(h), int(w)) for w, h in (s.lower().split("x") for s in text.split(",") if s.strip()))
    except ValueError:
        raise click.BadParameter(f"expected WxH[,WxH...], got {text!r}") from None


@click.group("bench", invoke_without_command=True)
@system_option
@device_option
@_outputs
@click.pass_context
def bench_group(
    ctx: click.Context, system_dir: Path | None, device: str, output: Path | None, json_path: Path | None, quick: bool
) -> None:
    """Measure speed and size against peers: codec, decoders, train (all three without a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    for cmd in (codec_command, decoders_command, train_command):
        kwargs: dict[str, Any] = {
            "output": output,
            "quick": quick,
            "json_path": json_path.with_name(f"{json_path.stem}-{cmd.name}.json") if json_path else None,
        }
        if cmd is not train_command:
            kwargs["system_dir"] = system_dir
        if cmd is decoders_command:
            kwargs["device"] = device
        ctx.invoke(cmd, **kwargs)


@bench_group.command("codec")
@system_option
@_outputs
@click.option(
    "--models",
    default="mbt2018-mean,cheng2020-anchor,msh,elic",
    show_default=True,
    help="Comma-separated models (random weights).",
)
@click.option("--sizes", default="64x64,256x256,768x512", show_default=True, help="Image sizes WxH.")
@click.option("--repeats", default=3, show_default=True, help="Timed repeats per contender (median).")
def codec_command(
    system_dir: Path | None,
    output: Path | None,
    json_path: Path | None,
    quick: bool,
    models: str = "mbt2018-mean,cheng2020-anchor,msh,elic",
    sizes: str = "64x64,256x256,768x512",
    repeats: int = 3,
) -> None:
    """Encode/decode time vs CompressAI's compress/decompress of the same model, file bytes vs strings vs estimate."""
    from rdpflex.bench.codec import bench_codec, bench_exact_rate

    names = tuple(m.strip() for m in models.split(",") if m.strip())
    result = bench_codec(names, ((64, 64),) if quick else _sizes(sizes), 1 if quick else repeats, system_dir)
    _emit(
        "codec",
        {
            "Time: rdpflex / CompressAI on the same model (random weights; ratio < 1: rdpflex faster)": result["time"],
            "Size: .rdp file vs CompressAI strings vs the model's estimate": result["size"],
            "Rate cost of the exact entropy path (file bytes, photographs)": bench_exact_rate(
                system_dir, max_side=64 if quick else 512
            ),
        },
        output,
        json_path,
        _command_line(),
    )


@bench_group.command("decoders")
@system_option
@device_option
@_outputs
@click.option("--size", "size_text", default=None, help="Image size WxH  [default: 64x64 on CPU, 256x256 on a GPU].")
@click.option("--batches", default="1,4,16", show_default=True, help="Batch sizes.")
@click.option("--repeats", default=3, show_default=True)
@click.option(
    "--variants",
    default=None,
    help="Comma-separated: fp32, bf16 (autocast), channels_last, compile (torch.compile)  "
    "[default: fp32 on CPU; all four on a GPU].",
)
@click.option(
    "--max-batch",
    "max_batch_text",
    default="",
    help="Per-family batch caps, e.g. 'idempotence=4,cdiff=4' (slow families on a CPU).",
)
def decoders_command(
    system_dir: Path | None,
    device: str,
    output: Path | None,
    json_path: Path | None,
    quick: bool,
    size_text: str | None = None,
    batches: str = "1,4,16",
    repeats: int = 3,
    variants: str | None = None,
    max_batch_text: str = "",
) -> None:
    """Decode ms per megapixel of every decoder of the system, as a ratio to mse; batch scaling; peak memory."""
    from rdpflex.bench.decoders import VARIANTS, bench_decoders

    gpu = device.startswith("cuda")
    chosen = tuple(
        v.strip() for v in (variants or ("fp32,bf16,channels_last,compile" if gpu else "fp32")).split(",") if v.strip()
    )
    if set(chosen) - set(VARIANTS):
        raise click.BadParameter(f"unknown variant in {variants!r}; choose from {', '.join(VARIANTS)}")
    try:
        caps = {k.strip(): int(v) for k, v in (item.split("=") for item in max_batch_text.split(",") if item.strip())}
    except ValueError:
        raise click.BadParameter(f"expected NAME=N[,NAME=N...], got {max_batch_text!r}") from None
    size = (64, 64) if quick else _sizes(size_text or ("256x256" if gpu else "64x64"))[0]
    rows = bench_decoders(
        system_dir,
        size,
        (1,) if quick else tuple(int(b) for b in batches.split(",")),
        1 if quick else repeats,
        device,
        chosen,
        max_batch=caps,
    )
    _emit("decoders", {f"Decoders ({device}, {size[1]}x{size[0]})": rows}, output, json_path, _command_line())


@bench_group.command("fastpaths")
@system_option
@_outputs
@click.option("--size", "size_text", default="256x256", show_default=True, help="Image size WxH.")
@click.option("--batch", default=4, show_default=True, help="Images per run.")
@click.option("--repeats", default=5, show_default=True)
def fastpaths_command(
    system_dir: Path | None,
    output: Path | None,
    json_path: Path | None,
    quick: bool,
    size_text: str = "256x256",
    batch: int = 4,
    repeats: int = 5,
) -> None:
    """Each CPU fast path (inference_mode, batched entropy decode, precomputed beta offsets, one model load) on
    and off."""
    from rdpflex.bench.fastpaths import bench_fastpaths

    rows = bench_fastpaths(
        system_dir, (64, 64) if quick else _sizes(size_text)[0], 2 if quick else batch, 1 if quick else repeats
    )
    _emit(
        "fastpaths",
        {"Fast paths: on / off, interleaved (< 1: the fast path helps)": rows},
        output,
        json_path,
        _command_line(),
    )


@bench_group.command("train")
@_outputs
@click.option("--widths", default="quick,paper", show_default=True, help="Recipe widths to measure.")
@click.option("--no-scaling", is_flag=True, help="Skip the 2-process run.")
@click.option("--stages", default=None, help="Comma-separated stages to measure (e.g. 'codec'); default: all.")
@click.option(
    "--steps",
    "steps_text",
    default="",
    help="Step counts per width, e.g. 'quick=4:12,paper=1:3' (steps/s from the difference).",
)
def train_command(
    output: Path | None,
    json_path: Path | None,
    quick: bool,
    widths: str = "quick,paper",
    no_scaling: bool = False,
    stages: str | None = None,
    steps_text: str = "",
) -> None:
    """Optimiser steps per second of each stage (quick and paper widths), and 2-process CPU scaling."""
    from rdpflex.bench.train import bench_train

    try:
        steps = {
            w.strip(): (int(a), int(b))
            for w, ab in (i.split("=") for i in steps_text.split(",") if i.strip())
            for a, b in [ab.split(":")]
        }
    except ValueError:
        raise click.BadParameter(f"expected WIDTH=N1:N2[,...], got {steps_text!r}") from None
    if quick:
        rows = bench_train(("quick",), {"quick": (1, 2)}, scaling=False, stages=("codec",))
    else:
        rows = bench_train(
            tuple(w.strip() for w in widths.split(",")),
            steps or None,
            scaling=not no_scaling,
            stages=tuple(s.strip() for s in stages.split(",")) if stages else None,
            on_row=lambda row: click.echo(f"measured: {row}", err=True),
        )
    _emit("train", {"Training steps per second (CPU)": rows}, output, json_path, _command_line())


@bench_group.command("startup")
@_outputs
@click.option("--repeats", default=3, show_default=True, help="Timed runs per command (median).")
def startup_command(output: Path | None, json_path: Path | None, quick: bool, repeats: int = 3) -> None:
    """Wall time of each command from a fresh process, and whether it imports torch and compressai."""
    from rdpflex.bench.startup import COMMANDS, bench_startup

    rows = bench_startup(1 if quick else repeats, COMMANDS[:2] if quick else COMMANDS)
    _emit(
        "startup", {"Start-up of the command line (fresh process each run)": rows}, output, json_path, _command_line()
    )


@bench_group.command("rd")
@_outputs
@click.argument("systems", nargs=-1, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--samples", default=None, metavar="NAME,...", help="Photographs (default: the held-out astronaut,coffee,chelsea)."
)
@click.option(
    "--max-side",
    default=512,
    show_default=True,
    help="Downscale the photographs so that the longer side is at most this.",
)
def rd_command(
    output: Path | None,
    json_path: Path | None,
    quick: bool,
    systems: tuple[Path, ...],
    samples: str | None = None,
    max_side: int = 512,
) -> None:
    """Rate-distortion against JPEG and WebP: each SYSTEM's codec (default: the bundled one) on held-out
    photographs, rate difference at equal PSNR, and the Bjøntegaard delta rate of the SYSTEMS' curve."""
    from rdpflex.bench.rd import RD_QUALITIES, bench_rd
    from rdpflex.samples import HELDOUT, NAMES

    names = tuple(n.strip() for n in samples.split(",") if n.strip()) if samples else HELDOUT
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown sample {unknown[0] if unknown else ''!r}; samples: {', '.join(NAMES)}", param_hint="--samples"
        )
    tables = bench_rd(list(systems) or [None], names, 64 if quick else max_side, (5, 50, 90) if quick else RD_QUALITIES)
    _emit(
        "rd",
        {
            "Codec operating points (mse synthesis; rate difference vs the baseline at equal PSNR)": tables["points"],
            "Bjøntegaard delta rate of the codec curve": tables["bd_rate"],
            "Baselines (Pillow)": tables["baselines"],
        },
        output,
        json_path,
        _command_line(),
    )
