"""``rdpflex plugins new NAME``: a complete, weight-free decoder plugin distribution written from a template.

The template is package data (``rdpflex/templates/plugin/``): each ``*.tmpl`` file, its path and its text
with ``{{placeholder}}`` replaced (:func:`placeholders`), becomes one file of the new distribution::

    rdpflex-NAME/
      pyproject.toml  README.md
      src/rdpflex_NAME/{__init__,options,hooks,decoder}.py
      tests/test_NAME.py                                   (the conformance suite)
"""

from __future__ import annotations

import re
from pathlib import Path

from rdpflex import __version__
from rdpflex.cards import is_decoder_name
from rdpflex.errors import RdpflexError

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "plugin"
SUFFIX = ".tmpl"


def placeholders(name: str) -> dict[str, str]:
    """The template's ``{{key}}`` values for decoder ``name`` (dashes become underscores in Python names)."""
    module = name.replace("-", "_")
    camel = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]+", name))
    return {
        "name": name,
        "distribution": f"rdpflex-{name}",
        "package": f"rdpflex_{module}",
        "module": module,
        "Class": camel if camel.isidentifier() else f"Rdpflex{camel}",
        "rdpflex_version": __version__,
    }


def render(text: str, values: dict[str, str]) -> str:
    """``text`` with every ``{{key}}`` of ``values`` replaced."""
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def check_name(name: str) -> None:
    """Refuse a NAME that is no valid decoder name, gives no Python package name, or is already registered."""
    if not is_decoder_name(name):
        raise RdpflexError(
            f"{name!r} is not a valid decoder name: use letters, digits, '-' and '_' (e.g. 'sharpen', 'my-filter')"
        )
    if not placeholders(name)["package"].isidentifier():
        raise RdpflexError(
            f"decoder name {name!r} gives no Python package name (rdpflex_{name.replace('-', '_')}): "
            "use letters, digits, '-' and '_' only"
        )
    from rdpflex.plugins import get_decoder_cards  # lazy: loads the installed plugins' cards

    taken = get_decoder_cards()
    if name in taken:
        raise RdpflexError(
            f"decoder {name!r} is already registered (by {taken[name].implementation.partition(':')[0]}); "
            f"pick a name other than: {', '.join(taken)}"
        )


def write_plugin(name: str, output: str | Path | None = None, force: bool = False) -> list[Path]:
    """Write the plugin distribution of decoder ``name`` into ``output`` (default ``./rdpflex-NAME``); returns
    the files written. Refuses (:class:`RdpflexError`, nothing written) a bad or taken name and an existing
    non-empty ``output`` unless ``force`` (which overwrites the template's files and keeps any others)."""
    check_name(name)
    values = placeholders(name)
    out = Path(output) if output is not None else Path(values["distribution"])
    if out.exists() and not out.is_dir():
        raise RdpflexError(f"output {out} is a file, not a directory: choose another --output")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise RdpflexError(f"output directory {out} exists and is not empty: choose another --output, or pass --force")
    written = []
    for template in sorted(TEMPLATE_DIR.rglob(f"*{SUFFIX}")):
        rel = render(template.relative_to(TEMPLATE_DIR).as_posix().removesuffix(SUFFIX), values)
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(template.read_text(encoding="utf-8"), values), encoding="utf-8")
        written.append(target)
    return written


__all__ = ["TEMPLATE_DIR", "check_name", "placeholders", "render", "write_plugin"]
