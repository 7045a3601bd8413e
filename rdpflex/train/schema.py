"""The recipe reference, generated from the pydantic models (``rdpflex recipes schema``).

``docs/recipes.md`` embeds this output between ``<!-- schema:begin -->`` / ``<!-- schema:end -->``;
``python -m rdpflex.train.schema --write docs/recipes.md`` refreshes it (a test checks it is current).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from rdpflex.train.recipe_loading import _model_in
from rdpflex.train.recipe_models import Recipe

BEGIN, END = "<!-- schema:begin -->", "<!-- schema:end -->"


def _type(annotation: Any) -> str:
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = text.replace("typing.", "").replace("NoneType", "null")
    text = re.sub(r"Literal\[([^\]]*)\]", lambda m: " \\| ".join(m.group(1).replace("'", "").split(", ")), text)
    text = re.sub(r"\bNone\b", "null", text)
    return text.replace(" | ", " \\| ")


def _constraints(field: Any) -> str:
    out = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "len >=")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return ", ".join(out)


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        v = field.default_factory()
        return "{...}" if isinstance(v, BaseModel) else f"`{v!r}`"
    v = field.default
    if v is PydanticUndefined:
        return ""
    if v is None:
        return "`null`"
    if v == "":
        return '`""`'
    if isinstance(v, bool):
        return f"`{str(v).lower()}`"
    return f"`{list(v) if isinstance(v, tuple) else v}`"


def model_table(model: type[BaseModel], prefix: str) -> list[str]:
    lines = ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
    nested = []
    for name, f in model.model_fields.items():
        key = f.alias or name
        sub = _model_in(f.annotation)
        if sub is not None:
            nested.append((f"{prefix}{key}", sub))
            lines.append(f"| `{prefix}{key}` | section | {_default(f)} | | see below |")
            continue
        desc = (f.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{prefix}{key}` | {_type(f.annotation)} | {_default(f)} | {_constraints(f)} | {desc} |")
    out = lines
    for path, sub in nested:
        doc = (sub.__doc__ or "").strip().splitlines()[0] if sub.__doc__ else ""
        out += ["", f"#### `{path}`", ""] + ([doc, ""] if doc else []) + model_table(sub, f"{path}.")
    return out


def schema_markdown() -> str:
    from rdpflex.plugins import get_stage_cards, get_trainer_cards

    lines = ["### Common sections (every recipe)", "", *model_table(Recipe, "")]
    for name, card in get_stage_cards().items():
        lines += [
            "",
            f"### Stage `{name}` — section `{name}:`",
            "",
            card.description,
            f"(registered by `{card.implementation.partition(':')[0]}`)",
            "",
            *model_table(card.Config, f"{name}."),
        ]
    for family, trainer in get_trainer_cards().items():
        lines += [
            "",
            f"### `decoder.settings` of `family: {family}`",
            "",
            f"(trainer `{trainer.implementation.replace(':', '.')}`)",
            "",
            *model_table(trainer.Config, "decoder.settings."),
        ]
    return "\n".join(lines) + "\n"


def schema_json() -> dict[str, Any]:
    from rdpflex.plugins import get_stage_cards
    from rdpflex.train.stage import describe_stage

    return {
        "common": Recipe.model_json_schema(by_alias=True),
        "stages": {n: describe_stage(c) for n, c in get_stage_cards().items()},
    }


def refresh(doc: Path) -> bool:
    """Rewrite the schema block of ``doc``; True when it changed."""
    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{schema_markdown()}{END}{tail}"
    if new != text:
        doc.write_text(new)
    return new != text


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        print("updated" if refresh(Path(sys.argv[2])) else "up to date")
    else:
        print(schema_markdown())
