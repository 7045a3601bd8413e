"""The demo's images: colour photographs shipped inside scikit-image (no download), exported as PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rdpflex.errors import RdpflexError

#: RGB photographs in the scikit-image wheel (``stereo_motorcycle`` gives its left view)
SAMPLE_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "motorcycle", "hubble_deep_field", "retina")
#: the demo's default choice: four varied photographs, quick on a 2-core CPU
DEMO_SAMPLES = ("astronaut", "coffee", "chelsea", "rocket")
DEMO_MAX_SIDE = 512
#: JPEG/WebP qualities of the demo's reference curves (fewer than compare's default, to stay quick)
DEMO_QUALITIES = (5, 10, 20, 35, 50, 75, 95)


def sample_array(name: str) -> np.ndarray:
    """One sample photograph as HxWx3 uint8."""
    import skimage.data

    if name not in SAMPLE_NAMES:
        raise RdpflexError(f"unknown sample image {name!r}; samples: {', '.join(SAMPLE_NAMES)}")
    arr = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    return np.ascontiguousarray(np.asarray(arr)[..., :3]).astype(np.uint8)


def fit(img: Image.Image, max_side: int) -> Image.Image:
    """Downscale (Lanczos) so that the longer side is at most ``max_side``; never upscales."""
    w, h = img.size
    scale = max_side / max(w, h)
    if scale >= 1:
        return img
    return img.resize((max(8, round(w * scale)), max(8, round(h * scale))), Image.Resampling.LANCZOS)


def export_samples(folder: str | Path, names: tuple[str, ...] | list[str] = DEMO_SAMPLES, max_side: int = DEMO_MAX_SIDE) -> list[Path]:
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
