"""click options and helpers shared by the built-in commands (the command modules :mod:`rdpflex.cli` loads).

A module of its own so that command modules (``rdpflex.cli.decompress``, ``rdpflex.evaluation.commands``,
``rdpflex.bench.commands`` ...) do not import :mod:`rdpflex.cli`, which loads them: imports run one way,
cli -> commands -> options.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from rdpflex.system import System

F = TypeVar("F", bound=Callable[..., object])


def system_option(f: F) -> F:
    return click.option(
        "--system",
        "system_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="System: a directory, rdpflex:demo-system, or a Hugging Face repo id OWNER/NAME (a local directory "
        "wins; default: $RDPFLEX_SYSTEM or the bundled demo system).",
    )(f)


def device_option(f: F) -> F:
    return click.option(
        "--device", default="cpu", show_default=True, help="torch device for the networks (cpu, cuda, cuda:1...)."
    )(f)


def entropy_option(f: F) -> F:
    """``--entropy exact|float``: the entropy-parameter path to encode with (``entropy_path``)."""
    return click.option(
        "--entropy",
        "entropy_path",
        type=click.Choice(["exact", "float"]),
        default="exact",
        show_default=True,
        help="Entropy parameters: exact (fixed-point, decodes identically on any machine) or float (CompressAI's own "
        "path: byte-identical strings to a zoo model's compress(), may not decode on another machine; "
        "mismatches are detected).",
    )(f)


def load_system(system_dir: Path | None, device: str = "cpu") -> "System":
    """``--system`` and ``--device``: the system loaded and moved (a one-line error for either)."""
    from rdpflex.system import System  # lazy: start-up

    return System.load(system_dir).to(device)
