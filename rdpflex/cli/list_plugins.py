"""``rdpflex plugins``: installed plugins, their hooks and the names they register (imports no plugin); ``rdpflex
plugins new NAME`` writes a new decoder plugin distribution from rdpflex's template (:mod:`rdpflex.plugin_template`)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("plugins", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """List installed plugins: distribution, version, entry point, hooks and the names they register; `new NAME`
    writes a new one."""
    if ctx.invoked_subcommand is not None:
        return
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


@plugins_command.command("new")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory to write the distribution into (default: ./rdpflex-NAME).",
)
@click.option("--force", is_flag=True, help="Write into a non-empty directory (overwrites the template's files).")
def new_command(name: str, output: Path | None, force: bool) -> None:
    """Write a weight-free decoder plugin NAME (rdpflex-NAME) with its conformance test, ready to edit."""
    from rdpflex.plugin_template import write_plugin

    written = write_plugin(name, output, force=force)
    root = Path(output) if output is not None else Path(f"rdpflex-{name}")
    for path in written:
        click.echo(path)
    click.echo(
        f"\nnext: pip install -e {root} && pytest {root}; then `rdpflex decoders` lists {name!r} "
        f"(see {root / 'README.md'})"
    )
