"""The report's viewer without a browser: its images, its data, the links of table rows and plot points
(the browser drives it in ``test_viewer_browser.py``)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from rdpflex.errors import RdpflexError
from rdpflex.evaluation import compare
from rdpflex.evaluation.commands import compare_command
from rdpflex.evaluation.result import VIEWER_IMAGES

SETTINGS = ["mse[default]", "noisy[sigma=0]", "noisy[sigma=0.1]", "noisy[sigma=0.3]"]


def viewer_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="rdp-viewer-data">(.*?)</script>', html, re.S)
    assert m, "no viewer data in the report"
    return json.loads(m.group(1))


def hrefs(html: str, cls: str) -> list[dict[str, str]]:
    """The viewer links of class ``cls``: their fragments' fields."""
    out = []
    for href in re.findall(rf'<a class="{cls}" href="([^"]+)"', html):
        fields = dict(p.split("=", 1) for p in unescape(href).removeprefix("#view&").split("&"))
        out.append({k: unquote(v) for k, v in fields.items()})
    return out


def test_full_images_data_and_links(viewer_report: Path, eval_image_dir: Path):
    html = (viewer_report / "report.html").read_text()
    data = viewer_data(html)
    assert "<script>" in html and "http" not in re.sub(r"<a [^>]*>", "", html.split('id="viewer"')[1])  # offline
    assert [s["key"] for s in data["sources"]][: 1 + len(SETTINGS)] == ["original", *SETTINGS]
    assert {s["family"] for s in data["sources"][1 + len(SETTINGS) :]} == {"jpeg", "webp"}
    assert data["chains"] == {"mse": ["mse[default]"], "noisy": SETTINGS[1:]}
    assert [m["name"] for m in data["metrics"]][:2] == ["bpp", "psnr"]
    assert not data["crops"]
    rows = {
        (f"{r['decoder']}[{r['setting']}]", r["image"]): r
        for r in json.loads((viewer_report / "metrics.json").read_text())["rows"]
    }
    originals = {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in eval_image_dir.glob("*.png")}
    assert [im["stem"] for im in data["images"]] == sorted(originals)
    for im in data["images"]:
        original = originals[im["stem"]]
        assert (im["height"], im["width"]) == original.shape[:2]
        assert set(im["src"]) >= {"original", *SETTINGS} and {k.split("[")[0] for k in im["src"]} >= {"jpeg", "webp"}
        for key, src in im["src"].items():
            assert src.startswith("viewer/") and (viewer_report / src).is_file(), src
            with Image.open(viewer_report / src) as img:
                assert img.size == (im["width"], im["height"]), (key, img.size)  # whole, not cropped
        assert np.array_equal(np.asarray(Image.open(viewer_report / im["src"]["original"])), original)
        for key, values in im["values"].items():  # the shown metrics are the rows' (per image)
            row = rows[(key, im["stem"])] if key != "original" else {}
            assert values == {k: row[k] for k in ("bpp", "psnr", "swd") if row.get(k) is not None}, key
    # every setting's row in the summary table opens it (on an image that has it); per-image rows too
    rows = hrefs(html, "view")
    summary = [r["b"] for r in rows if r["image"] == data["images"][0]["stem"]]
    assert summary[: len(SETTINGS)] == SETTINGS
    for r in rows:
        assert r["a"] == "original" and r["b"] in next(im["src"] for im in data["images"] if im["stem"] == r["image"])
    per_image = [r for r in rows if r["b"] == "noisy[sigma=0.1]"]
    assert {r["image"] for r in per_image} == set(originals)


def test_plot_points_sit_on_their_markers(viewer_report: Path):
    """Each plot link is placed (from the matplotlib transform) where the PNG has a drawn marker, not on
    the white background, and links only settings the viewer has."""
    html = (viewer_report / "report.html").read_text()
    keys = {s["key"] for s in viewer_data(html)["sources"]}
    plots = re.findall(r"<div class='plot'><img src='([^']+)'[^>]*>(.*?)</div>", html)
    assert {src for src, _ in plots} == {"rate_distortion.png", "distortion_realism.png"}
    for src, links in plots:
        points = re.findall(r'data-key="([^"]+)" style="left:([\d.]+)%;top:([\d.]+)%"', links)
        linked = {unescape(k) for k, _, _ in points}
        assert linked <= keys and set(SETTINGS) <= linked, (src, linked)
        rgb = np.asarray(Image.open(viewer_report / src).convert("RGB")).astype(int)
        h, w = rgb.shape[:2]
        for key, left, top in points:
            x, y = round(float(left) * w / 100), round(float(top) * h / 100)
            patch = rgb[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2]
            assert (patch.sum(axis=2) < 600).any(), (src, key, x, y)  # a marker, not white background


def test_crops_and_none_keep_reports_small(eval_image_dir, eval_system_dir, tmp_path):
    out = tmp_path / "report"
    kw = dict(decoders=["mse"], metrics="psnr", out_dir=out, qualities=(50,), progress=False, reencode=False)
    compare(eval_image_dir, eval_system_dir, **kw)
    assert (out / "viewer").is_dir()
    res = compare(eval_image_dir, eval_system_dir, viewer_images="crops", **kw)
    assert not (out / "viewer").exists() and not res.views  # the earlier run's whole images are gone
    data = viewer_data((out / "report.html").read_text())
    assert data["crops"] and all(s.startswith("crops/") for im in data["images"] for s in im["src"].values())
    assert all((out / s).is_file() for im in data["images"] for s in im["src"].values())
    compare(eval_image_dir, eval_system_dir, viewer_images="none", **kw)
    html = (out / "report.html").read_text()
    assert 'id="viewer"' not in html and "class='crops'" in html and not (out / "viewer").exists()


def test_bad_viewer_images_value(eval_image_dir, eval_system_dir, tmp_path):
    with pytest.raises(RdpflexError, match="viewer images must be one of full, crops, none, got 'big'"):
        compare(eval_image_dir, eval_system_dir, decoders=["mse"], out_dir=tmp_path / "r", viewer_images="big")
    assert not (tmp_path / "r").exists()


def test_cli_choices_are_the_library_s():
    option = next(p for p in compare_command.params if p.name == "viewer_images")
    assert tuple(option.type.choices) == VIEWER_IMAGES


def test_cli_bad_viewer_images(eval_image_dir, eval_system_dir, tmp_path, capsys):
    from rdpflex.cli import main

    out = tmp_path / "r"
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(eval_image_dir), "-o", str(out), "--system", str(eval_system_dir), "--viewer-images", "x"])
    assert exc.value.code == 2 and not out.exists()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--viewer-images" in last and "'x' is not one of 'full', 'crops', 'none'" in last, last
