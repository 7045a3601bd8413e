"""Image I/O. PNG and JPEG (anything Pillow reads) in, 8-bit RGB PNG out.

Modes: grayscale (L, I;16, I, F; 16-bit scaled to 8), palette, CMYK and other colour spaces are
converted to RGB; an alpha channel (RGBA, LA, PA) is dropped — both with a one-line note on stderr, never silently. Images smaller than
``MIN_SIDE`` on either side or larger than ``MAX_SIDE`` are refused with :class:`ImageError`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from rdpflex.errors import ImageError
from rdpflex.limits import max_pixels, pixel_cap_message

MIN_SIDE = 8
MAX_SIDE = 1 << 15
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


def _note(msg: str) -> None:
    print(f"note: {msg}", file=sys.stderr)


def to_rgb(img: Image.Image, name: str = "image", quiet: bool = False) -> Image.Image:
    """Convert any Pillow mode to RGB, noting what was changed."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        if not quiet:
            _note(f"{name}: alpha channel dropped (rdpflex codes RGB)")
    elif img.mode in ("L", "1", "I", "I;16", "F") and not quiet:
        _note(f"{name}: grayscale converted to RGB")
    elif img.mode != "P" and not quiet:  # CMYK, YCbCr, LAB, HSV: Pillow's conversion, no colour management
        _note(f"{name}: {img.mode} converted to RGB")
    if img.mode in ("I", "I;16", "F"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / scale * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img.convert("RGB")


def check_size(h: int, w: int, name: str = "image") -> None:
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        raise ImageError(f"{name} is {w}x{h}; rdpflex codes images from {MIN_SIDE}x{MIN_SIDE} to {MAX_SIDE}x{MAX_SIDE} pixels")
    if h * w > max_pixels():
        raise ImageError(pixel_cap_message(name, h, w, max_pixels()))


def pil_to_tensor(img: Image.Image) -> Tensor:
    """RGB PIL image -> float tensor (1, 3, H, W) in [0, 1]."""
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def load_image(path: Path | str, quiet: bool = False) -> Tensor:
    """Read an image file as a float tensor (1, 3, H, W) in [0, 1]."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            check_size(img.height, img.width, path.name)  # from the header, before the pixels are decoded
            img.load()
            rgb = to_rgb(img, path.name, quiet)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Image.DecompressionBombError as exc:  # Pillow's own cap (Image.MAX_IMAGE_PIXELS)
        raise ImageError(f"{path}: refused by Pillow's decompression-bomb limit: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    return pil_to_tensor(rgb)


def to_uint8(x: Tensor) -> np.ndarray:
    """(1|None, 3, H, W) float in [0, 1] -> HxWx3 uint8 (round half up, as PNG writers do)."""
    if x.dim() == 4:
        x = x[0]
    return x.detach().float().clamp(0, 1).mul(255.0).add(0.5).floor().byte().permute(1, 2, 0).cpu().numpy()


def save_png(x: Tensor, path: Path | str) -> Path:
    """Write an image tensor as an 8-bit RGB PNG (atomically: temp file then rename; one-line ImageError on failure)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(to_uint8(x), "RGB").save(tmp, format="PNG")
        tmp.replace(path)
    except OSError as exc:  # disk full, read-only, permissions: the old file (if any) is untouched
        tmp.unlink(missing_ok=True)
        raise ImageError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def find_images(folder: Path | str) -> list[Path]:
    """Image files below ``folder`` (recursive, sorted)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder} is not a directory")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
