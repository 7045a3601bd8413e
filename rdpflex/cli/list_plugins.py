"""``rdpflex plugins``: installed plugins, their hooks and the names they register (imports no plugin)."""

from __future__ import annotations

import json

import click


@click.command("plugins")
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
