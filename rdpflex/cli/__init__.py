"""The ``rdpflex`` command line (the CLI contract documented in README.md and docs/).

Errors caused by input (:class:`~rdpflex.errors.RdpflexError`) print one line ``error: ...`` and exit
2; anything else is a bug: one line plus a hint, exit 1. ``--debug`` shows the traceback instead.

This package holds the group, its lazy loading and :func:`main` (the ``rdpflex`` entry point); each
built-in command lives in a module of its own (``rdpflex.cli.compress``, ``.decompress``, ``.determinism``,
``.list_decoders``, ``.list_plugins``, ``.import_compressai``, and the command modules of evaluation, train
and bench), named in :data:`LAZY_COMMANDS`.

Start-up time: ``rdpflex --help`` must not import torch or compressai (tests/test_startup.py), so the
command modules are imported only when their command runs, and every rdpflex module below the command line
is imported inside the command that needs it (``# lazy: start-up``).
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from rdpflex import __version__
from rdpflex.cli_options import device_option, load_system, system_option
from rdpflex.errors import RdpflexError

__all__ = ["LAZY_COMMANDS", "cli", "device_option", "load_command", "load_system", "main", "system_option"]


#: every built-in command, in a module of its own (``rdpflex.cli.<command>``, or next to the code it drives):
#: ``name: ("module:attribute", short help)``. The module is imported only when the command runs; ``--help``
#: prints the short help (tests keep it equal to the command's).
LAZY_COMMANDS = {
    "compress": (
        "rdpflex.cli.compress:compress_command",
        "Encode IMAGE... into one .rdp file (bpp from the file's bytes).",
    ),
    "decompress": (
        "rdpflex.cli.decompress:decompress_command",
        "Decode FILE.rdp with any registered decoder into DIR/<stem>.png.",
    ),
    "determinism": (
        "rdpflex.cli.determinism:determinism_command",
        "Encode IMAGE... in one process, decode in others with other thread counts; compare latents and pixels.",
    ),
    "decoders": (
        "rdpflex.cli.list_decoders:decoders_command",
        "List the registered decoder families and their options.",
    ),
    "import-compressai": (
        "rdpflex.cli.import_compressai:import_compressai_command",
        "Turn a CompressAI zoo model (ARCH: bmshj2018-hyperprior, mbt2018-mean, cheng2020-anchor) into a system.",
    ),
    "plugins": (
        "rdpflex.cli.list_plugins:plugins_command",
        "List installed plugins: distribution, version, entry point, hooks and the names they register; "
        "`new NAME` writes a new one.",
    ),
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
