"""Training data: image folders, the built-in ``samples`` photographs, random crops, a held-out split.

::

    ImageRef list ─split_refs (sha1 of the name)─┬─► train refs ─► CropDataset[(index, seed)] ─► (3, crop, crop)
                                                 └─► val refs   ─► load_val_images ─► [(1, 3, H, W)]
    StreamSampler(seed, rank, world, start) ─► (index, seed) keys, a pure function of the global sample number

Determinism: sample number ``k`` of the run (counted over all processes) always gives the same image
and the same crop, whatever the number of DataLoader workers; a resumed run starts the stream at
``step x grad_accum`` batches. Nothing here touches torch's global RNG.

Unreadable files: at start-up every file's header is opened (cheap); a file that fails then or
later when decoded is skipped with a warning naming it (``data.unreadable: skip``, default; a failed
decode is replaced by the next image in the list) or stops the run with an :class:`ImageError`
(``unreadable: error``).
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from rdpflex import samples
from rdpflex.errors import ImageError, RdpflexError
from rdpflex.images import center_crop

if TYPE_CHECKING:
    from rdpflex.train.recipe_models import DataConfig

#: file suffixes read from image folders (case-insensitive)
TRAIN_SUFFIXES = (".png", ".jpg", ".jpeg")


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ImageRef:
    """One image: a file, or a ``samples`` photograph. ``name`` is stable (relative path or sample name)."""

    name: str
    path: str | None = None

    def open(self) -> Image.Image:
        """The decoded image in RGB (raises OSError/ValueError when it cannot be decoded)."""
        if self.path is None:
            return Image.fromarray(samples.sample_array(self.name), "RGB")
        with Image.open(self.path) as img:
            img.load()
            return img.convert("RGB")


def sample_refs(names: list[str] | tuple[str, ...] | None = None) -> list[ImageRef]:
    """The ``samples`` dataset: ``names`` from :mod:`rdpflex.samples` (default: its 8 colour photographs)."""
    names = samples.COLOUR if names is None else names
    unknown = [n for n in names if n not in samples.NAMES]
    if unknown:
        raise RdpflexError(f"unknown sample image {unknown[0]!r}; samples: {', '.join(samples.NAMES)}")
    return [ImageRef(n) for n in names]


def folder_refs(root: str | Path, unreadable: str = "skip") -> list[ImageRef]:
    """PNG/JPEG files below ``root`` (recursive, sorted by relative path); headers checked."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise RdpflexError(f"image folder {root} does not exist or is not a directory")
    refs = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in TRAIN_SUFFIXES and p.is_file()):
        try:
            with Image.open(path) as img:
                w, h = img.size
            if w < 1 or h < 1:
                raise ValueError("empty image")
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            _unreadable(path, exc, unreadable)
            continue
        refs.append(ImageRef(path.relative_to(root).as_posix(), str(path)))
    return refs


def _unreadable(path: str | Path, exc: BaseException, policy: str) -> None:
    reason = f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    if policy == "error":
        raise ImageError(f"{path}: not a readable image ({reason}); remove it or set data.unreadable: skip")
    warn(f"skipping unreadable image {path} ({reason})")


def _rank_key(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def split_refs(refs: list[ImageRef], val_fraction: float) -> tuple[list[ImageRef], list[ImageRef]]:
    """Deterministic split: the ``ceil(fraction x n)`` images with the smallest sha1(name) are held out."""
    if val_fraction <= 0 or not refs:
        return list(refs), []
    k = min(len(refs) - 1, max(1, math.ceil(val_fraction * len(refs))))
    held = {r.name for r in sorted(refs, key=lambda r: _rank_key(r.name))[:k]}
    return [r for r in refs if r.name not in held], [r for r in refs if r.name in held]


def holdout_refs(refs: list[ImageRef], names: list[str]) -> tuple[list[ImageRef], list[ImageRef]]:
    """(train, val): the images named in ``names`` are held out, in that order; every name must exist."""
    by_name = {r.name: r for r in refs}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise RdpflexError(
            f"data.holdout names {missing[0]!r}, which is not among the images; images: {', '.join(by_name)}"
        )
    held = set(names)
    return [r for r in refs if r.name not in held], [by_name[n] for n in names]


def build_refs(data: "DataConfig") -> tuple[list[ImageRef], list[ImageRef]]:
    """(train, val) images of a recipe's ``data`` section."""
    if data.dataset == "samples":
        refs = sample_refs(data.samples)
    else:
        assert data.path is not None  # DataConfig requires it with dataset 'folder'
        refs = folder_refs(data.path, data.unreadable)
    if data.val_path:
        train, val = refs, folder_refs(data.val_path, data.unreadable)
    elif data.holdout:
        train, val = holdout_refs(refs, data.holdout)
    else:
        train, val = split_refs(refs, data.val_fraction)
    if not train:
        where = "the samples" if data.dataset == "samples" else f"{data.path}"
        raise RdpflexError(f"no training images in {where} (PNG/JPEG files, searched recursively)")
    if data.val_max_images is not None:
        val = val[: data.val_max_images]
    return train, val


def crop_geometry(
    w: int, h: int, crop: int, rng: np.random.Generator, resize: tuple[int, int] | None = None
) -> tuple[int, int, int, int]:
    """(scaled width, scaled height, left, top) of a random crop of a ``w`` x ``h`` image.

    With ``resize=[lo, hi]`` the shorter side is scaled to a random integer in [lo, hi]; a shorter
    side below ``crop`` (after that) is upsampled to exactly ``crop``.
    """
    short = min(w, h)
    target = int(rng.integers(resize[0], resize[1] + 1)) if resize else short
    target = max(target, crop)
    if target == short:
        sw, sh = w, h
    else:
        scale = target / short
        sw, sh = (target, max(crop, round(h * scale))) if w == short else (max(crop, round(w * scale)), target)
    return sw, sh, int(rng.integers(0, sw - crop + 1)), int(rng.integers(0, sh - crop + 1))


def random_crop(
    img: Image.Image, crop: int, rng: np.random.Generator, resize: tuple[int, int] | None = None, hflip: bool = False
) -> Tensor:
    """A random ``crop`` x ``crop`` patch as (3, crop, crop) float in [0, 1] (see :func:`crop_geometry`).

    Only the cropped region is resampled (PIL ``resize(box=...)``, bicubic, antialiased).
    """
    w, h = img.size
    sw, sh, left, top = crop_geometry(w, h, crop, rng, resize)
    if (sw, sh) == (w, h):
        patch = img.crop((left, top, left + crop, top + crop))
    else:
        fx, fy = w / sw, h / sh
        box = (left * fx, top * fy, (left + crop) * fx, (top + crop) * fy)
        patch = img.resize((crop, crop), Image.Resampling.BICUBIC, box=box)
    arr = np.asarray(patch, dtype=np.uint8)
    if hflip and rng.random() < 0.5:
        arr = arr[:, ::-1]
    return torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).float().div_(255.0)


class CropDataset(Dataset):
    """Random crops; indexed by ``(image index, crop seed)`` keys from :class:`StreamSampler`."""

    def __init__(
        self,
        refs: list[ImageRef],
        crop: int,
        resize: tuple[int, int] | None = None,
        hflip: bool = True,
        unreadable: str = "skip",
        cache: bool = False,
    ) -> None:
        if not refs:
            raise RdpflexError("no training images")
        self.refs, self.crop, self.resize, self.hflip = list(refs), crop, resize, hflip
        self.unreadable, self.cache = unreadable, cache
        self._cache: dict[int, Image.Image] = {}
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.refs)

    def _open(self, i: int) -> Image.Image:
        if i in self._cache:
            return self._cache[i]
        img = self.refs[i].open()
        if self.cache or self.refs[i].path is None:
            self._cache[i] = img
        return img

    def __getitem__(self, key: tuple[int, int]) -> Tensor:
        index, seed = key
        for attempt in range(len(self.refs)):
            i = (index + attempt) % len(self.refs)
            if i in self._bad:
                continue
            try:
                img = self._open(i)
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                self._bad.add(i)
                _unreadable(self.refs[i].path or self.refs[i].name, exc, self.unreadable)
                continue
            return random_crop(img, self.crop, np.random.default_rng([seed, i]), self.resize, self.hflip)
        raise RdpflexError("every training image is unreadable")


class StreamSampler(Sampler):
    """An endless, resumable stream of ``(image index, crop seed)`` keys for one process.

    Global sample number ``k = (batch x world + rank) x batch_size + j``; its image is position
    ``k mod n`` of the permutation of epoch ``k // n`` (seeded by ``(seed, epoch)``), its crop seed
    ``(seed, k)`` hashed. Start at batch ``start_batch`` to resume.
    """

    def __init__(
        self, n: int, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1, start_batch: int = 0
    ) -> None:
        self.n, self.batch_size, self.seed, self.rank, self.world, self.start_batch = (
            n,
            batch_size,
            seed,
            rank,
            world,
            start_batch,
        )

    def _perm(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch, 0x5EED]).permutation(self.n)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, perm = -1, np.empty(0, dtype=np.int64)  # computed at the first key
        b = self.start_batch
        while True:
            for j in range(self.batch_size):
                k = (b * self.world + self.rank) * self.batch_size + j
                e, pos = divmod(k, self.n)
                if e != epoch:
                    epoch, perm = e, self._perm(e)
                crop_seed = int.from_bytes(
                    hashlib.blake2b(f"{self.seed}:{k}".encode(), digest_size=8).digest(), "little"
                )
                yield int(perm[pos]), crop_seed
            b += 1


def load_val_images(refs: list[ImageRef], val_crop: int | None, unreadable: str = "skip") -> list[tuple[str, Tensor]]:
    """Held-out images as ``(name, (1, 3, H, W) float in [0, 1])``, centre-cropped to ``val_crop``."""
    out = []
    for ref in refs:
        try:
            arr = center_crop(np.asarray(ref.open(), dtype=np.uint8), val_crop)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            _unreadable(ref.path or ref.name, exc, unreadable)
            continue
        out.append((ref.name, torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)))
    return out


__all__ = [
    "ImageRef",
    "sample_refs",
    "holdout_refs",
    "folder_refs",
    "split_refs",
    "build_refs",
    "crop_geometry",
    "random_crop",
    "CropDataset",
    "StreamSampler",
    "load_val_images",
]
