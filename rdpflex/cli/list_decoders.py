"""``rdpflex decoders``: the registered decoder families and their options (imports neither torch nor compressai)."""

from __future__ import annotations

import json

import click


@click.command("decoders")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable listing with each options schema.")
def decoders_command(as_json: bool) -> None:
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
