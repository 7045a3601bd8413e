"""Plugin loading (pluggy) and the registries built from it.

Entry points of group ``rdpflex`` are loaded — rdpflex's built-in decoders are registered that way
too. Environment variables:

- ``RDPFLEX_PLUGINS=a,b``: load only these entry points (empty value: load none);
- ``RDPFLEX_BLOCK_PLUGINS=a,b``: never load these;
- ``RDPFLEX_PLUGIN_MODULES=pkg.mod,...``: also load these modules as plugins (development, tests).
"""

from __future__ import annotations

import importlib
import os
import sys
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import pluggy

from rdpflex import hookspecs
from rdpflex.errors import RdpflexError, UnknownPluginError

GROUP = "rdpflex"


def _names(var: str) -> set[str] | None:
    if var not in os.environ:
        return None
    return {n.strip() for n in os.environ[var].split(",") if n.strip()}


@cache
def get_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    allow, block = _names("RDPFLEX_PLUGINS"), _names("RDPFLEX_BLOCK_PLUGINS") or set()
    for ep in entry_points(group=GROUP):
        if ep.name in block or (allow is not None and ep.name not in allow):
            pm.set_blocked(ep.name)
            continue
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # noqa: BLE001 - a broken third-party plugin must not kill the CLI
            print(f"warning: plugin {ep.name!r} failed to load: {exc.__class__.__name__}: {exc}", file=sys.stderr)
    for mod in _names("RDPFLEX_PLUGIN_MODULES") or ():
        if mod in block:
            continue
        try:
            pm.register(importlib.import_module(mod), name=mod)
        except ImportError as exc:
            raise RdpflexError(f"RDPFLEX_PLUGIN_MODULES names {mod!r}, which cannot be imported: {exc}") from exc
    pm.check_pending()
    return pm


def reset_plugins() -> None:
    """Forget loaded plugins (tests that change the environment variables call this)."""
    get_plugin_manager.cache_clear()
    _collect.cache_clear()


@cache
def _collect(hook: str, key: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def register(obj: Any) -> None:
        name = getattr(obj, key)
        if name in found and found[name] is not obj:
            raise RdpflexError(f"two plugins register the {hook.removeprefix('register_')[:-1]} {name!r}")
        found[name] = obj

    getattr(get_plugin_manager().hook, hook)(register=register)
    return dict(sorted(found.items()))


def get_decoders() -> dict[str, type]:
    return _collect("register_decoders", "name")


def get_codecs() -> dict[str, type]:
    return _collect("register_codecs", "arch")


def get_metrics() -> dict[str, Any]:
    return _collect("register_metrics", "name")


def get_stages() -> dict[str, type]:
    return _collect("register_stages", "name")


def get_decoder_class(name: str) -> type:
    decoders = get_decoders()
    if name not in decoders:
        raise UnknownPluginError(f"unknown decoder {name!r}; installed decoders: {', '.join(decoders) or 'none'}")
    return decoders[name]
