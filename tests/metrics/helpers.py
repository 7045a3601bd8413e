"""Small image helpers shared by the metric tests."""

from __future__ import annotations

import numpy as np
import torch


def u8_image(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth-ish random HxWx3 uint8 image."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack(
        [np.sin(7 * xx * rng.uniform(0.5, 2) + c) * np.cos(5 * yy * rng.uniform(0.5, 2) + c) for c in range(3)], -1
    )
    return ((img * 0.5 + 0.5) * 255 + rng.normal(0, 6, img.shape)).clip(0, 255).astype(np.uint8)


def distort(a: np.ndarray, seed: int, sigma: float = 8.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (a.astype(np.float64) + rng.normal(0, sigma, a.shape)).round().clip(0, 255).astype(np.uint8)


def to_tensor(a: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float in [0, 1] (exact multiples of 1/255)."""
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).float() / 255.0
