"""``rdpflex bench [codec|decoders|train]``: print tables, write JSON, append markdown.

``rdpflex bench`` without a subcommand runs all three (``make bench``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rdpflex.cli_options import device_option, system_option


def _outputs(f):
    f = click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write the rows and the machine as JSON here.")(f)
    f = click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Append the tables to this markdown file.")(f)
    return click.option("--quick", is_flag=True, help="Smaller sizes, fewer repeats (a smoke run).")(f)


def _emit(name: str, tables: dict[str, list[dict]], output: Path | None, json_path: Path | None, command: str) -> dict[str, Any]:
    from rdpflex.bench.common import describe_machine, machine, to_markdown, write_json

    m = machine()
    text = "\n".join([f"## rdpflex bench {name}", "", f"`{command}` — {describe_machine(m)}", "",
                      *[to_markdown(rows, title) for title, rows in tables.items()]])
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
def bench_group(ctx: click.Context, system_dir: Path | None, device: str, output: Path | None, json_path: Path | None, quick: bool) -> None:
    """Measure speed and size against peers: codec, decoders, train (all three without a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    for cmd in (codec_command, decoders_command, train_command):
        kwargs = {"output": output, "quick": quick, "json_path": json_path.with_name(f"{json_path.stem}-{cmd.name}.json") if json_path else None}
        if cmd is not train_command:
            kwargs["system_dir"] = system_dir
        if cmd is decoders_command:
            kwargs["device"] = device
        ctx.invoke(cmd, **kwargs)


@bench_group.command("codec")
@system_option
@_outputs
@click.option("--models", default="mbt2018-mean,cheng2020-anchor,msh,elic", show_default=True, help="Comma-separated models (random weights).")
@click.option("--sizes", default="64x64,256x256,768x512", show_default=True, help="Image sizes WxH.")
@click.option("--repeats", default=3, show_default=True, help="Timed repeats per contender (median).")
def codec_command(system_dir: Path | None, output: Path | None, json_path: Path | None, quick: bool, models: str = "mbt2018-mean,cheng2020-anchor,msh,elic",
                  sizes: str = "64x64,256x256,768x512", repeats: int = 3) -> None:
    """Encode/decode time vs CompressAI's compress/decompress of the same model, file bytes vs strings vs estimate."""
    from rdpflex.bench.codec import bench_codec, bench_exact_rate

    names = tuple(m.strip() for m in models.split(",") if m.strip())
    result = bench_codec(names, ((64, 64),) if quick else _sizes(sizes), 1 if quick else repeats, system_dir)
    _emit("codec", {
        "Time: rdpflex / CompressAI on the same model (random weights; ratio < 1: rdpflex faster)": result["time"],
        "Size: .rdp file vs CompressAI strings vs the model's estimate": result["size"],
        "Rate cost of the exact entropy path (file bytes, photographs)": bench_exact_rate(system_dir, max_side=64 if quick else 512),
    }, output, json_path, _command_line())


@bench_group.command("decoders")
@system_option
@device_option
@_outputs
@click.option("--size", "size_text", default="256x256", show_default=True, help="Image size WxH.")
@click.option("--batches", default="1,4,16", show_default=True, help="Batch sizes.")
@click.option("--repeats", default=3, show_default=True)
def decoders_command(system_dir: Path | None, device: str, output: Path | None, json_path: Path | None, quick: bool, size_text: str = "256x256",
                     batches: str = "1,4,16", repeats: int = 3) -> None:
    """Decode ms per megapixel of every decoder of the system, as a ratio to mse; batch scaling; peak memory."""
    from rdpflex.bench.decoders import bench_decoders

    dtypes = ("fp32", "bf16") if device.startswith("cuda") else ("fp32",)
    rows = bench_decoders(system_dir, (64, 64) if quick else _sizes(size_text)[0], (1,) if quick else tuple(int(b) for b in batches.split(",")),
                          1 if quick else repeats, device, dtypes)
    _emit("decoders", {f"Decoders ({device})": rows}, output, json_path, _command_line())


@bench_group.command("train")
@_outputs
@click.option("--widths", default="quick,paper", show_default=True, help="Recipe widths to measure.")
@click.option("--no-scaling", is_flag=True, help="Skip the 2-process run.")
def train_command(output: Path | None, json_path: Path | None, quick: bool, widths: str = "quick,paper", no_scaling: bool = False) -> None:
    """Optimiser steps per second of each stage (quick and paper widths), and 2-process CPU scaling."""
    from rdpflex.bench.train import bench_train

    if quick:
        rows = bench_train(("quick",), {"quick": (1, 2)}, scaling=False, stages=("codec",))
    else:
        rows = bench_train(tuple(w.strip() for w in widths.split(",")), scaling=not no_scaling)
    _emit("train", {"Training steps per second (CPU)": rows}, output, json_path, _command_line())
