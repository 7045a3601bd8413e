"""``rdpflex determinism``: encode in one process, decode in others under other thread counts, compare."""

from __future__ import annotations

from pathlib import Path

import click

from rdpflex.cli_options import entropy_option, system_option
from rdpflex.errors import RdpflexError


@click.command("determinism")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@system_option
@click.option("--encode-threads", default=2, show_default=True, help="Thread count of the encoding process.")
@click.option(
    "--threads",
    "decode_threads",
    default="1,2,4",
    show_default=True,
    help="Comma-separated thread counts of the decoding processes.",
)
@entropy_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
def determinism_command(
    images: tuple[Path, ...],
    system_dir: Path | None,
    encode_threads: int,
    decode_threads: str,
    entropy_path: str,
    as_json: bool,
) -> None:
    """Encode IMAGE... in one process, decode in others with other thread counts; compare latents and pixels."""
    # lazy: start-up (`rdpflex --help` imports neither torch nor compressai)
    from rdpflex.determinism import as_json as to_json
    from rdpflex.determinism import run_check, table

    try:
        counts = [int(t) for t in decode_threads.split(",") if t.strip()]
    except ValueError:
        raise RdpflexError(f"--threads expects comma-separated integers, got {decode_threads!r}") from None
    if not counts or min(counts) < 1:
        raise RdpflexError(f"--threads expects positive integers, got {decode_threads!r}")
    outcomes = run_check(list(images), system_dir, encode_threads, counts, exact=entropy_path == "exact")
    click.echo(to_json(outcomes) if as_json else table(outcomes))
    bad = sum(not o.latent_identical for o in outcomes)
    click.echo(
        f"{entropy_path} entropy path: {len(outcomes) - bad}/{len(outcomes)} decodes reproduced "
        "the encoder's latent, "
        f"{sum(o.mismatch_detected for o in outcomes)} mismatches detected",
        err=True,
    )
