"""``rdpflex compress``: images into one ``.rdp`` file, bpp from the file's bytes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from rdpflex.cli_options import device_option, entropy_option, load_system, system_option


@click.command("compress")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="The .rdp file to write.")
@system_option
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the per-image report as JSON.")
@click.option(
    "--estimate/--no-estimate",
    default=True,
    show_default=True,
    help="Also report the model's own rate estimate (one more entropy-model pass).",
)
@entropy_option
def compress_command(
    images: tuple[Path, ...],
    output: Path,
    system_dir: Path | None,
    device: str,
    as_json: bool,
    estimate: bool,
    entropy_path: str,
) -> None:
    """Encode IMAGE... into one .rdp file (bpp from the file's bytes)."""
    # lazy: start-up (`rdpflex --help` imports neither torch nor compressai)
    from tqdm import tqdm

    from rdpflex.bitstream import write_rdp
    from rdpflex.pipeline import compress_images

    system = load_system(system_dir, device)
    bar = tqdm(images, desc="compress", unit="img", disable=len(images) < 2, file=sys.stderr)
    enc = compress_images(bar, system, estimate, exact=entropy_path == "exact")
    nbytes = write_rdp(output, enc.rdp)
    pixels = sum(h * w for h, w in (im.image_size for im in enc.rdp.images))
    rows = [
        {
            "stem": im.stem,
            "height": im.image_size[0],
            "width": im.image_size[1],
            "payload_bytes": sum(map(len, im.streams)),
            "bpp_payload": 8 * sum(map(len, im.streams)) / (im.image_size[0] * im.image_size[1]),
            "bpp_estimated": b / (im.image_size[0] * im.image_size[1]) if estimate else None,
        }
        for im, b in zip(enc.rdp.images, enc.estimated_bits)
    ]
    summary = {
        "file": str(output),
        "bytes": nbytes,
        "images": len(rows),
        "entropy": entropy_path,
        "bpp_file": 8 * nbytes / pixels,
        "bpp_estimated": sum(enc.estimated_bits) / pixels if estimate else None,
        "per_image": rows,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        est = f"; model estimate {summary['bpp_estimated']:.4f} bpp" if estimate else ""
        click.echo(
            f"wrote {output}: {len(rows)} image(s), {nbytes} bytes, {summary['bpp_file']:.4f} bpp (file bytes{est})"
        )
