"""The report's viewer in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright,
on a report written by ``rdpflex compare``. Skipped, with the reason, where either is missing;
``make test-browser`` installs both and runs these. Screenshots go to ``test-artifacts/viewer/``
(or ``$RDPFLEX_TEST_ARTIFACTS/viewer/``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.evaluation.conftest import ROOT

pytestmark = pytest.mark.browser

#: headless flags for running as root in a container, with nothing reaching out to the network
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    """``$RDPFLEX_CHROMIUM`` (where it is a file), else ``chromium`` on the PATH."""
    if "RDPFLEX_CHROMIUM" in os.environ:
        return os.environ["RDPFLEX_CHROMIUM"] if os.path.isfile(os.environ["RDPFLEX_CHROMIUM"]) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="no Playwright")
    exe = chromium_path()
    if exe is None:
        pytest.skip("no Chromium (Debian's chromium)")
    with sync_api.sync_playwright() as p:
        profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user data dir
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=exe, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    out = Path(os.environ.get("RDPFLEX_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "viewer"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture
def report(browser, request) -> Path:
    """The tiny report, made only once a browser is there (a session fixture asked for by name: pytest would
    otherwise make it before the module's ``browser`` decides to skip)."""
    return request.getfixturevalue("viewer_report")


@pytest.fixture
def page(browser, report):
    """The report, opened from ``file://``; fails the test on any console error or uncaught exception."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto((report / "report.html").as_uri())
    page.locator("#viewer").scroll_into_view_if_needed()
    yield page
    assert not problems, problems
    page.close()


def shown(page, pane: str) -> dict:
    """Which file a pane shows, its natural size, and where the image sits in its pane (CSS pixels)."""
    return page.evaluate(
        """(id) => { const pane = document.getElementById(id), img = pane.querySelector('img');
             const p = pane.getBoundingClientRect(), r = img.getBoundingClientRect();
             return {src: img.getAttribute('src'), natural: [img.naturalWidth, img.naturalHeight],
                     left: r.left - p.left, top: r.top - p.top, width: r.width, height: r.height,
                     complete: img.complete, pixelated: getComputedStyle(img).imageRendering}; }""",
        pane,
    )


def test_two_settings_zoom_together(page, artifacts):
    data = page.evaluate("JSON.parse(document.getElementById('rdp-viewer-data').textContent)")
    first = data["images"][0]
    page.select_option("#v-a", "noisy[sigma=0]")
    page.select_option("#v-b", "noisy[sigma=0.3]")
    page.wait_for_function("[...document.querySelectorAll('.v-pane img')].every(i => i.complete)")
    a, b = shown(page, "v-pane-a"), shown(page, "v-pane-b")
    assert a["src"] == first["src"]["noisy[sigma=0]"] and b["src"] == first["src"]["noisy[sigma=0.3]"]
    assert a["natural"] == b["natural"] == [first["width"], first["height"]]  # the whole image, loaded
    assert "noisy sigma=0.3" in page.inner_text("#v-metrics")

    page.click("#v-zoom button[data-zoom='2']")
    a, b = shown(page, "v-pane-a"), shown(page, "v-pane-b")
    assert a["width"] == pytest.approx(2 * first["width"]) and a["pixelated"] == "pixelated"
    assert (a["left"], a["top"], a["width"]) == (b["left"], b["top"], b["width"])
    page.screenshot(path=str(artifacts / "side-by-side-2x.png"))

    # dragging the left image pans the right one with it
    box = page.locator("#v-pane-a").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 40, y - 25, steps=4)
    page.mouse.up()
    a2, b2 = shown(page, "v-pane-a"), shown(page, "v-pane-b")
    assert a2["left"] == pytest.approx(a["left"] - 40, abs=0.6) and a2["top"] == pytest.approx(a["top"] - 25, abs=0.6)
    assert (a2["left"], a2["top"]) == (b2["left"], b2["top"])

    # the wheel over the right image zooms both
    box = page.locator("#v-pane-b").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -100)
    page.wait_for_function(
        "(w) => document.querySelector('#v-pane-b img').getBoundingClientRect().width > 2.5 * w", arg=first["width"]
    )
    a3, b3 = shown(page, "v-pane-a"), shown(page, "v-pane-b")
    assert a3["width"] == b3["width"] == pytest.approx(4 * first["width"])
    assert (a3["left"], a3["top"]) == (b3["left"], b3["top"])
    page.screenshot(path=str(artifacts / "side-by-side-4x-panned.png"))


def test_swipe_and_keys(page, artifacts):
    page.click("#v-mode button[data-mode='swipe']")
    assert page.locator("#v-pane-s").is_visible() and not page.locator("#v-pane-a").is_visible()
    box = page.locator("#v-pane-s").bounding_box()
    divider = page.locator("#v-pane-s .v-divider").bounding_box()
    page.mouse.move(divider["x"] + divider["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.25 * box["width"], box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    clip = page.evaluate("getComputedStyle(document.querySelector('#v-pane-s .v-clip')).clipPath")
    assert clip.startswith("inset(0px 0px 0px ") and float(clip.split()[3].removesuffix("px)")) == pytest.approx(
        0.25 * box["width"], abs=1.5
    )
    assert float(page.input_value("#v-swipe")) == pytest.approx(25, abs=0.5)
    page.screenshot(path=str(artifacts / "swipe.png"))

    page.keyboard.press("f")  # flip: the whole view to one side of the swipe
    assert float(page.input_value("#v-swipe")) in (0, 100)
    page.keyboard.press("s")  # back to side by side
    a, b = page.input_value("#v-a"), page.input_value("#v-b")
    page.keyboard.press("f")  # flip: A and B change sides
    assert (page.input_value("#v-a"), page.input_value("#v-b")) == (b, a)
    sources = page.evaluate("JSON.parse(document.getElementById('rdp-viewer-data').textContent).images[0].src")
    assert (shown(page, "v-pane-a")["src"], shown(page, "v-pane-b")["src"]) == (sources[b], sources[a])

    # "]" steps B along its chain; "[" back
    page.select_option("#v-b", "noisy[sigma=0]")
    page.locator("#viewer").focus()
    page.keyboard.press("]")
    assert page.input_value("#v-b") == "noisy[sigma=0.1]"
    page.keyboard.press("]")
    page.keyboard.press("]")  # the chain's end: stays
    assert page.input_value("#v-b") == "noisy[sigma=0.3]"
    assert shown(page, "v-pane-b")["src"].endswith("noisy__sigma=0.3.png")
    page.keyboard.press("[")
    assert page.input_value("#v-b") == "noisy[sigma=0.1]"
    page.keyboard.press("n")  # next image
    assert page.input_value("#v-image") == "1" and shown(page, "v-pane-b")["src"].startswith("viewer/001_")


def test_links_from_table_and_plot(page):
    page.locator("table a.view", has_text="sigma=0.1").first.click()
    assert (page.input_value("#v-a"), page.input_value("#v-b")) == ("original", "noisy[sigma=0.1]")
    assert page.evaluate("document.getElementById('viewer').getBoundingClientRect().top") == pytest.approx(0, abs=2)
    point = page.locator(".plot a.pt[data-key='noisy[sigma=0.3]']").first
    point.scroll_into_view_if_needed()
    point.click()
    assert page.input_value("#v-b") == "noisy[sigma=0.3]"
    assert "on" in (point.get_attribute("class") or "")
    jpeg = page.locator(".plot a.pt[data-key^='jpeg']").first
    jpeg.scroll_into_view_if_needed()
    jpeg.click()
    assert page.input_value("#v-b").startswith("jpeg[quality=")
