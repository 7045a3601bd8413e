"""Plugin loading (pluggy) and the registries built from it.

Entry points of group ``rdpflex`` are loaded — rdpflex's built-in decoders are registered that way
too. Environment variables:

- ``RDPFLEX_PLUGINS=a,b``: load only these entry points (empty value: load none);
- ``RDPFLEX_BLOCK_PLUGINS=a,b``: never load these;
- ``RDPFLEX_PLUGIN_MODULES=pkg.mod,...``: also load these modules as plugins (development, tests).

Loading a plugin imports its module, and rdpflex's own plugin modules import torch and compressai
(seconds). :func:`list_plugins` reads entry-point metadata only, and the command line adds plugin
commands from :func:`get_plugin_manager` ``(own=False)``, which skips rdpflex's own plugins (they
add no commands; tested) so that ``rdpflex --help`` imports neither.
"""

from __future__ import annotations

import importlib
import os
import sys
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from rdpflex import hookspecs
from rdpflex.errors import RdpflexError, UnknownPluginError

GROUP = "rdpflex"
#: the distribution whose entry points are rdpflex's built-in plugins
OWN_DISTRIBUTION = "rdpflex"


def _names(var: str) -> set[str] | None:
    if var not in os.environ:
        return None
    return {n.strip() for n in os.environ[var].split(",") if n.strip()}


def _is_blocked(name: str) -> bool:
    allow, block = _names("RDPFLEX_PLUGINS"), _names("RDPFLEX_BLOCK_PLUGINS") or set()
    return name in block or (allow is not None and name not in allow)


def _is_own(ep: EntryPoint) -> bool:
    return ep.dist is not None and ep.dist.name == OWN_DISTRIBUTION


@cache
def get_plugin_manager(own: bool = True) -> pluggy.PluginManager:
    """The loaded plugins; ``own=False`` leaves out rdpflex's own entry points (built-in decoders, stages)."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    block = _names("RDPFLEX_BLOCK_PLUGINS") or set()
    for ep in entry_points(group=GROUP):
        if _is_blocked(ep.name):
            pm.set_blocked(ep.name)
            continue
        if not own and _is_own(ep):
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


def list_plugins() -> list[dict[str, Any]]:
    """Installed plugins from entry-point metadata, without importing them (``rdpflex plugins``)."""
    rows = [
        {"name": ep.name, "module": ep.value, "distribution": ep.dist.name if ep.dist else None,
         "version": ep.dist.version if ep.dist else None, "builtin": _is_own(ep), "blocked": _is_blocked(ep.name)}
        for ep in entry_points(group=GROUP)
    ]
    rows += [{"name": mod, "module": mod, "distribution": None, "version": None, "builtin": False,
              "blocked": mod in (_names("RDPFLEX_BLOCK_PLUGINS") or set())}
             for mod in sorted(_names("RDPFLEX_PLUGIN_MODULES") or ())]
    return sorted(rows, key=lambda r: r["name"])


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
