"""``rdpflex import-compressai``: a CompressAI zoo model wrapped as a system directory."""

from __future__ import annotations

from pathlib import Path

import click

from rdpflex.errors import RdpflexError


@click.command("import-compressai")
@click.argument("arch")
@click.option("--quality", "-q", required=True, type=int, help="Zoo quality index.")
@click.option(
    "--checkpoint", type=click.Path(path_type=Path), default=None, help="Local CompressAI checkpoint / state dict."
)
@click.option("--metric", default="mse", show_default=True, type=click.Choice(["mse", "ms-ssim"]))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="System directory to write.")
def import_compressai_command(arch: str, quality: int, checkpoint: Path | None, metric: str, output: Path) -> None:
    """Turn a CompressAI zoo model (ARCH: bmshj2018-hyperprior, mbt2018-mean, cheng2020-anchor) into a system."""
    # lazy: start-up (`rdpflex --help` imports neither torch nor compressai)
    from rdpflex.codecs.compressai_zoo import load_zoo_codec
    from rdpflex.system import System

    if checkpoint is not None and not checkpoint.is_file():
        raise RdpflexError(f"--checkpoint {checkpoint}: no such file")
    codec = load_zoo_codec(arch, quality, checkpoint, metric)
    system = System(codec, info={"source": f"compressai zoo {arch} q{quality} ({metric})"})
    system.save(output)
    click.echo(f"wrote system {output}: {codec.describe()}, fingerprint {system.fingerprint[:16]}")
