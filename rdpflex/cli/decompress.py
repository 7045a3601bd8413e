"""``rdpflex decompress``: one ``.rdp`` file decoded by any decoder family into ``DIR/<stem>.png``.

The command reads the file and loads the system; :func:`rdpflex.pipeline.prepare_decoding` does every check
and the entropy decoding, :func:`rdpflex.pipeline.save_images` writes the PNGs (what the Python API does).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rdpflex.cli_options import device_option, load_system, system_option


@click.command("decompress")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Directory for DIR/<stem>.png.")
@system_option
@click.option("--decoder", default="mse", show_default=True, help="Decoder family (see `rdpflex decoders`).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Decoder option, validated by its Options.")
@click.option("--seed", default=0, show_default=True, help="Seed of stochastic decoders (image i uses seed+i).")
@device_option
@click.option("--batch-size", default=4, show_default=True, help="Same-size images decoded together (memory bound).")
@click.option(
    "--tile",
    default=0,
    show_default=True,
    help="Decode in overlapping tiles of this many pixels (0: whole images, or the decoder's own tiles on "
    "large ones, e.g. cdiff above 1024x1024; tiling decoders only).",
)
@click.option(
    "--tile-overlap", default=32, show_default=True, help="Pixels shared by neighbouring tiles (with --tile)."
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="Decode and write every intact image of a damaged file, one error line per damaged one, exit 2 "
    "(default: a damaged file writes nothing).",
)
def decompress_command(
    file: Path,
    output: Path,
    system_dir: Path | None,
    decoder: str,
    settings: tuple[str, ...],
    seed: int,
    device: str,
    batch_size: int,
    tile: int,
    tile_overlap: int,
    keep_going: bool,
) -> None:
    """Decode FILE.rdp with any registered decoder into DIR/<stem>.png."""
    # lazy: start-up (`rdpflex --help` imports neither torch nor compressai)
    from tqdm import tqdm

    from rdpflex.bitstream import Salvaged, read_rdp, read_rdp_salvaging
    from rdpflex.pipeline import prepare_decoding, save_images
    from rdpflex.tiling import TileSpec

    read = read_rdp_salvaging(file) if keep_going else read_rdp(file)  # a damaged header is still refused
    system = load_system(system_dir, device)
    # the library checks everything before any work: fingerprint, --tile, decoder and options (once), stems, and
    # entropy-decodes every latent (--keep-going: every intact one); nothing is written before it returns
    tiles = TileSpec(tile, tile_overlap) if tile else None
    job = prepare_decoding(read, system, decoder, list(settings), tiles, keep_going, source=str(file))
    if (read.rdp if isinstance(read, Salvaged) else read).version == 1:
        click.echo(
            f"note: {file} is a version-1 .rdp: it carries no symbol checksums, so a decoding "
            "mismatch cannot be detected",
            err=True,
        )
    n = len(job.latents)
    with tqdm(
        job.images(seed, batch_size), total=n, desc=f"decode ({decoder})", unit="img", disable=n < 2, file=sys.stderr
    ) as bar:
        written = save_images(bar, output)
    click.echo(f"wrote {len(written)} image(s) to {output} with decoder {decoder!r}")
    for line in job.lost:
        click.echo(f"error: {line}", err=True)
    if job.lost:
        sys.exit(2)  # after the lines above (click returns, not exits, on its Exit here)
