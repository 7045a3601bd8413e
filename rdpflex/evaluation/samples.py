"""The demo's images: sample photographs from :mod:`rdpflex.samples` (no download), exported as PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from rdpflex.samples import HELDOUT, NAMES, sample_array

#: every sample name (re-exported for the demo command)
SAMPLE_NAMES = NAMES

#: the demo's default choice: the held-out photographs (no bundled model is trained on them)
DEMO_SAMPLES = HELDOUT
DEMO_MAX_SIDE = 512
#: JPEG/WebP qualities of the demo's reference curves (fewer than compare's default, to stay quick)
DEMO_QUALITIES = (5, 10, 20, 35, 50, 75, 95)
#: the demo's decoder grid: every family, one chain along its main knob, sized to keep `make demo` near
#: two minutes on 2 CPU cores (the families' own `sweep`s, used by `rdpflex compare`, are wider)
DEMO_DECODERS = ("mse", "multirealism:beta=0,0.64,1.28,2.56", "cdiff:steps=1,2,4", "idempotence:zeta=0,5,20")


def demo_decoders(system: Any, installed: dict[str, type]) -> tuple[list[Any], list[str]]:
    """(decoder specs for the demo, notes): ``mse`` and every decoder trained in the system that an installed
    plugin provides; the built-in families along :data:`DEMO_DECODERS`, any other at its own ``sweep``."""
    from rdpflex.evaluation.specs import DecoderSpec, parse_decoder_spec, sweep_of

    grid = {spec.split(":", 1)[0]: spec for spec in DEMO_DECODERS}
    specs: list[Any] = []
    notes = []
    for name in ["mse"] + [n for n in system.trained_decoders() if n != "mse"]:
        if name not in installed:
            notes.append(
                f"demo: decoder {name!r} is trained in the system but no installed plugin provides it: skipped"
            )
        elif name in grid:
            specs.append(parse_decoder_spec(grid[name]))
        else:
            specs.append(DecoderSpec(name, tuple((k, tuple(v)) for k, v in sweep_of(installed[name]).items())))
    return specs, notes


def fit(img: Image.Image, max_side: int) -> Image.Image:
    """Downscale (Lanczos) so that the longer side is at most ``max_side``; never upscales."""
    w, h = img.size
    scale = max_side / max(w, h)
    if scale >= 1:
        return img
    return img.resize((max(8, round(w * scale)), max(8, round(h * scale))), Image.Resampling.LANCZOS)


def export_samples(
    folder: str | Path, names: tuple[str, ...] | list[str] = DEMO_SAMPLES, max_side: int = DEMO_MAX_SIDE
) -> list[Path]:
    """Write ``folder/<name>.png`` for each sample (longer side <= ``max_side``); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        img = fit(Image.fromarray(sample_array(name), "RGB"), max_side)
        path = folder / f"{name}.png"
        img.save(path, format="PNG")
        paths.append(path)
    return paths
