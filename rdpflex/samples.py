"""Sample photographs that ship inside installed wheels (no download): the demo's and quick recipes' data.

Two sets, kept apart so that held-out numbers never come from a training photograph:

* :data:`HELDOUT` — the demo's photographs (``rdpflex demo``, the bundled system's benchmarks). No
  bundled model is trained on them.
* :data:`TRAINING` — everything else: the other colour photographs of scikit-image, matplotlib's
  ``grace_hopper`` and scikit-image's grey-level photographs and textures (as three equal channels).

:data:`COLOUR` is the historic ``samples`` dataset (the eight colour photographs of scikit-image).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from rdpflex.errors import RdpflexError

#: RGB photographs in the scikit-image wheel (``stereo_motorcycle`` gives its left view)
COLOUR = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle",
    "retina",
    "rocket",
)
#: grey-level photographs and textures in the scikit-image wheel, read as RGB with equal channels
GREY = ("camera", "coins", "moon", "brick", "grass", "gravel")
#: colour photographs in other wheels rdpflex depends on
OTHER = ("grace_hopper",)
#: every name :func:`sample_array` knows
NAMES = COLOUR + GREY + OTHER
#: the demo's photographs; no bundled model is trained on them
HELDOUT = ("astronaut", "coffee", "chelsea")
#: the bundled system's training photographs (every sample that is not held out)
TRAINING = tuple(n for n in NAMES if n not in HELDOUT)


@cache
def sample_array(name: str) -> np.ndarray:
    """One sample photograph as a read-only HxWx3 uint8 array."""
    if name not in NAMES:
        raise RdpflexError(f"unknown sample image {name!r}; samples: {', '.join(NAMES)}")
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f, Image.open(f) as img:  # type: ignore[union-attr]
            arr = np.asarray(img.convert("RGB"))
    else:
        import skimage.data

        arr = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
    arr = np.ascontiguousarray(arr[..., :3]).astype(np.uint8)
    arr.flags.writeable = False
    return arr
