"""The ``rdpflex`` command line (the CLI contract documented in README.md and docs/).

Errors caused by input (:class:`~rdpflex.errors.RdpflexError`) print one line ``error: ...`` and exit
2; anything else is a bug: one line plus a hint, exit 1. ``--debug`` shows the traceback instead.

Start-up time: ``rdpflex --help`` must not import torch or compressai (tests/test_startup.py), so every
rdpflex module below the command line is imported inside the command that needs it (``# lazy: start-up``),
and the commands of :data:`LAZY_COMMANDS` live in modules imported only when they run.
"""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import click

from rdpflex import __version__
from rdpflex.cli_options import device_option, entropy_option, system_option
from rdpflex.errors import RdpflexError

__all__ = ["LAZY_COMMANDS", "cli", "device_option", "load_command", "load_system", "main", "system_option"]


def load_system(system_dir: Path | None, device: str = "cpu") -> Any:
    from rdpflex.system import System  # lazy: start-up

    return System.load(system_dir).to(device)


#: commands defined next to the code they drive: ``name: ("module:attribute", short help)``. The module is
#: imported only when the command runs; ``--help`` prints the short help (tests keep it equal to the command's).
LAZY_COMMANDS = {
    "train": (
        "rdpflex.train.commands:train_command",
        "Train from RECIPE (a YAML file or a shipped recipe name such as quick/codec).",
    ),
    "recipes": (
        "rdpflex.train.commands:recipes_group",
        "Shipped training recipes: list, show, validate, copy, schema.",
    ),
    "compare": (
        "rdpflex.evaluation.commands:compare_command",
        "Encode IMAGE_DIR once, decode the one bitstream with every decoder setting, report metrics.",
    ),
    "demo": (
        "rdpflex.evaluation.commands:demo_command",
        "The embedded demo: the held-out sample photographs, the default system, "
        "every decoder family along its main knob, JPEG/WebP baselines, metrics auto.",
    ),
    "bench": (
        "rdpflex.bench.commands:bench_group",
        "Measure speed and size against peers: codec, decoders, train (all three without a subcommand).",
    ),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs (click's "lazily loading
    subcommands" pattern) and asks plugins for their commands only when a name is not built in or the
    commands are listed: ``rdpflex --help`` imports neither torch nor compressai."""

    _plugins_added = False
    _listing = False

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            if self._listing:
                return click.Command(name, help=LAZY_COMMANDS[name][1])
            self.add_command(load_command(name), name)
        if name not in self.commands:
            self._add_plugin_commands()
        return super().get_command(ctx, name)

    def _add_plugin_commands(self) -> None:
        if not self._plugins_added:
            # lazy: start-up (plugin modules are imported only when a command is not built in, or for listing)
            from rdpflex.plugins import get_plugin_manager

            self._plugins_added = True
            get_plugin_manager(own=False).hook.register_commands(cli=self)


def load_command(name: str) -> click.Command:
    """Import a lazily registered built-in command; a module that fails to import is an error naming the command."""
    module, attr = LAZY_COMMANDS[name][0].split(":")
    try:
        command = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(
            f"built-in command {name!r} cannot be loaded from {module}:{attr}: {exc.__class__.__name__}: {exc}"
        ) from exc
    if not isinstance(command, click.Command):
        raise RuntimeError(f"built-in command {name!r}: {module}:{attr} is not a click command")
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rdpflex")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def cli(debug: bool) -> None:
    """rdpflex: one bitstream, swappable decoders (mse, multirealism, cdiff, idempotence, yours)."""
    # --debug is read by main() from the raw arguments: it must also cover errors raised while click parses


@cli.command()
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
def compress(
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


@cli.command()
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
def decompress(
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


@cli.command()
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
def determinism(
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


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing with each options schema.")
def decoders(as_json: bool) -> None:
    """List the registered decoder families and their options."""
    # lazy: start-up (`rdpflex decoders` imports neither torch nor compressai)
    from rdpflex.cards import describe, option_range
    from rdpflex.plugins import get_decoder_cards

    infos = [describe(card) for card in get_decoder_cards().values()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    for info in infos:
        click.echo(f"{info['name']:<14} {info['description']}")
        flags = [k for k, v in info["capabilities"].items() if v]
        click.echo(f"{'':<14} capabilities: {', '.join(flags) or 'none'}")
        for key, prop in info["options"].get("properties", {}).items():
            allowed = option_range(key, prop)
            bounds = f"; {allowed}" if allowed != key else ""
            doc = f": {prop['description']}" if prop.get("description") else ""
            click.echo(f"{'':<14} --set {key}=... (default {prop.get('default')}{bounds}){doc}")


@cli.command("import-compressai")
@click.argument("arch")
@click.option("--quality", "-q", required=True, type=int, help="Zoo quality index.")
@click.option(
    "--checkpoint", type=click.Path(path_type=Path), default=None, help="Local CompressAI checkpoint / state dict."
)
@click.option("--metric", default="mse", show_default=True, type=click.Choice(["mse", "ms-ssim"]))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="System directory to write.")
def import_compressai(arch: str, quality: int, checkpoint: Path | None, metric: str, output: Path) -> None:
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


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: distribution, version, entry point, hooks and the names they register."""
    from rdpflex.plugins import list_plugins

    rows = list_plugins()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        origin = (
            "built in"
            if r["builtin"]
            else f"{r['distribution'] or 'RDPFLEX_PLUGIN_MODULES'} {r['version'] or ''}".rstrip()
        )
        state = "  (blocked)" if r["blocked"] else (f"  (failed to load: {r['error']})" if r.get("error") else "")
        click.echo(f"{r['name']:<22} {r['module']:<40} {origin}{state}")
        for hook in r["hooks"]:
            names = r["registers"].get(hook)
            click.echo(f"{'':<22} {hook}" + (f": {', '.join(names) or '-'}" if names is not None else ""))


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit deprecation noise from compressai
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="rdpflex", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if debug:
            raise
        msg = exc.format_message().replace("\n", " ")
        click.echo(f"error: {msg} (see `rdpflex --help`)", err=True)
        sys.exit(exc.exit_code)
    except RdpflexError as exc:
        if debug:
            raise
        click.echo(f"error: {exc or exc.__class__.__name__}", err=True)  # one line; recipes list each field
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: one line, traceback only with --debug
        if debug:
            raise
        click.echo(
            f"internal error: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''} (rerun with --debug)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
