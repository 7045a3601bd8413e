"""The demo's crop grid: which settings are shown, and a real labelled PNG."""

from __future__ import annotations

import numpy as np
from PIL import Image

from rdpflex.evaluation.figure import crop_grid, pick_settings
from rdpflex.evaluation.result import CropKey


def test_pick_settings_keeps_each_chains_ends_and_the_baselines():
    keys = [
        "original",
        "mse[default]",
        "multirealism[beta=0]",
        "multirealism[beta=0.64]",
        "multirealism[beta=2.56]",
        "cdiff[steps=4]",
        "jpeg[quality=10]",
        "webp[quality=5]",
    ]
    assert pick_settings(keys) == [
        "original",
        "mse[default]",
        "multirealism[beta=0]",
        "multirealism[beta=2.56]",
        "cdiff[steps=4]",
        "jpeg[quality=10]",
        "webp[quality=5]",
    ]


def test_crop_grid_writes_one_labelled_sheet(tmp_path):
    rng = np.random.default_rng(0)
    keys = (CropKey.original("a"), CropKey("decoder", "a", "mse", "default"), CropKey.baseline("jpeg", 5, "a"))
    crops = {k: rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for k in keys}
    crops[CropKey.original("b")] = np.zeros((32, 32, 3), np.uint8)
    path = crop_grid(crops, "a", tmp_path / "grid.png", {"mse[default]": 30.0}, columns=2)
    with Image.open(path) as img:
        assert img.size == (2 * 36, 2 * (32 + 18 + 4))
        sheet = np.asarray(img)
    assert (sheet[18:50, 0:32] == crops[CropKey.original("a")]).all()  # pasted below its label
    assert crop_grid(crops, "nope", tmp_path / "none.png") is None
