"""Data pipeline: crops, the resize range, small images, unreadable files, samples, split, sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rdpflex import samples
from rdpflex.errors import ImageError, RdpflexError
from rdpflex.train.data import (
    CropDataset,
    ImageRef,
    StreamSampler,
    build_refs,
    crop_geometry,
    folder_refs,
    load_val_images,
    random_crop,
    sample_refs,
    split_refs,
)
from rdpflex.train.recipe import DataConfig


def _img(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("size", [(300, 200), (64, 64), (40, 90), (17, 23), (1000, 70)])
@pytest.mark.parametrize("resize", [None, (80, 120)])
def test_crops_have_the_crop_size(size, resize):
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = random_crop(_img(*size), 64, rng, resize, hflip=True)
        assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1


def test_resize_range_and_upsampling():
    rng = np.random.default_rng(0)
    shorts = []
    for _ in range(200):
        sw, sh, left, top = crop_geometry(600, 400, 64, rng, (100, 300))
        shorts.append(min(sw, sh))
        assert abs(sw / sh - 1.5) < 0.02 and 0 <= left <= sw - 64 and 0 <= top <= sh - 64
    assert min(shorts) >= 100 and max(shorts) <= 300 and len(set(shorts)) > 50
    # no resize: native size kept; smaller than the crop: upsampled to exactly the crop
    assert crop_geometry(600, 400, 64, rng)[:2] == (600, 400)
    assert crop_geometry(30, 50, 64, rng)[:2] == (64, 107)
    assert min(crop_geometry(600, 400, 256, rng, (100, 200))[:2]) == 256  # range below the crop: the crop wins


def test_crop_of_a_large_image_matches_resize_then_crop():
    img = _img(400, 300, 3)
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    x = random_crop(img, 32, rng_a, (150, 150))
    sw, sh, left, top = crop_geometry(400, 300, 32, rng_b, (150, 150))
    ref = np.asarray(img.resize((sw, sh), Image.BICUBIC).crop((left, top, left + 32, top + 32)), dtype=np.float32) / 255
    assert np.abs(x.permute(1, 2, 0).numpy() - ref).mean() < 0.05


def test_folder_is_recursive_and_skips_unreadable_files_by_name(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    _img(40, 30).save(tmp_path / "a.png")
    _img(40, 30).save(tmp_path / "sub" / "b.JPG")
    (tmp_path / "sub" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "notes.txt").write_text("not an image")
    refs = folder_refs(tmp_path)
    assert [r.name for r in refs] == ["a.png", "sub/b.JPG"]
    err = capsys.readouterr().err
    assert "warning: skipping unreadable image" in err and "broken.png" in err and "notes.txt" not in err
    with pytest.raises(ImageError, match=r"broken\.png: not a readable image"):
        folder_refs(tmp_path, unreadable="error")
    with pytest.raises(RdpflexError, match="does not exist"):
        folder_refs(tmp_path / "nope")


def test_unreadable_at_decode_time_is_skipped_with_its_name(tmp_path, capsys):
    _img(80, 80).save(tmp_path / "good.png")
    _img(80, 80).save(tmp_path / "late.png")
    refs = folder_refs(tmp_path)
    (tmp_path / "late.png").write_bytes((tmp_path / "late.png").read_bytes()[:60])  # truncated after the scan
    capsys.readouterr()
    ds = CropDataset(refs, 32)
    late = [i for i, r in enumerate(refs) if r.name == "late.png"][0]
    assert ds[(late, 0)].shape == (3, 32, 32)  # replaced by the next image
    assert "late.png" in capsys.readouterr().err
    with pytest.raises(ImageError, match="late.png"):
        CropDataset(refs, 32, unreadable="error")[(late, 0)]


def test_samples_dataset_and_split():
    refs = sample_refs()
    assert len(refs) == len(samples.COLOUR) == 8
    for r in refs:
        img = r.open()
        assert img.mode == "RGB" and min(img.size) >= 300
    train, val = split_refs(refs, 0.25)
    assert len(val) == 2 and len(train) == 6 and not {r.name for r in train} & {r.name for r in val}
    assert {r.name for r in split_refs(list(reversed(refs)), 0.25)[1]} == {r.name for r in val}  # by name, not order
    assert split_refs(refs, 0.0) == (refs, [])
    t2, v2 = build_refs(DataConfig(dataset="samples", val_fraction=0.25, val_max_images=1))
    assert len(v2) == 1 and v2[0] in val and len(t2) == 6
    images = load_val_images(val, 64)
    assert [x.shape for _, x in images] == [(1, 3, 64, 64)] * 2


def test_every_sample_loads_as_rgb_and_heldout_is_never_trained_on():
    for name in samples.NAMES:
        arr = samples.sample_array(name)
        assert arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8 and min(arr.shape[:2]) >= 300
    assert not set(samples.HELDOUT) & set(samples.TRAINING)
    assert set(samples.HELDOUT) | set(samples.TRAINING) == set(samples.NAMES)


def test_explicit_samples_and_holdout():
    cfg = DataConfig(dataset="samples", samples=list(samples.NAMES), holdout=list(samples.HELDOUT))
    train, val = build_refs(cfg)
    assert [r.name for r in val] == list(samples.HELDOUT)
    assert {r.name for r in train} == set(samples.TRAINING)
    with pytest.raises(RdpflexError, match="holdout names 'nope'.*images: astronaut"):
        build_refs(DataConfig(dataset="samples", holdout=["nope"]))
    with pytest.raises(ValueError, match="unknown sample 'nope'"):
        DataConfig(dataset="samples", samples=["nope"])
    with pytest.raises(ValueError, match="only used with dataset 'samples'"):
        DataConfig(dataset="folder", path="x", samples=["camera"])


def test_build_refs_with_a_separate_val_folder(tmp_path):
    for d in ("train", "val"):
        (tmp_path / d).mkdir()
        for i in range(3):
            _img(20, 20, i).save(tmp_path / d / f"{i}.png")
    train, val = build_refs(DataConfig(dataset="folder", path=str(tmp_path / "train"), val_path=str(tmp_path / "val")))
    assert len(train) == 3 and len(val) == 3 and all("val" in r.path for r in val)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RdpflexError, match="no training images"):
        build_refs(DataConfig(dataset="folder", path=str(tmp_path / "empty")))


def test_stream_sampler_is_deterministic_sharded_and_resumable():
    def take(s, n):
        it = iter(s)
        return [next(it) for _ in range(n)]

    full = take(StreamSampler(5, 2, seed=3), 40)
    assert take(StreamSampler(5, 2, seed=3), 40) == full
    assert take(StreamSampler(5, 2, seed=3, start_batch=7), 26) == full[14:]  # resume at batch 7
    # every epoch is a permutation of the images
    assert sorted(i for i, _ in full[:5]) == list(range(5)) and sorted(i for i, _ in full[5:10]) == list(range(5))
    # two processes: disjoint slices of the same global stream
    r0, r1 = take(StreamSampler(5, 2, 3, 0, 2), 10), take(StreamSampler(5, 2, 3, 1, 2), 10)
    merged = [x for b in range(5) for x in r0[2 * b : 2 * b + 2] + r1[2 * b : 2 * b + 2]]
    assert merged == full[:20]
    assert len({s for _, s in full}) == len(full)  # distinct crop seeds


def test_dataset_keys_give_identical_crops():
    ds = CropDataset([ImageRef("coffee")], 64, (200, 300))
    assert torch.equal(ds[(0, 123)], ds[(0, 123)]) and not torch.equal(ds[(0, 123)], ds[(0, 124)])
