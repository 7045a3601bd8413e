"""Plugin loading (pluggy) and the registries built from it.

Entry points of group ``rdpflex`` are loaded — rdpflex's built-in decoders are registered that way
too. Environment variables:

- ``RDPFLEX_PLUGINS=a,b``: load only these entry points (empty value: load none);
- ``RDPFLEX_BLOCK_PLUGINS=a,b``: never load these entry points, and drop whatever any plugin
  registers under these names (a decoder family, stage or trainer family, metric, codec);
- ``RDPFLEX_PLUGIN_MODULES=pkg.mod,...``: also load these modules as plugins (development, tests).

A plugin that cannot be loaded — a broken entry point or a module of ``RDPFLEX_PLUGIN_MODULES``
that cannot be imported — prints one warning naming it and is skipped (``rdpflex plugins`` shows
the error); the rest of rdpflex still works.

Registries hold *cards* (:mod:`rdpflex.cards`): rdpflex's own plugin modules register cards and
import neither torch nor compressai, so ``rdpflex decoders``, ``rdpflex plugins`` and ``rdpflex
recipes validate`` answer in a fraction of a second; :func:`get_decoder_class` imports one family's
implementation when it is needed. The command line adds plugin commands from
:func:`get_plugin_manager` ``(own=False)``, which skips rdpflex's own plugins (they add no commands).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from rdpflex import hookspecs
from rdpflex.cards import BUILTIN_CODEC_CARDS, CodecCard, DecoderCard, StageCard, TrainerCard
from rdpflex.errors import RdpflexError, UnknownPluginError

GROUP = "rdpflex"
#: the distribution whose entry points are rdpflex's built-in plugins
OWN_DISTRIBUTION = "rdpflex"
#: plugins that failed to load in this process: name -> one-line reason
LOAD_ERRORS: dict[str, str] = {}


def _names(var: str) -> set[str] | None:
    if var not in os.environ:
        return None
    return {n.strip() for n in os.environ[var].split(",") if n.strip()}


def blocked_names() -> set[str]:
    """The names in ``RDPFLEX_BLOCK_PLUGINS`` (entry points, modules or registered names)."""
    return _names("RDPFLEX_BLOCK_PLUGINS") or set()


def _is_blocked(name: str) -> bool:
    allow = _names("RDPFLEX_PLUGINS")
    return name in blocked_names() or (allow is not None and name not in allow)


def _is_own(ep: EntryPoint) -> bool:
    return ep.dist is not None and ep.dist.name == OWN_DISTRIBUTION


def _warn(name: str, exc: BaseException, what: str) -> None:
    LOAD_ERRORS[name] = f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    print(f"warning: {what} {name!r} failed to load, skipped: {LOAD_ERRORS[name]}", file=sys.stderr)


ENV_VARS = ("RDPFLEX_PLUGINS", "RDPFLEX_BLOCK_PLUGINS", "RDPFLEX_PLUGIN_MODULES")


def _env() -> tuple[str | None, ...]:
    return tuple(os.environ.get(v) for v in ENV_VARS)


def get_plugin_manager(own: bool = True) -> pluggy.PluginManager:
    """The loaded plugins; ``own=False`` leaves out rdpflex's own entry points (built-in decoders, stages).

    Loaded once per value of the ``RDPFLEX_*PLUGIN*`` environment variables.
    """
    return _manager(own, _env())


@cache
def _manager(own: bool, env: tuple[str | None, ...]) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for ep in entry_points(group=GROUP):
        if _is_blocked(ep.name):
            pm.set_blocked(ep.name)
            continue
        if (not own and _is_own(ep)) or pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # noqa: BLE001 - a broken third-party plugin must not kill the CLI
            _warn(ep.name, exc, "plugin")
    for mod in sorted(_names("RDPFLEX_PLUGIN_MODULES") or ()):
        if mod in blocked_names() or pm.has_plugin(mod):
            continue
        try:
            pm.register(importlib.import_module(mod), name=mod)
        except Exception as exc:  # noqa: BLE001 - same treatment as a broken entry point
            _warn(mod, exc, "RDPFLEX_PLUGIN_MODULES module")
    pm.check_pending()
    return pm


def reset_plugins() -> None:
    """Forget loaded plugins (tests that change the environment variables call this)."""
    _manager.cache_clear()
    _registry.cache_clear()
    LOAD_ERRORS.clear()


# -- registries ------------------------------------------------------------------------------------
def registering(*objs: object) -> Callable[[Callable[[Any], None]], None]:
    """A ``register_*`` hook implementation that registers ``objs`` (cards or classes), in order::

    register_decoders = registering(DECODER)
    register_trainers = registering(TRAINER)
    """

    @hookspecs.hookimpl
    def hook(register: Callable[[Any], None]) -> None:
        for obj in objs:
            register(obj)

    return hook


_CARD_OF: dict[str, Any] = {
    "register_decoders": DecoderCard,
    "register_stages": StageCard,
    "register_trainers": TrainerCard,
}


def _key(hook: str, obj: Any) -> str:
    return str(obj.arch if hook == "register_codecs" else obj.name)


def _as_card(hook: str, obj: Any) -> Any:
    card_cls = _CARD_OF.get(hook)
    return obj if card_cls is None or isinstance(obj, card_cls) else card_cls.of(obj)


def _collect(hook: str) -> dict[str, Any]:
    """What every loaded plugin registers through ``hook``, by name; names in RDPFLEX_BLOCK_PLUGINS dropped."""
    return _registry(hook, _env())


@cache
def _registry(hook: str, env: tuple[str | None, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    blocked = blocked_names()

    def register(obj: Any) -> None:
        obj = _as_card(hook, obj)
        name = _key(hook, obj)
        if name in blocked:
            return
        if name in found and found[name] != obj:
            kind = {"register_trainers": "trainer of decoder family"}.get(hook, hook.removeprefix("register_")[:-1])
            raise RdpflexError(f"two plugins register the {kind} {name!r}")
        found[name] = obj

    getattr(get_plugin_manager().hook, hook)(register=register)
    return dict(sorted(found.items()))


def blocked_hint(name: str) -> str:
    """``"; ... blocked by RDPFLEX_BLOCK_PLUGINS"`` when ``name`` (or everything) is blocked, else ``""``."""
    if name in blocked_names():
        return f"; {name!r} is blocked by RDPFLEX_BLOCK_PLUGINS={os.environ.get('RDPFLEX_BLOCK_PLUGINS', '')}"
    allow = _names("RDPFLEX_PLUGINS")
    if allow is not None and name not in allow:
        return f"; RDPFLEX_PLUGINS={os.environ.get('RDPFLEX_PLUGINS', '')} loads only those plugins"
    if name in LOAD_ERRORS:
        return f"; the plugin {name!r} failed to load ({LOAD_ERRORS[name]})"
    return ""


def get_decoder_cards() -> dict[str, DecoderCard]:
    """Registered decoder families as cards (no implementation imported)."""
    return _collect("register_decoders")


def get_decoders() -> dict[str, type]:
    """Registered decoder classes (imports every family's implementation; prefer :func:`get_decoder_cards`)."""
    return {name: card.load() for name, card in get_decoder_cards().items()}


def get_decoder_card(name: str) -> DecoderCard:
    cards = get_decoder_cards()
    if name not in cards:
        raise UnknownPluginError(
            f"unknown decoder {name!r}; installed decoders: {', '.join(cards) or 'none'}{blocked_hint(name)}"
        )
    return cards[name]


def get_decoder_class(name: str) -> type:
    """The class of decoder family ``name`` (imports its implementation only)."""
    return get_decoder_card(name).load()


def codec_cards() -> dict[str, CodecCard]:
    """Built-in codec architectures plus those plugins register (``register_codecs``), as cards."""
    return {**BUILTIN_CODEC_CARDS, **{arch: CodecCard.of(c) for arch, c in get_codecs().items()}}


def get_codecs() -> dict[str, type]:
    return _collect("register_codecs")


def get_metrics() -> dict[str, Any]:
    return _collect("register_metrics")


def get_stage_cards() -> dict[str, StageCard]:
    """Registered training stages as cards (name, description, recipe-section ``Config``)."""
    return _collect("register_stages")


def get_stages() -> dict[str, type]:
    """Registered stage classes (imports their implementations)."""
    return {name: card.load() for name, card in get_stage_cards().items()}


def get_trainer_cards() -> dict[str, TrainerCard]:
    """Trainers of the generic ``decoder`` stage, by decoder family."""
    return _collect("register_trainers")


# -- listing ---------------------------------------------------------------------------------------
def _registered(plugin: Any, pm: pluggy.PluginManager) -> tuple[list[str], dict[str, list[str]]]:
    """The hooks a loaded plugin implements and the names it registers through each (cards: no heavy import)."""
    hooks, names = [], {}
    for caller in pm.get_hookcallers(plugin) or []:
        hooks.append(caller.name)
        if caller.name == "register_commands":
            continue
        got: list[str] = []
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin:
                impl.function(register=lambda obj, h=caller.name: got.append(_key(h, _as_card(h, obj))))  # noqa: B023 (called now)
        names[caller.name] = sorted(got)
    return sorted(hooks), names


def list_plugins() -> list[dict[str, Any]]:
    """Installed plugins (``rdpflex plugins``): entry point, module, distribution, version, blocked, and for
    each loaded plugin the hooks it implements and the names it registers (``error`` when it failed to load)."""
    pm = get_plugin_manager()
    rows = []
    sources = [
        (ep.name, ep.value, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None, _is_own(ep))
        for ep in entry_points(group=GROUP)
    ]
    sources += [(m, m, None, None, False) for m in sorted(_names("RDPFLEX_PLUGIN_MODULES") or ())]
    for name, module, dist, version, own in sources:
        row: dict[str, Any] = {
            "name": name,
            "module": module,
            "distribution": dist,
            "version": version,
            "builtin": own,
            "blocked": _is_blocked(name) if dist is not None or own else name in blocked_names(),
            "hooks": [],
            "registers": {},
        }
        plugin = pm.get_plugin(name)
        if plugin is not None:
            try:
                row["hooks"], row["registers"] = _registered(plugin, pm)
            except Exception as exc:  # noqa: BLE001 - listing must survive a plugin whose hook fails
                row["error"] = f"{exc.__class__.__name__}: {exc}"
        elif name in LOAD_ERRORS:
            row["error"] = LOAD_ERRORS[name]
        rows.append(row)
    return sorted(rows, key=lambda r: r["name"])


# -- the hook reference (docs/plugins/hooks.md is generated from rdpflex.hookspecs) ----------------
HOOKS_BEGIN, HOOKS_END = "<!-- hooks:begin -->", "<!-- hooks:end -->"


def hook_specs() -> dict[str, Any]:
    """Every hook specification of :mod:`rdpflex.hookspecs`, by name."""
    return {name: fn for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "rdpflex_spec")}


def hooks_markdown() -> str:
    """The hook reference as Markdown: one section per hook, its signature and its docstring."""
    import inspect

    out = []
    for name, fn in hook_specs().items():
        doc = inspect.cleandoc(fn.__doc__ or "")
        sig = str(inspect.signature(fn)).replace("'", "")
        out += [f"### `{name}{sig}`", "", doc, ""]
    return "\n".join(out)


def refresh_hooks_doc(doc: Any) -> bool:
    """Rewrite the generated block of ``doc``; True when it changed (``python -m rdpflex.plugins --write FILE``)."""
    from pathlib import Path

    path = Path(doc)
    text = path.read_text()
    head, _, rest = text.partition(HOOKS_BEGIN)
    _, _, tail = rest.partition(HOOKS_END)
    new = f"{head}{HOOKS_BEGIN}\n{hooks_markdown()}{HOOKS_END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        print("updated" if refresh_hooks_doc(sys.argv[2]) else "up to date")
    else:
        print(hooks_markdown())
