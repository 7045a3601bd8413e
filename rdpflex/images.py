"""Image I/O. PNG and JPEG (anything Pillow reads) in, 8-bit RGB PNG out.

Modes: grayscale (L, I;16, I, F; 16-bit scaled to 8), palette, CMYK and other colour spaces are
converted to RGB; an alpha channel (RGBA, LA, PA) is dropped — both with a one-line note on stderr,
never silently. Images smaller than
``MIN_SIDE`` on either side or larger than ``MAX_SIDE`` are refused with :class:`ImageError`.
"""

from __future__ import annotations

import math
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
        raise ImageError(
            f"{name} is {w}x{h}; rdpflex codes images from {MIN_SIDE}x{MIN_SIDE} to {MAX_SIDE}x{MAX_SIDE} pixels"
        )
    if h * w > max_pixels():
        raise ImageError(pixel_cap_message(name, h, w, max_pixels()))


def pil_to_tensor(img: Image.Image) -> Tensor:
    """An RGB PIL image -> (1, 3, H, W) float in [0, 1]."""
    return from_uint8(np.asarray(img, dtype=np.uint8))


def from_uint8(a: np.ndarray, device: torch.device | str | None = None) -> Tensor:
    """HxWx3 uint8 array -> (1, 3, H, W) float in [0, 1] (``k / 255``, the inverse of :func:`to_uint8`)."""
    return (
        torch.from_numpy(np.array(a, dtype=np.uint8, copy=True))
        .to(device)
        .permute(2, 0, 1)
        .unsqueeze(0)
        .float()
        .div_(255.0)
    )


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


def quantize(x: Tensor) -> Tensor:
    """Float image(s) in [0, 1] -> uint8 0..255, ``floor(255 x + 0.5)`` (round half up, as PNG writers do).

    The one 8-bit conversion of rdpflex: saved PNGs, metrics and PSNR all go through it. uint8 input is
    returned unchanged; any other dtype is a ValueError.
    """
    if x.dtype == torch.uint8:
        return x
    if not torch.is_floating_point(x):
        raise ValueError(f"expected a float image in [0, 1] or uint8, got dtype {x.dtype}")
    return x.detach().float().clamp(0, 1).mul(255.0).add(0.5).floor().to(torch.uint8)


def to_uint8(x: Tensor) -> np.ndarray:
    """(1|None, 3, H, W) float in [0, 1] -> HxWx3 uint8 array (:func:`quantize`)."""
    if x.dim() == 4:
        x = x[0]
    return quantize(x).permute(1, 2, 0).cpu().numpy()


def center_crop(img: np.ndarray, size: int | None) -> np.ndarray:
    """The central ``size x size`` (at most the image) of an HxWx3 array, contiguous; None: the whole image."""
    if size is None:
        return img
    h, w = img.shape[:2]
    ch, cw = min(size, h), min(size, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(img[top : top + ch, left : left + cw])


def psnr(x: Tensor | np.ndarray, x_hat: Tensor | np.ndarray) -> float:
    """PSNR in dB of two images on 8 bits: ``10 log10(255^2 / MSE)``, MSE (float64) over every pixel and channel.

    Float tensors in [0, 1] are quantised with :func:`quantize` (round half up); uint8 tensors or arrays
    are used as they are (both arguments in the same layout). Identical images give ``inf``.
    """
    a = quantize(_as_tensor(x)).double()
    b = quantize(_as_tensor(x_hat)).to(a.device).double()
    return psnr_from_mse(float((a - b).pow(2).mean()))


def _as_tensor(x: Tensor | np.ndarray) -> Tensor:
    """A tensor view of ``x``; a read-only array (a decoded PIL image, a sample) is copied, as torch needs."""
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        return torch.from_numpy(x.copy())
    return torch.as_tensor(x)


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    """``10 log10(peak^2 / mse)`` in dB (``inf`` for ``mse <= 0``); ``peak`` 1.0 for an MSE of images in [0, 1]."""
    return 10.0 * math.log10(peak**2 / mse) if mse > 0 else float("inf")


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
