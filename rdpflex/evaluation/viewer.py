"""The report's interactive viewer: its images, its data, its HTML, and the links into it.

``report.html`` carries a self-contained viewer (``viewer.css`` and ``viewer.js`` beside this module,
inlined at write time: it works from ``file://``, without a server or a CDN). It shows any two of the
original, every decoder setting and JPEG/WebP at the closest rate, side by side with synchronised pan and
zoom (fit, 1:1, 2x, 4x; nearest-neighbour pixels) or one over the other with a swipe, with the metrics of
the shown pair. Its images are, by ``viewer_images``:

- ``full``: every image whole, written as ``viewer/<i>_<stem>/<source>__<setting>.png``;
- ``crops``: the center crops already written under ``crops/`` (nothing more is written);
- ``none``: no viewer.

A link into the viewer is a fragment ``#view&image=STEM&a=KEY&b=KEY`` (keys as the rows spell them:
``original``, ``multirealism[beta=1.28]``, ``jpeg[quality=35]``); table rows and plot points carry one.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from PIL import Image

from rdpflex.evaluation.result import VIEWER_DIR, CompareResult, CropKey, finite

#: per-image columns the viewer shows beside the pair (when measured), before the metrics
_RATE_COLUMNS = ("bpp",)


def view_href(b: str, a: str = "original", image: str | None = None) -> str:
    """The fragment that opens the viewer on ``a`` against ``b`` (on ``image``, or the one shown)."""
    parts = ["view"] + ([f"image={quote(image, safe='')}"] if image else [])
    return "#" + "&".join(parts + [f"a={quote(a, safe='')}", f"b={quote(b, safe='')}"])


def write_views(result: CompareResult, out: Path, file_of: Any) -> dict[CropKey, str]:
    """Save every whole image of ``result.views`` as a PNG under ``viewer/`` (``file_of(key, index)``
    names it as for the crops); returns key -> path relative to ``out``. Removes an earlier run's images."""
    if (out / VIEWER_DIR).is_dir():
        shutil.rmtree(out / VIEWER_DIR)
    index = {im["stem"]: k for k, im in enumerate(result.info["images"])}
    rel: dict[CropKey, str] = {}
    for key, arr in result.views.items():
        relative = Path(VIEWER_DIR, *file_of(key, index.get(key.stem, 0)).parts[1:])
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr, "RGB").save(out / relative, format="PNG")
        rel[key] = relative.as_posix()
    return rel


def _title(key: CropKey) -> str:
    if key.kind == "original":
        return "original"
    if key.kind == "baseline":
        return f"{key.source.upper()} {key.setting.replace('quality=', 'q ')} (closest bpp)"
    return key.source if key.setting == "default" else f"{key.source} {key.setting}"


@dataclass
class ViewerData:
    """What ``viewer.js`` reads (the page's ``<script id="rdp-viewer-data">``)."""

    images: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    crops: bool = False

    def keys(self) -> set[str]:
        return {s["key"] for s in self.sources}

    def first_image_with(self, key: str) -> str | None:
        return next((im["stem"] for im in self.images if key in im["src"]), None)

    def to_json(self) -> str:
        """JSON safe inside a ``<script>`` element."""
        data = {
            "images": self.images,
            "sources": self.sources,
            "chains": self.chains,
            "metrics": self.metrics,
            "crops": self.crops,
        }
        return json.dumps(data, allow_nan=False).replace("</", "<\\/")


def viewer_data(result: CompareResult, paths: dict[CropKey, str]) -> ViewerData:
    """The viewer's images (per photograph: source key -> file), sources in the report's order (original,
    decoder settings, baselines), each family's chain of settings, and per-image metric values."""
    data = ViewerData(crops=result.viewer_images == "crops")
    order = {"original": 0} | {s.key: k + 1 for k, s in enumerate(result.settings)}
    seen: dict[str, CropKey] = {}
    for key in paths:
        seen.setdefault(key.label, key)
    labels = sorted(seen, key=lambda k: (order.get(k, len(order)), seen[k].source, _quality(seen[k])))
    for label in labels:
        key = seen[label]
        data.sources.append({"key": label, "kind": key.kind, "family": key.source, "title": _title(key)})
    for s in result.settings:
        if s.key in seen:
            data.chains.setdefault(s.decoder, []).append(s.key)
    shown = [m for m in result.metrics if any(finite(r.get(m)) for r in result.rows)]
    data.metrics = [{"name": c, "label": "bpp", "higher": False} for c in _RATE_COLUMNS] + [
        {"name": m, "label": result.metrics[m]["label"], "higher": bool(result.metrics[m]["higher_is_better"])}
        for m in shown
    ]
    rows = {(r["decoder"], r["setting"], r["image"]): r for r in result.rows}
    for im in result.info["images"]:
        stem = im["stem"]
        src = {k.label: p for k, p in paths.items() if k.stem == stem}
        values: dict[str, dict[str, float]] = {}
        for label in src:
            k = seen[label]
            row = rows.get((k.source, k.setting, stem), {})
            values[label] = {m["name"]: row[m["name"]] for m in data.metrics if finite(row.get(m["name"]))}
        first = next(iter(paths[k] for k in paths if k.stem == stem), None)
        size = _size(result, stem, first is not None)
        data.images.append({"stem": stem, "width": size[0], "height": size[1], "src": src, "values": values})
    return data


def _quality(key: CropKey) -> int:
    return int(key.setting.removeprefix("quality=")) if key.kind == "baseline" else 0


def _size(result: CompareResult, stem: str, any_image: bool) -> tuple[int, int]:
    """Width and height of the viewer's images of ``stem`` (whole image, or its center crop)."""
    images = result.views if result.viewer_images == "full" else result.crops
    arr = images.get(CropKey.original(stem))
    if arr is None and any_image:
        arr = next(a for k, a in images.items() if k.stem == stem)
    return (int(arr.shape[1]), int(arr.shape[0])) if arr is not None else (0, 0)


def _asset(name: str) -> str:
    return resources.files("rdpflex.evaluation").joinpath(name).read_text(encoding="utf-8")


def viewer_css() -> str:
    return _asset("viewer.css")


def viewer_html(data: ViewerData) -> str:
    """The viewer's section: controls, panes, metrics, key help, its data and its script (inlined)."""
    what = "center crops" if data.crops else "whole images at full resolution"
    help_keys = (
        "<kbd>f</kbd>/<kbd>space</kbd> flip A/B &middot; <kbd>x</kbd> swap sides &middot; "
        "<kbd>[</kbd> <kbd>]</kbd> B along its chain &middot; <kbd>{</kbd> <kbd>}</kbd> A along its chain &middot; "
        "<kbd>n</kbd> <kbd>p</kbd> next/previous image &middot; <kbd>s</kbd> side by side / swipe &middot; "
        "<kbd>0</kbd> fit <kbd>1</kbd> 1:1 <kbd>2</kbd> 2x <kbd>4</kbd> 4x <kbd>+</kbd> <kbd>-</kbd> zoom &middot; "
        "drag or arrows: pan; wheel: zoom"
    )
    zoom = "".join(
        f'<button type="button" data-zoom="{z}">{html.escape(t)}</button>'
        for z, t in (("fit", "fit"), ("1", "1:1"), ("2", "2x"), ("4", "4x"))
    )
    return f"""<section id="viewer" class="rdp-viewer" tabindex="-1">
<h2>Viewer: any two, at one position ({what})</h2>
<div class="v-bar">
<label>image <select id="v-image"></select></label>
<label>A <select id="v-a"></select></label>
<label>B <select id="v-b"></select></label>
<span class="v-group" id="v-mode"><button type="button" data-mode="side">side by side</button><button type="button"
 data-mode="swipe">swipe</button></span>
<span class="v-group" id="v-zoom">{zoom}</span>
<span id="v-scale" class="v-scale"></span>
</div>
<div class="v-stage" id="v-stage">
<div class="v-pane" id="v-pane-a"><img alt="A" draggable="false"><span class="v-tag"></span></div>
<div class="v-pane" id="v-pane-b"><img alt="B" draggable="false"><span class="v-tag"></span></div>
<div class="v-pane v-swipe" id="v-pane-s"><img class="v-under" alt="A" draggable="false"><div class="v-clip"><img
 class="v-over" alt="B" draggable="false"></div><div class="v-divider"></div><span class="v-tag v-tag-a"></span><span
 class="v-tag v-tag-b"></span></div>
</div>
<div class="v-under-stage"><label class="v-swipe-ctl">swipe <input type="range" id="v-swipe" min="0" max="100"
 step="0.5"
 value="50"></label><span class="v-help">{help_keys}</span></div>
<table class="v-metrics" id="v-metrics"></table>
<script type="application/json" id="rdp-viewer-data">{data.to_json()}</script>
<script>{_asset("viewer.js")}</script>
</section>"""


@dataclass
class PointLinks:
    """Plot points that open the viewer: collected while drawing (axis, data x and y, viewer key, title),
    placed after the figure is saved (the matplotlib transform then gives each point's pixel)."""

    points: list[tuple[Any, float, float, str, str]] = field(default_factory=list)
    #: what :meth:`place` computed
    placed: list[dict[str, Any]] = field(default_factory=list)

    def add(self, ax: Any, x: float, y: float, key: str, title: str) -> None:
        self.points.append((ax, float(x), float(y), key, title))

    def place(self, fig: Any) -> list[dict[str, Any]]:
        """Each point as percentages of the saved figure (left, top from its top-left corner), key, title."""
        w, h = fig.bbox.width, fig.bbox.height
        placed = []
        for ax, x, y, key, title in self.points:
            px, py = ax.transData.transform((x, y))
            if 0 <= px <= w and 0 <= py <= h:
                placed.append({"left": 100 * px / w, "top": 100 * (h - py) / h, "key": key, "title": title})
        self.placed = placed
        return placed


def plot_html(src: str, alt: str, points: list[dict[str, Any]], data: ViewerData | None) -> str:
    """A plot PNG with a link over each point that has images in the viewer (positioned in percent, so the
    links follow the image however wide it is shown)."""
    e = html.escape
    links = []
    keys = data.keys() if data else set()
    for p in points:
        if p["key"] not in keys:
            continue
        href = view_href(p["key"], image=data.first_image_with(p["key"]) if data else None)
        links.append(
            f'<a class="pt" href="{e(href)}" title="{e(p["title"])}" data-key="{e(p["key"])}" '
            f'style="left:{p["left"]:.2f}%;top:{p["top"]:.2f}%"></a>'
        )
    return f"<div class='plot'><img src='{e(src)}' alt='{e(alt)}'>{''.join(links)}</div>"
