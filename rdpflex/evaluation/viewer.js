/* rdpflex report viewer: any two images of one photograph, side by side with synchronised pan and zoom, or one
   over the other with a swipe. Inlined into report.html by rdpflex.evaluation.viewer; data in
   <script id="rdp-viewer-data">; links "#view&image=STEM&a=KEY&b=KEY". No dependencies, works from file://. */
(function () {
  "use strict";
  var root = document.getElementById("viewer");
  var data = JSON.parse(document.getElementById("rdp-viewer-data").textContent);
  if (!root || !data.images.length) return;
  var $ = function (id) { return document.getElementById(id); };
  var ZOOMS = [0.25, 0.5, 1, 2, 4, 8, 16];
  var sources = {};
  data.sources.forEach(function (s) { sources[s.key] = s; });
  var state = { image: 0, a: "original", b: null, mode: "side", zoom: "fit", cx: 0, cy: 0, swipe: 50 };
  var stage = $("v-stage"), paneA = $("v-pane-a"), paneB = $("v-pane-b"), paneS = $("v-pane-s");
  var imgA = paneA.querySelector("img"), imgB = paneB.querySelector("img");
  var imgSA = paneS.querySelector(".v-under"), imgSB = paneS.querySelector(".v-over");
  var clip = paneS.querySelector(".v-clip"), divider = paneS.querySelector(".v-divider");

  function image() { return data.images[state.image]; }
  function has(key) { return Object.prototype.hasOwnProperty.call(image().src, key); }
  function keys() { return data.sources.map(function (s) { return s.key; }).filter(has); }

  /* the key to show on this image: itself, else the same family's (a baseline's closest quality differs
     between images), else the first decoder setting */
  function resolve(key, fallback) {
    if (key && has(key)) return key;
    var fam = key && sources[key] ? sources[key].family : null;
    var same = keys().filter(function (k) { return fam && sources[k].family === fam; });
    if (same.length) return same[0];
    var ks = keys();
    return fallback && has(fallback) ? fallback : ks[Math.min(1, ks.length - 1)];
  }

  function fillSelect(sel, values, titles, value) {
    sel.innerHTML = "";
    values.forEach(function (v, i) {
      var o = document.createElement("option");
      o.value = v; o.textContent = titles[i]; sel.appendChild(o);
    });
    sel.value = value;
  }
  function title(k) { return sources[k].title; }

  function dpr() { return window.devicePixelRatio || 1; }
  function visiblePanes() { return state.mode === "side" ? [paneA, paneB] : [paneS]; }

  /* CSS pixels per image pixel: "fit" fills the pane; 1:1 is one image pixel per device pixel */
  function scale() {
    var im = image(), p = visiblePanes()[0];
    if (state.zoom === "fit") return Math.min(p.clientWidth / im.width, p.clientHeight / im.height);
    return state.zoom / dpr();
  }

  function place(img, pane, s) {
    var im = image();
    img.style.width = im.width * s + "px";
    img.style.height = im.height * s + "px";
    var x = pane.clientWidth / 2 - state.cx * s, y = pane.clientHeight / 2 - state.cy * s;
    img.style.transform = "translate(" + x.toFixed(2) + "px," + y.toFixed(2) + "px)";
  }

  function clampCenter() {
    var im = image();
    state.cx = Math.max(0, Math.min(im.width, state.cx));
    state.cy = Math.max(0, Math.min(im.height, state.cy));
  }

  function layout() {
    var im = image();
    if (state.zoom === "fit") { state.cx = im.width / 2; state.cy = im.height / 2; }
    clampCenter();
    var s = scale();
    [paneA, paneB, paneS].forEach(function (p) { p.classList.toggle("pixelated", s * dpr() > 1.01); });
    if (state.mode === "side") { place(imgA, paneA, s); place(imgB, paneB, s); }
    else {
      place(imgSA, paneS, s); place(imgSB, paneS, s);
      var x = paneS.clientWidth * state.swipe / 100;
      clip.style.clipPath = "inset(0 0 0 " + x.toFixed(1) + "px)";
      divider.style.left = x.toFixed(1) + "px";
    }
    var z = state.zoom === "fit" ? "fit (" + Math.round(100 * s * dpr()) + "%)" : state.zoom + "x";
    $("v-scale").textContent = "zoom " + z + " · " + im.width + "x" + im.height + (data.crops ? " center crop" : "");
    root.querySelectorAll("#v-zoom button").forEach(function (b) {
      b.classList.toggle("on", String(state.zoom) === b.dataset.zoom);
    });
  }

  function fmt(name, v) {
    if (v === undefined || v === null) return "–";
    return name === "bpp" ? v.toFixed(4) : Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 10 ? v.toFixed(2)
      : v.toFixed(4);
  }

  function metricsTable() {
    var vals = image().values, va = vals[state.a] || {}, vb = vals[state.b] || {};
    var rows = ["<tr><th class='l'>" + "metric (vs the original)</th><th>A: " + esc(sources[state.a].title) +
      "</th><th>B: " + esc(sources[state.b].title) + "</th></tr>"];
    data.metrics.forEach(function (m) {
      var a = va[m.name], b = vb[m.name];
      if (a === undefined && b === undefined) return;
      var better = a !== undefined && b !== undefined && a !== b ? ((a > b) === m.higher ? "a" : "b") : "";
      rows.push("<tr><td class='l'>" + esc(m.label) + (m.higher ? " ↑" : " ↓") + "</td><td" +
        (better === "a" ? " class='better'" : "") + ">" + fmt(m.name, a) + "</td><td" +
        (better === "b" ? " class='better'" : "") + ">" + fmt(m.name, b) + "</td></tr>");
    });
    $("v-metrics").innerHTML = rows.join("");
  }

  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }

  function render() {
    var im = image();
    state.a = resolve(state.a, "original");
    state.b = resolve(state.b, null);
    fillSelect($("v-image"), data.images.map(function (_, i) { return String(i); }),
      data.images.map(function (m) { return m.stem; }), String(state.image));
    fillSelect($("v-a"), keys(), keys().map(title), state.a);
    fillSelect($("v-b"), keys(), keys().map(title), state.b);
    imgA.src = imgSA.src = im.src[state.a];
    imgB.src = imgSB.src = im.src[state.b];
    paneA.querySelector(".v-tag").textContent = "A: " + sources[state.a].title;
    paneB.querySelector(".v-tag").textContent = "B: " + sources[state.b].title;
    paneS.querySelector(".v-tag-a").textContent = "A: " + sources[state.a].title;
    paneS.querySelector(".v-tag-b").textContent = "B: " + sources[state.b].title;
    stage.className = "v-stage " + state.mode;
    root.querySelectorAll("#v-mode button").forEach(function (b) {
      b.classList.toggle("on", b.dataset.mode === state.mode);
    });
    $("v-swipe").value = state.swipe;
    metricsTable();
    highlight();
    layout();
  }

  /* the shown B setting's table rows and plot points */
  function highlight() {
    document.querySelectorAll("a.pt").forEach(function (a) { a.classList.toggle("on", a.dataset.key === state.b); });
  }

  function setZoom(z, anchor) {
    var s0 = scale();
    if (anchor && z !== "fit" && state.zoom !== "fit") {
      var s1 = z / dpr();  /* keep the image point under the cursor where it is */
      state.cx = anchor.ix - (anchor.ix - state.cx) * s0 / s1;
      state.cy = anchor.iy - (anchor.iy - state.cy) * s0 / s1;
    }
    state.zoom = z;
    layout();
  }

  function zoomStep(dir, anchor) {
    var cur = state.zoom === "fit" ? scale() * dpr() : state.zoom;
    var next = dir > 0 ? ZOOMS.filter(function (z) { return z > cur * 1.001; })[0]
      : ZOOMS.filter(function (z) { return z < cur / 1.001; }).pop();
    if (next === undefined) return;
    if (state.zoom === "fit") state.zoom = cur;  /* start from where fit was */
    setZoom(next, anchor);
  }

  function stepChain(side, dir) {
    var key = state[side], fam = sources[key].family, chain = (data.chains[fam] || []).filter(has);
    if (chain.length < 2) return;
    var i = chain.indexOf(key);
    state[side] = chain[Math.max(0, Math.min(chain.length - 1, i + dir))];
    render();
  }

  function flip() {
    if (state.mode === "swipe") { state.swipe = state.swipe > 50 ? 0 : 100; render(); return; }
    swap();
  }

  function swap() { var t = state.a; state.a = state.b; state.b = t; render(); }

  /* "#view&image=STEM&a=KEY&b=KEY": open that pair and bring the viewer into sight */
  function fromHash() {
    var h = location.hash;
    if (h.indexOf("#view") !== 0) return;
    var q = new URLSearchParams(h.slice(1));
    if (q.get("image") !== null) {
      var i = data.images.findIndex(function (im) { return im.stem === q.get("image"); });
      if (i >= 0) state.image = i;
    }
    if (q.get("a")) state.a = q.get("a");
    if (q.get("b")) state.b = q.get("b");
    render();
    root.scrollIntoView({ block: "start" });
    root.focus({ preventScroll: true });
  }

  /* ---- events ---- */
  $("v-image").addEventListener("change", function () { state.image = +this.value; state.zoom = "fit"; render(); });
  $("v-a").addEventListener("change", function () { state.a = this.value; render(); });
  $("v-b").addEventListener("change", function () { state.b = this.value; render(); });
  root.querySelectorAll("#v-mode button").forEach(function (b) {
    b.addEventListener("click", function () { state.mode = b.dataset.mode; render(); });
  });
  root.querySelectorAll("#v-zoom button").forEach(function (b) {
    b.addEventListener("click", function () { setZoom(b.dataset.zoom === "fit" ? "fit" : +b.dataset.zoom); });
  });
  $("v-swipe").addEventListener("input", function () { state.swipe = +this.value; layout(); });

  var drag = null;
  function onDown(ev) {
    var pane = ev.currentTarget;
    var onDivider = ev.target === divider;
    drag = { pane: pane, x: ev.clientX, y: ev.clientY, cx: state.cx, cy: state.cy, divider: onDivider };
    if (!onDivider && state.zoom === "fit") { state.zoom = scale() * dpr(); }
    pane.classList.add("dragging");
    pane.setPointerCapture(ev.pointerId);
    ev.preventDefault();
  }
  function onMove(ev) {
    if (!drag) return;
    if (drag.divider) {
      var r = paneS.getBoundingClientRect();
      state.swipe = Math.max(0, Math.min(100, 100 * (ev.clientX - r.left) / r.width));
      $("v-swipe").value = state.swipe;
    } else {
      var s = scale();
      state.cx = drag.cx - (ev.clientX - drag.x) / s;
      state.cy = drag.cy - (ev.clientY - drag.y) / s;
    }
    layout();
  }
  function onUp() { if (drag) { drag.pane.classList.remove("dragging"); drag = null; } }
  function onWheel(ev) {
    ev.preventDefault();
    var r = ev.currentTarget.getBoundingClientRect(), s = scale();
    if (state.zoom === "fit") state.zoom = s * dpr();
    var anchor = {
      ix: state.cx + (ev.clientX - r.left - r.width / 2) / s,
      iy: state.cy + (ev.clientY - r.top - r.height / 2) / s,
    };
    zoomStep(ev.deltaY < 0 ? 1 : -1, anchor);
  }
  [paneA, paneB, paneS].forEach(function (p) {
    p.addEventListener("pointerdown", onDown);
    p.addEventListener("pointermove", onMove);
    p.addEventListener("pointerup", onUp);
    p.addEventListener("pointercancel", onUp);
    p.addEventListener("wheel", onWheel, { passive: false });
  });

  var KEYS = {
    "f": flip, " ": flip, "x": swap,
    "]": function () { stepChain("b", 1); }, "[": function () { stepChain("b", -1); },
    "}": function () { stepChain("a", 1); }, "{": function () { stepChain("a", -1); },
    "n": function () { state.image = (state.image + 1) % data.images.length; render(); },
    "p": function () { state.image = (state.image + data.images.length - 1) % data.images.length; render(); },
    "s": function () { state.mode = state.mode === "side" ? "swipe" : "side"; render(); },
    "0": function () { setZoom("fit"); }, "1": function () { setZoom(1); },
    "2": function () { setZoom(2); }, "4": function () { setZoom(4); },
    "+": function () { zoomStep(1); }, "=": function () { zoomStep(1); }, "-": function () { zoomStep(-1); },
  };
  var PAN = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target, tag = t && t.tagName;
    if (tag === "INPUT" && t.type !== "range" || tag === "TEXTAREA") return;
    var r = root.getBoundingClientRect();
    if (r.bottom < 0 || r.top > window.innerHeight) return;  /* the viewer is off screen: keys are the page's */
    if (tag === "SELECT" && PAN[ev.key]) return;
    if (KEYS[ev.key]) { KEYS[ev.key](); ev.preventDefault(); return; }
    if (PAN[ev.key] && tag !== "INPUT") {
      if (state.zoom === "fit") state.zoom = scale() * dpr();
      var step = 60 / scale();
      state.cx += PAN[ev.key][0] * step; state.cy += PAN[ev.key][1] * step;
      layout(); ev.preventDefault();
    }
  });
  window.addEventListener("resize", layout);
  window.addEventListener("hashchange", fromHash);
  document.querySelectorAll("a.view, a.pt").forEach(function (a) {
    a.addEventListener("click", function () { if (a.getAttribute("href") === location.hash) fromHash(); });
  });

  state.b = data.chains[Object.keys(data.chains)[0]] ? data.chains[Object.keys(data.chains)[0]][0] : null;
  render();
  fromHash();
  /* the test hook: the state, read-only */
  root.rdpViewerState = function () { return JSON.parse(JSON.stringify(state)); };
})();
