"""Classical reference codecs: JPEG and WebP through Pillow, the baselines of ``compare`` and ``bench rd``
and the JPEG point of ``python -m rdpflex.train.evaluate``.

bpp comes from the encoded bytes (the whole JPEG/WebP file, headers included, as for ``.rdp``).
JPEG: Pillow's libjpeg, 4:2:0 chroma subsampling, standard tables; WebP: libwebp lossy, method 4.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

from rdpflex.errors import RdpflexError

BASELINE_CODECS = ("jpeg", "webp")
DEFAULT_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)


@dataclass
class BaselineResult:
    codec: str
    quality: int
    num_bytes: int
    image: np.ndarray  # HxWx3 uint8, decoded


def available_baselines() -> list[str]:
    """The baseline codecs this Pillow can write (WebP needs Pillow built with libwebp)."""
    return [c for c in BASELINE_CODECS if c != "webp" or features.check("webp")]


def encode_baseline(img: np.ndarray, codec: str, quality: int) -> BaselineResult:
    """Encode an HxWx3 uint8 image with Pillow and decode it back."""
    if codec not in BASELINE_CODECS:
        raise RdpflexError(f"unknown baseline codec {codec!r}; baselines: {', '.join(BASELINE_CODECS)}")
    if not 1 <= int(quality) <= 100:
        raise RdpflexError(f"baseline quality must lie in 1..100, got {quality}")
    buf = io.BytesIO()
    pil = Image.fromarray(np.ascontiguousarray(img), "RGB")
    if codec == "jpeg":
        pil.save(buf, format="JPEG", quality=int(quality), subsampling="4:2:0", optimize=False)
    else:
        pil.save(buf, format="WEBP", quality=int(quality), method=4)
    nbytes = buf.tell()
    buf.seek(0)
    with Image.open(buf) as dec:
        out = np.asarray(dec.convert("RGB"))
    return BaselineResult(codec, int(quality), nbytes, out)
