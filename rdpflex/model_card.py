"""Model cards: the ``README.md`` of a system folder, what the Hugging Face Hub shows and indexes.

YAML front matter (the Hub's card metadata: ``library_name``, ``license``, ``tags``, ``pipeline_tag``) and a
body in the spirit of Mitchell et al. 2019, "Model Cards for Model Reporting": what the system is (codec
architecture and fingerprint), its decoder families and their knobs, the recipes and data each part was
trained with (``system.json`` ``training``, appended at every training export), and figures measured on
held-out images (``system.json`` ``evaluation``, from :func:`rdpflex.train.card.measure`: bpp from file
bytes, PSNR, ST-LPIPS).

The card is generated from ``system.json`` and the decoders' configs, so it is rewritten, never edited.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rdpflex.hub import ASSETS, BUNDLED_PREFIX
from rdpflex.weights import read_json, write_json

if TYPE_CHECKING:
    from rdpflex.decoders import Decoder

CARD_FILE = "README.md"
DEFAULT_LICENSE = "apache-2.0"
#: the Hub task an rdpflex system fits: an image in, its reconstruction out
PIPELINE_TAG = "image-to-image"
BASE_TAGS = ("rdpflex", "image-compression", "learned-image-compression")


def now() -> str:
    """The time stamp of cards and records: ``2026-12-07 18:33 UTC``."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- the card -------------------------------------------------------------------------------------------
def _knobs(name: str) -> str:
    from rdpflex.plugins import get_decoder_class

    try:
        cls: type[Decoder] = get_decoder_class(name)
    except Exception:  # noqa: BLE001 - a card is still written when a family's plugin is not installed
        return "(plugin not installed)"
    fields = cls.Options.model_fields
    return ", ".join(f"`{k}`={f.default!r}" for k, f in fields.items()) or "none"


def _description(name: str) -> str:
    from rdpflex.plugins import get_decoder_class

    try:
        return str(getattr(get_decoder_class(name), "description", "")).replace("|", "/")
    except Exception:  # noqa: BLE001 - see _knobs
        return ""


def _fmt(v: Any) -> str:
    return "n/a" if v is None or v != v else f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"


def render_card(root: Path, repo_id: str | None = None) -> str:
    """The model card of the system folder ``root``."""
    info = read_json(Path(root) / "system.json")
    codec = info.get("codec", {})
    arch = codec.get("arch", "?")
    decoders_dir = Path(root) / "decoders"
    trained = sorted(p.name for p in decoders_dir.iterdir() if p.is_dir()) if decoders_dir.is_dir() else []
    families = ["mse", *trained]
    meta = {
        "library_name": "rdpflex",
        "license": info.get("license", DEFAULT_LICENSE),
        "pipeline_tag": PIPELINE_TAG,
        "tags": [*BASE_TAGS, f"codec-{arch}", *(f"decoder-{f}" for f in families)],
    }
    bundled = Path(root).resolve().parent == ASSETS.resolve()
    ref = repo_id or (BUNDLED_PREFIX + Path(root).resolve().name if bundled else "PATH_OR_REPO_ID")
    folder = Path(root).resolve()
    name = repo_id or info.get("name") or (folder.parent.name if folder.name == "system" else folder.name)
    out = [f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n", f"# {name}\n\n"]
    out.append(
        "An [rdpflex](https://pypi.org/project/rdpflex/) system: one learned codec that writes one `.rdp` "
        f"bitstream, and the decoder families that read it ({', '.join(families)}).\n\n"
    )
    if info.get("provenance"):
        out.append(f"{info['provenance']}\n\n")
    out.append(
        "## Use\n\n```bash\npip install rdpflex\n"
        f"rdpflex compress photo.png -o photo.rdp --system {ref}\n"
        f"rdpflex decompress photo.rdp -o out/ --system {ref} --decoder {families[-1]}\n```\n\n"
        f'```python\nfrom rdpflex.system import System\nsystem = System.from_pretrained("{ref}")\n```\n\n'
    )
    cfg = ", ".join(f"{k}={v}" for k, v in codec.get("config", {}).items()) or "defaults"
    out.append(
        "## Codec\n\n| | |\n|---|---|\n"
        f"| architecture | `{arch}` ({cfg}) |\n"
        f"| fingerprint (sha256 of config and tensors; every `.rdp` carries it) | `{info.get('fingerprint', '?')}` |\n"
        f"| written by | rdpflex {info.get('rdpflex_version', '?')} |\n\n"
    )
    out.append("## Decoders\n\n| decoder | what it is | knobs (defaults) |\n|---|---|---|\n")
    out += [f"| `{f}` | {_description(f)} | {_knobs(f)} |\n" for f in families]
    runs = info.get("training", [])
    out.append("\n## Training\n\n")
    if runs:
        out.append("| recipe | trains | steps | batch | data | date |\n|---|---|---|---|---|---|\n")
        for r in runs:
            sets = f" (`--set {' --set '.join(r['overrides'])}`)" if r.get("overrides") else ""
            out.append(
                f"| `{r.get('recipe')}`{sets} | {r.get('trains')} | {r.get('steps')} | {r.get('batch', '')} "
                f"| {r.get('data', '')} | {r.get('date') or 'not recorded'} |\n"
            )
    else:
        out.append("No training runs recorded in `system.json`.\n")
    ev = info.get("evaluation")
    out.append("\n## Evaluation\n\n")
    if ev and ev.get("fingerprint") == info.get("fingerprint"):
        labels = ev.get("labels", {})
        cols = list(next(iter(ev["decoders"].values()), {}))
        out.append(
            f"Measured on {len(ev['images'])} held-out image(s) ({', '.join(ev['images'])}; {ev['pixels']} pixels), "
            f"{ev['date']}, {ev['machine']}. One bitstream for every decoder: **{ev['bpp']:.4f} bpp** (file bytes). "
            "Each decoder at its default options (image i sampled with seed i).\n\n"
        )
        out.append("| decoder | " + " | ".join(labels.get(c, c) for c in cols) + " |\n")
        out.append("|---|" + "---|" * len(cols) + "\n")
        rows = [f for f in families if f in ev["decoders"]] + [d for d in ev["decoders"] if d not in families]
        out += [f"| `{d}` | " + " | ".join(_fmt(ev["decoders"][d].get(c)) for c in cols) + " |\n" for d in rows]
    else:
        out.append(
            "Not measured for this codec "
            "(`System.save_pretrained(dir, evaluation=rdpflex.train.card.measure(system, images))`).\n"
        )
    return "".join(out)


def write_card(root: Path | str, evaluation: dict[str, Any] | None = None, repo_id: str | None = None) -> Path:
    """Store ``evaluation`` (when given) in ``system.json`` and write ``root/README.md``."""
    root = Path(root)
    if evaluation is not None:
        info = read_json(root / "system.json")
        info["evaluation"] = evaluation
        write_json(root / "system.json", info)
    path = root / CARD_FILE
    path.write_text(render_card(root, repo_id))
    return path
