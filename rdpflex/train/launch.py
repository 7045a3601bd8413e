"""``python -m rdpflex.train.launch RECIPE [--set K=V]... [--resume] [--output DIR]``

The ``rdpflex train`` command as a module, for launchers that run modules::

    torchrun --nproc_per_node 2 -m rdpflex.train.launch recipes/quick/codec.yaml
    accelerate launch -m rdpflex.train.launch recipes/paper/codec-elic.yaml --set data.path=/data/train

Errors print one line (``error: ...``) on the main process and exit 2.
"""

from __future__ import annotations

import os
import sys
import warnings

import click

from rdpflex.errors import RdpflexError
from rdpflex.train.commands import train_command


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    main_process = os.environ.get("RANK", "0") == "0"
    try:
        train_command.main(args=argv, prog_name="python -m rdpflex.train.launch", standalone_mode=False)
    except click.ClickException as exc:
        if main_process:
            click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except RdpflexError as exc:
        if main_process:
            click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
