"""The files ``compare`` writes: metrics.csv, metrics.json, two plots, crops/ and report.html.

::

    REPORT_DIR/
      bitstream.rdp              the one file every decoder read
      metrics.csv                per-image rows (level=image) + per-setting aggregates (level=set)
      metrics.json               the same rows, plus metric labels, notes, system and timing info
      rate_distortion.png        bpp vs PSNR: the codec's point(s) and the JPEG / WebP curves
      distortion_realism.png     PSNR vs FID/256 (or FID, SWD, LPIPS, detail): one chain per decoder knob
      crops/<i>_<stem>/*.png     center crops of the original and of every decoder setting
      viewer/<i>_<stem>/*.png    the same images whole (``viewer_images="full"``), for the viewer
      report.html                table + plots + the viewer (:mod:`rdpflex.evaluation.viewer`) + crops

Every value computed with stand-in metric weights is labelled: the ``stand_in_metrics`` column, the
``stand_in`` field of each metric in the JSON, "(stand-in weights)" in plot axes and HTML headers.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from rdpflex import __version__
from rdpflex.evaluation.result import (
    BITSTREAM_FILE,
    CROPS_DIR,
    CSV_FILE,
    HTML_FILE,
    JSON_FILE,
    RD_PLOT,
    REALISM_PLOT,
    VIEWER_DIR,
    CompareResult,
    CropKey,
    clean,
    columns,
    finite,
    fmt_value,
    result_json,
    value_columns,
    with_stand_in,
)
from rdpflex.evaluation.viewer import PointLinks, ViewerData, plot_html, view_href, viewer_css, viewer_data, viewer_html
from rdpflex.evaluation.viewer import write_views as _write_views

#: realism axis of the distortion-realism plot, in order of preference
REALISM_METRICS = ("fid256", "fid", "st-lpips", "swd", "lpips", "detail")
_AXIS_NAMES = {
    "fid256": "FID/256",
    "fid": "FID",
    "st-lpips": "ST-LPIPS",
    "swd": "SWD",
    "lpips": "LPIPS",
    "detail": "detail ratio",
}


def write_csv(result: CompareResult, path: Path) -> Path:
    cols = columns(result)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in result.rows + result.summary:
            r = with_stand_in(r)
            w.writerow({k: ("" if clean(r.get(k)) is None else clean(r.get(k))) for k in cols})
    tmp.replace(path)
    return path


def write_json(result: CompareResult, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result_json(result), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------------- plots


def _label(result: CompareResult, name: str) -> str:
    meta = result.metrics.get(name)
    return meta["label"] if meta else name


def _learned(result: CompareResult) -> list[dict[str, Any]]:
    keys = {(s.decoder, s.label) for s in result.settings}
    return [r for r in result.summary if (r["decoder"], r["setting"]) in keys]


def realism_axis(result: CompareResult) -> tuple[str | None, str]:
    """(metric name, why) for the realism axis: FID/256 when it has values, else FID, else ST-LPIPS (a
    perceptual distance whose network ships offline), else the weight-free SWD (a distributional proxy),
    else LPIPS, else the detail ratio (a blur indicator, not a realism metric)."""
    rows = _learned(result)
    missing: list[str] = []
    for name in REALISM_METRICS:
        if name in result.metrics and any(finite(r.get(name)) for r in rows):
            why = "" if not missing else f" ({', '.join(m for m in missing)} unavailable)"
            return name, why
        missing.append(_AXIS_NAMES[name])
    return None, "no realism metric (FID/256, FID, ST-LPIPS, SWD, LPIPS, detail) was computed"


def _panels(n: int) -> tuple[Any, Any, list[Any]]:
    """pyplot, a figure and its ``n`` side-by-side axes."""
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # after choosing the Agg backend (pyplot picks one when imported)

    fig, axes = plt.subplots(1, n, figsize=(5.8 * n + 0.6, 4.6), dpi=110, squeeze=False)
    return plt, fig, list(axes[0])


def _figure() -> tuple[Any, Any, Any]:
    plt, fig, axes = _panels(1)
    return plt, fig, axes[0]


_MARKERS = "osD^vP*X<>h"


def plot_rate_distortion(result: CompareResult, path: Path, links: PointLinks | None = None) -> Path | None:
    """bpp vs PSNR: the codec's settings (one bitstream: one rate) and the JPEG / WebP curves; ``links``
    collects every point (placed on the saved figure)."""
    links = links if links is not None else PointLinks()
    if "psnr" not in result.metrics:
        return None
    plt, fig, ax = _figure()
    try:
        for codec, style in (("jpeg", "--"), ("webp", ":")):
            pts = sorted(
                (r["bpp"], r["psnr"], r.get("quality"))
                for r in result.summary
                if r["decoder"] == codec and finite(r.get("psnr"))
            )
            if pts:
                ax.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    style,
                    marker=".",
                    color="gray" if codec == "jpeg" else "tab:brown",
                    label=f"{codec.upper()} (Pillow, q {pts[0][2]}..{pts[-1][2]})",
                )
                for bpp, psnr, q in pts:
                    links.add(ax, bpp, psnr, f"{codec}[quality={q}]", f"{codec.upper()} q {q}: {bpp:.3f} bpp")
        decoders = list(dict.fromkeys(s.decoder for s in result.settings))
        for k, dec in enumerate(decoders):
            rows = [r for r in _learned(result) if r["decoder"] == dec and finite(r.get("psnr"))]
            if not rows:
                continue
            ax.plot(
                [r["bpp"] for r in rows],
                [r["psnr"] for r in rows],
                linestyle="none",
                marker=_MARKERS[k % len(_MARKERS)],
                markersize=7,
                label=f"rdpflex {dec}" + (f" ({len(rows)} settings)" if len(rows) > 1 else ""),
            )
            for r in rows:
                links.add(ax, r["bpp"], r["psnr"], f"{dec}[{r['setting']}]", f"{dec} {r['setting']}")
        ax.set_xlabel("bits per pixel (from file bytes)")
        ax.set_ylabel(f"{_label(result, 'psnr')} [dB], mean over images")
        ax.set_title("rate–distortion: one bitstream, every decoder")
        _save(fig, ax, path)
        links.place(fig)
    finally:
        plt.close(fig)
    return path


def _save(fig: Figure, axes: Axes | list[Axes], path: Path) -> None:
    """Grid and legend on each of ``axes`` (one axis or a list), then the figure to ``path``."""
    for ax in axes if isinstance(axes, list) else [axes]:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def _close(a: tuple[float, float], b: tuple[float, float], span: tuple[float, float]) -> bool:
    """Whether ``a`` and ``b`` lie within 2 % of ``span`` (the plotted range along x and y) of each other."""
    return abs(a[0] - b[0]) < 0.02 * span[0] and abs(a[1] - b[1]) < 0.02 * span[1]


def _span(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The range of ``points`` along x and y (1 where they do not spread)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0


_AXIS_SUFFIX = {
    "lpips": " (lower: perceptually closer)",
    "st-lpips": " (lower: perceptually closer)",
    "detail": " (1: as much detail as the original, <1: blur)",
    "swd": " x1e3 (lower: patch statistics closer to the originals')",
}
_AXIS_TITLE = {
    "lpips": "distortion–perception (LPIPS)",
    "st-lpips": "distortion–perception (ST-LPIPS)",
    "detail": "distortion–detail (a blur proxy)",
    "swd": "distortion–realism (SWD, weight-free proxy)",
}
PERCEPTUAL_AXES = ("st-lpips", "lpips")  # distances to each original; SWD (a distribution proxy) goes beside them


def second_axis(result: CompareResult, first: str) -> str | None:
    """SWD beside a perceptual-distance axis when it has values: ST-LPIPS measures closeness to each original,
    SWD how far the set's patch statistics are from the originals' (the realism side)."""
    if first not in PERCEPTUAL_AXES or "swd" not in result.metrics:
        return None
    return "swd" if any(finite(r.get("swd")) for r in _learned(result)) else None


def _draw_chains(ax: Axes, result: CompareResult, name: str, links: PointLinks) -> None:
    """One chain of points per decoder (its settings in order), PSNR against ``name``."""
    decoders = list(dict.fromkeys(s.decoder for s in result.settings))
    learned = _learned(result)
    chains = {
        dec: [r for r in learned if r["decoder"] == dec and finite(r.get(name)) and finite(r.get("psnr"))]
        for dec in decoders
    }
    points = [(r[name], r["psnr"]) for rows in chains.values() for r in rows]
    span = _span(points) if points else (1.0, 1.0)
    labelled: list[tuple[float, float]] = []
    for k, (dec, rows) in enumerate(chains.items()):
        if not rows:
            continue
        xs, ys = [r[name] for r in rows], [r["psnr"] for r in rows]
        ax.plot(xs, ys, marker=_MARKERS[k % len(_MARKERS)], markersize=7, label=dec)
        for r, x, y in zip(rows, xs, ys):
            links.add(ax, x, y, f"{dec}[{r['setting']}]", f"{dec} {r['setting']}: {y:.2f} dB")
        if len(rows) > 1 or rows[0]["setting"] != "default":
            for r, x, y in zip(rows, xs, ys):
                stack = sum(_close((x, y), p, span) for p in labelled)  # coinciding points: labels stacked
                labelled.append((x, y))
                ax.annotate(r["setting"], (x, y), textcoords="offset points", xytext=(4, 4 + 9 * stack), fontsize=7)
    ax.set_xlabel(_label(result, name) + _AXIS_SUFFIX.get(name, " (lower: more realistic)"))
    ax.set_ylabel(f"{_label(result, 'psnr')} [dB]")
    ax.margins(x=0.15, y=0.1)  # room for the setting labels


def plot_distortion_realism(
    result: CompareResult, path: Path, links: PointLinks | None = None
) -> tuple[Path | None, str | None, str]:
    """PSNR vs the realism metric, a chain of points per decoder (its settings in order), as in
    Agustsson, Minnen, Toderici, Mentzer, "Multi-Realism Image Compression with a Conditional Generator",
    CVPR 2023, arXiv:2212.13824, Fig. 4; beside a perceptual distance, SWD in a second panel.
    Returns (path or None, metric used, note); ``links`` collects every point."""
    links = links if links is not None else PointLinks()
    name, why = realism_axis(result)
    if name is None or "psnr" not in result.metrics:
        return None, None, why if name is None else "PSNR was not computed"
    metrics = [name] + [m for m in (second_axis(result, name),) if m]
    plt, fig, axes = _panels(len(metrics))
    try:
        for ax, metric in zip(axes, metrics):
            _draw_chains(ax, result, metric, links)
            title = _AXIS_TITLE.get(metric, "distortion–realism plane")
            ax.set_title(title + (why if metric == name else ""), fontsize=10)
        _save(fig, axes, path)
        links.place(fig)
    finally:
        plt.close(fig)
    return path, name, why


# ------------------------------------------------------------------------------------------- crops


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", name)[:120] or "_"


def crop_file(key: CropKey, index: int) -> Path:
    """Where a crop goes, relative to the report directory: ``crops/<i>_<stem>/<source>__<setting>.png``."""
    name = "original.png" if key.kind == "original" else f"{_safe(f'{key.source}__{key.setting}')}.png"
    return Path(CROPS_DIR) / f"{index:03d}_{_safe(key.stem)}" / name


def write_crops(result: CompareResult, out: Path) -> dict[CropKey, str]:
    """Save every crop as a PNG; returns crop key -> path relative to ``out``."""
    index = {im["stem"]: k for k, im in enumerate(result.info["images"])}
    if (out / CROPS_DIR).is_dir():
        shutil.rmtree(out / CROPS_DIR)  # crops of an earlier run in the same directory
    rel: dict[CropKey, str] = {}
    for key, arr in result.crops.items():
        relative = crop_file(key, index.get(key.stem, 0))
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr, "RGB").save(path, format="PNG")
        rel[key] = relative.as_posix()
    return rel


# -------------------------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}tr.base td{color:#666}
.warn{background:#fff3f3;border:1px solid #e99;padding:.6em 1em;margin:1em 0}
.notes{font-size:.85em;color:#444}.plots{display:flex;flex-wrap:wrap;gap:1%}
.plot{position:relative;flex:0 1 48%}.plot img{display:block;width:100%}
.crops{display:flex;flex-wrap:wrap;gap:8px}.crops figure{margin:0;font-size:.75em;text-align:center}
.crops img{display:block;image-rendering:pixelated;border:1px solid #ccc;width:256px}
code{background:#f3f3f3;padding:0 3px}
"""


def _setting_cell(r: dict[str, Any], viewer: ViewerData | None, per_image: bool) -> str:
    """The setting's name, a link into the viewer when it has images of that setting (of that image)."""
    text = html.escape(fmt_value("setting", r.get("setting")))
    key = f"{r['decoder']}[{r['setting']}]"
    if viewer is None or key not in viewer.keys():
        return text
    image = r.get("image") if per_image else viewer.first_image_with(key)
    if per_image and not any(im["stem"] == image and key in im["src"] for im in viewer.images):
        return text
    return f'<a class="view" href="{html.escape(view_href(key, image=image))}" title="open in the viewer">{text}</a>'


def _table_html(
    result: CompareResult, rows: list[dict[str, Any]], per_image: bool = False, viewer: ViewerData | None = None
) -> str:
    keys = {(s.decoder, s.label) for s in result.settings}
    cols = (
        (["image"] if per_image else []) + ["decoder", "setting", "bpp", "bpp_estimated"] + value_columns(result, rows)
    )
    names = {
        "bpp": "bpp (file bytes)",
        "bpp_estimated": "bpp (model estimate)",
        "decode_ms_per_mp": "decode ms/MP",
        "reencode_agreement": "re-encoding: latent agreement",
        "reencode_identical": "re-encoding: identical bitstream",
        "reencode_mse_psnr": "re-encoding: mse PSNR (dB)",
    }

    def align(c: str) -> str:
        return "l" if c in ("image", "decoder", "setting") else ""

    head = "".join(f'<th class="{align(c)}">{html.escape(names.get(c) or _label(result, c))}</th>' for c in cols)
    body = []
    for r in rows:
        cls = "" if (r["decoder"], r["setting"]) in keys else ' class="base"'
        tds = "".join(
            f'<td class="{align(c)}">'
            + (_setting_cell(r, viewer, per_image) if c == "setting" else html.escape(fmt_value(c, r.get(c))))
            + "</td>"
            for c in cols
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_html(
    result: CompareResult,
    out: Path,
    plots: dict[str, tuple[str, list[dict[str, Any]]] | None],
    crop_paths: dict[CropKey, str],
    realism_note: str,
    viewer: ViewerData | None = None,
) -> Path:
    """``report.html``: header, metrics table, plots, the viewer (when ``viewer``), crops, per-image rows.
    Table rows and plot points of settings with images open them in the viewer."""
    e = html.escape
    info = result.info
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>rdpflex "
        f"compare</title><style>{_CSS}{viewer_css() if viewer else ''}</style></head><body>"
    ]
    parts.append("<h1>rdpflex compare: one bitstream, every decoder</h1>")
    sysinfo = info["system"]
    bs = info["bitstream"]
    parts.append(
        f"<p>System <code>{e(str(sysinfo['root'] or '(in memory)'))}</code> ({e(sysinfo['arch'])}, codec "
        f"<code>{e(sysinfo['fingerprint'][:16])}</code>). {len(info['images'])} image(s) in one "
        f"<a href='{BITSTREAM_FILE}'>{BITSTREAM_FILE}</a> of {bs['bytes']} bytes = <b>{bs['bpp']:.4f} bpp</b> "
        f"(model estimate {bs['bpp_estimated']:.4f} bpp). Decoded on {e(info['device'])} by "
        f"{info['processes']} process(es), "
        f"mixed precision {e(info['mixed_precision'])}, seed {info['seed']} (image i uses seed+i). "
        f"Data: <a href='{CSV_FILE}'>{CSV_FILE}</a>, <a href='{JSON_FILE}'>{JSON_FILE}</a>.</p>"
    )
    stand = [m["label"] for m in result.metrics.values() if m.get("stand_in")]
    if stand:
        parts.append(
            "<div class='warn'><b>Stand-in weights:</b> "
            + e(", ".join(stand))
            + " were computed with stand-in (randomly initialised) metric networks, for testing only. "
            "These numbers mean nothing.</div>"
        )
    if result.notes:
        parts.append(
            "<details class='notes'><summary>Notes ("
            + str(len(result.notes))
            + ")</summary><ul>"
            + "".join(f"<li>{e(n)}</li>" for n in result.notes)
            + "</ul></details>"
        )
    parts.append("<h2>Metrics per decoder setting (mean over images; set metrics on the whole set)</h2>")
    parts.append(_table_html(result, result.summary, viewer=viewer))
    parts.append(
        "<p class='notes'>Grey rows: Pillow JPEG/WebP at each quality (bpp from their own file bytes). "
        "decode ms/MP: median over images, decoder only (entropy decoding excluded)."
        + (" A setting's name (or a point of a plot) opens it in the viewer." if viewer else "")
        + "</p>"
    )
    imgs = [plot_html(p[0], k, p[1], viewer) for k, p in plots.items() if p]
    if imgs:
        parts.append("<h2>Plots</h2><div class='plots'>" + "".join(imgs) + "</div>")
        if realism_note:
            parts.append(f"<p class='notes'>Distortion–realism axis: {e(realism_note)}</p>")
    if viewer is not None:
        parts.append(viewer_html(viewer))
        parts.append("<details class='crop-grid'><summary>Center crops, all from the same bitstream</summary>")
    else:
        parts.append("<h2>Side by side: center crops, all from the same bitstream</h2>")
    rows_by = {(r["decoder"], r["setting"], r["image"]): r for r in result.rows}
    for im in info["images"]:
        stem = im["stem"]
        figs = []
        original = crop_paths.get(CropKey.original(stem))
        if original:
            figs.append(
                f"<figure><img src='{e(original)}' alt='original'><figcaption>original "
                f"{im['width']}x{im['height']}</figcaption></figure>"
            )
        for s in result.settings:
            p = crop_paths.get(CropKey.decoder(s, stem))
            if not p:
                continue
            r = rows_by.get((s.decoder, s.label, stem), {})
            cap = f"{s.decoder} {s.label}<br>{fmt_value('bpp', r.get('bpp'))} bpp"
            if "psnr" in r:
                cap += f", {fmt_value('psnr', r.get('psnr'))} dB"
            if finite(r.get("lpips")):
                cap += (
                    f", LPIPS{'*' if result.metrics.get('lpips', {}).get('stand_in') else ''} "
                    f"{fmt_value('lpips', r['lpips'])}"
                )
            figs.append(f"<figure><img src='{e(p)}' alt='{e(s.key)}'><figcaption>{cap}</figcaption></figure>")
        for key, p in crop_paths.items():
            if key.stem != stem or key.kind != "baseline":
                continue
            r = rows_by.get((key.source, key.setting, stem), {})
            cap = f"{key.source.upper()} {key.setting} (closest bpp)<br>{fmt_value('bpp', r.get('bpp'))} bpp"
            if "psnr" in r:
                cap += f", {fmt_value('psnr', r.get('psnr'))} dB"
            alt = e(key.label)
            figs.append(f"<figure><img src='{e(p)}' alt='{alt}'><figcaption>{cap}</figcaption></figure>")
        parts.append(f"<h3>{e(stem)}</h3><div class='crops'>{''.join(figs)}</div>")
    if viewer is not None:
        parts.append("</details>")
    if stand:
        parts.append("<p class='notes'>* stand-in weights</p>")
    parts.append(
        "<h2>Per image</h2><details><summary>"
        + str(len(result.rows))
        + " rows</summary>"
        + _table_html(result, result.rows, per_image=True, viewer=viewer)
        + "</details>"
    )
    t = info.get("timing", {})
    times = ", ".join(
        f"{k.removesuffix('_s').replace('_', ' ')} {v:.1f} s" for k, v in t.items() if isinstance(v, (int, float))
    )
    parts.append(
        f"<p class='notes'>rdpflex {e(__version__)}; time: {e(times)} "
        "(per-process parts summed over processes).</p></body></html>"
    )
    path = out / HTML_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(path)
    return path


def write_report(result: CompareResult, out: Path) -> dict[str, Path]:
    """Write every report file into ``out`` (the bitstream is already there)."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {"bitstream": out / BITSTREAM_FILE}
    rd_links, rz_links = PointLinks(), PointLinks()
    rd = plot_rate_distortion(result, out / RD_PLOT, rd_links)
    if rd is None:
        result.notes.append("rate-distortion plot skipped: PSNR was not computed")
    rz, realism_metric, why = plot_distortion_realism(result, out / REALISM_PLOT, rz_links)
    if rz is None or realism_metric is None:
        result.notes.append(f"distortion-realism plot skipped: {why}")
        realism_note = ""
    else:
        realism_note = f"PSNR vs {_label(result, realism_metric)}{why}"
        result.info["realism_metric"] = realism_metric
    for stale, made in ((out / RD_PLOT, rd), (out / REALISM_PLOT, rz)):
        if made is None and stale.exists():
            stale.unlink()
    crop_paths = write_crops(result, out)
    viewer = _viewer(result, out, crop_paths)
    files["csv"] = write_csv(result, out / CSV_FILE)
    files["html"] = write_html(
        result,
        out,
        {
            "rate-distortion": (RD_PLOT, rd_links.placed) if rd else None,
            "distortion-realism": (REALISM_PLOT, rz_links.placed) if rz else None,
        },
        crop_paths,
        realism_note,
        viewer,
    )
    if rd:
        files["rd_plot"] = rd
    if rz:
        files["realism_plot"] = rz
    files["crops"] = out / CROPS_DIR
    if viewer is not None and result.viewer_images == "full":
        files["viewer"] = out / VIEWER_DIR
    files["json"] = write_json(result, out / JSON_FILE)
    return files


def write_views(result: CompareResult, out: Path) -> dict[CropKey, str]:
    """Save the viewer's whole images under ``viewer/`` (named as the crops); key -> path relative to ``out``."""
    return _write_views(result, out, crop_file)


def _viewer(result: CompareResult, out: Path, crop_paths: dict[CropKey, str]) -> ViewerData | None:
    """The viewer's data, its whole images written first (``full``), or on the crops (``crops``); None for
    ``none``. An earlier run's ``viewer/`` never outlives this one."""
    if result.viewer_images == "full":
        return viewer_data(result, write_views(result, out))
    if (out / VIEWER_DIR).is_dir():
        shutil.rmtree(out / VIEWER_DIR)
    return viewer_data(result, crop_paths) if result.viewer_images == "crops" else None
