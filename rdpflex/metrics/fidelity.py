"""Set-level metrics through torch-fidelity: FID, KID, and the patched FID/256, KID/256 of HiFiC.

::

    originals ─┐                         ┌─ whole images ─────────────┐
               ├─ 8-bit (round half up) ─┤                             ├─ torch-fidelity (inception-v3-compat,
    recons ────┘                         └─ 256x256 patches (+shifted) ┘   local weights, no cache) ─► FID, KID

torch-fidelity's ``calculate_metrics`` is called on in-memory ``Dataset`` s yielding uint8 CHW
tensors, with ``input1`` = reconstructions and ``input2`` = originals (its generated/real order),
``feature_extractor_weights_path`` pointing at the local Inception file, ``cache=False`` (nothing is
written under ``$TORCH_HOME``), ``save_cpu_ram=True`` (no DataLoader worker processes) and
``kid_subset_size = min(1000, n)``. torch-fidelity resizes every input to 299x299 itself.

Patches (HiFiC, Mentzer et al. 2020; NeuralCompression's ``update_patch_fid``): every image is cut
into non-overlapping ``size x size`` patches, row-major, incomplete border patches dropped; when both
sides are >= ``size + size // 2`` (384 for 256), the image shifted by ``size // 2`` (``x[..., 128:, 128:]``)
is cut the same way and its patches appended. Originals and reconstructions are cut identically.

References:
    F. Mentzer, G. Toderici, M. Tschannen, E. Agustsson, "High-Fidelity Generative Image Compression"
    (HiFiC), NeurIPS 2020, arXiv:2006.09965, Sec. 4 and Appendix A.7 (FID/256 on patches).
    M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter, "GANs Trained by a Two Time-Scale
    Update Rule Converge to a Local Nash Equilibrium" (FID), NeurIPS 2017, arXiv:1706.08500.
    M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton, "Demystifying MMD GANs" (KID), ICLR 2018,
    arXiv:1801.01401.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.utils.data import Dataset

from rdpflex.errors import RdpflexError
from rdpflex.metrics.base import Kind, MetricValue
from rdpflex.metrics.image import quantize
from rdpflex.metrics.weights import INCEPTION, check_loadable

#: dimension of the Inception pool features FID uses; fewer samples give a rank-deficient covariance
FID_FEATURE_DIM = 2048
KID_SUBSET_SIZE = 1000
PATCH_SIZE = 256


# ---------------------------------------------------------------------------------------------- patches


def patch_offsets(height: int, width: int, size: int = PATCH_SIZE) -> list[tuple[int, int]]:
    """(top, left) of every patch :func:`extract_patches` takes from an ``height x width`` image, in order."""
    if size <= 0:
        raise ValueError(f"patch size must be positive, got {size}")
    out = [(r * size, c * size) for r in range(height // size) for c in range(width // size)]
    shift = size // 2
    if height >= size + shift and width >= size + shift:
        hs, ws = height - shift, width - shift
        out += [(shift + r * size, shift + c * size) for r in range(hs // size) for c in range(ws // size)]
    return out


def patch_count(height: int, width: int, size: int = PATCH_SIZE) -> int:
    """Number of patches :func:`extract_patches` gives for one ``height x width`` image."""
    return len(patch_offsets(height, width, size))


def extract_patches(img: Tensor, size: int = PATCH_SIZE) -> Tensor:
    """Patches ``(N, C, size, size)`` of one image ``(1, C, H, W)`` or ``(C, H, W)``, as for FID/256.

    Non-overlapping ``size x size`` patches in row-major order, incomplete border patches dropped;
    if both sides are >= ``size + size // 2``, followed by those of ``img[..., size//2:, size//2:]``.
    ``N`` may be 0 (image smaller than ``size``). Same dtype and device as ``img``.
    """
    if img.dim() == 4:
        if img.shape[0] != 1:
            raise ValueError(f"extract_patches takes one image, got a batch of {img.shape[0]}")
        img = img[0]
    if img.dim() != 3:
        raise ValueError(f"expected (1, C, H, W) or (C, H, W), got {tuple(img.shape)}")
    offsets = patch_offsets(img.shape[-2], img.shape[-1], size)
    if not offsets:
        return img.new_empty((0, img.shape[0], size, size))
    return torch.stack([img[:, top : top + size, left : left + size] for top, left in offsets])


class ImageListDataset(Dataset):
    """uint8 CHW tensors, one per image (what torch-fidelity's feature extractors take)."""

    def __init__(self, images: Sequence[Tensor]):
        self.images = list(images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tensor:
        return self.images[i]


class PatchDataset(Dataset):
    """The patches of :func:`extract_patches` over a list of uint8 CHW images, cut lazily."""

    def __init__(self, images: Sequence[Tensor], size: int = PATCH_SIZE):
        self.images, self.size = list(images), size
        self.index = [
            (i, top, left)
            for i, im in enumerate(self.images)
            for top, left in patch_offsets(int(im.shape[-2]), int(im.shape[-1]), size)
        ]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, j: int) -> Tensor:
        i, top, left = self.index[j]
        return self.images[i][:, top : top + self.size, left : left + self.size].contiguous()


# ---------------------------------------------------------------------------------------------- scores


def _u8_chw(t: Tensor, what: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"{what} must have shape (1, 3, H, W) or (3, H, W), got {tuple(t.shape)}")
    return quantize(t).cpu().contiguous()


def prepare_sets(originals: Sequence[Tensor], recons: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Both lists as uint8 CHW CPU tensors, after checking ``recons[i]`` has the size of ``originals[i]``."""
    if len(originals) != len(recons):
        raise ValueError(f"{len(originals)} originals but {len(recons)} reconstructions")
    a = [_u8_chw(t, f"original {i}") for i, t in enumerate(originals)]
    b = [_u8_chw(t, f"reconstruction {i}") for i, t in enumerate(recons)]
    for i, (x, y) in enumerate(zip(a, b)):
        if x.shape != y.shape:
            raise ValueError(f"reconstruction {i} is {tuple(y.shape)} but its original is {tuple(x.shape)}")
    return a, b


def _state_dict_error(exc: Exception, path: Any) -> RdpflexError | None:
    msg = str(exc)
    if "state_dict" in msg or "size mismatch" in msg:
        first = msg.strip().splitlines()[0]
        return RdpflexError(f"{path} does not fit torch-fidelity's Inception-v3: {first}")
    return None


def fidelity_scores(
    originals: Sequence[Tensor],
    recons: Sequence[Tensor],
    *,
    fid: bool = True,
    kid: bool = True,
    patch_size: int | None = None,
    weights: str | os.PathLike | None = None,
    cuda: bool | None = None,
    batch_size: int | None = None,
) -> dict[str, float]:
    """FID and/or KID between reconstructions and originals, on whole images or on patches.

    Keys (``p`` = ``""`` for whole images, ``"256"`` for ``patch_size=256``): ``fid{p}``, ``kid{p}``,
    ``kid{p}_std`` and the sample count ``fid{p}_patches`` / ``fid_images`` (likewise ``kid...``).
    Values carry notes (:class:`MetricValue`); NaN with a note when fewer than 2 samples.
    """
    import torch_fidelity

    path = INCEPTION.resolve(weights)  # WeightsMissingError before any work
    a, b = prepare_sets(originals, recons)
    p = "" if patch_size is None else str(patch_size)
    unit = "images" if patch_size is None else f"{patch_size}x{patch_size} patches"
    count_key = "images" if patch_size is None else "patches"
    ds_a: ImageListDataset | PatchDataset
    ds_b: ImageListDataset | PatchDataset
    if patch_size is None:
        ds_a, ds_b = ImageListDataset(a), ImageListDataset(b)
        same_size = len({tuple(t.shape) for t in a}) <= 1
    else:
        ds_a, ds_b = PatchDataset(a, patch_size), PatchDataset(b, patch_size)
        same_size = True
    n = len(ds_a)
    assert n == len(ds_b)
    notes: list[str] = []
    if patch_size is not None:
        small = sum(1 for t in a if min(t.shape[-2:]) < patch_size)
        if small:
            notes.append(f"{small} of {len(a)} images are smaller than {patch_size} px and give no patches")

    out: dict[str, float] = {}
    if n < 2:
        why = f"needs at least 2 {unit}, got {n}"
        if fid:
            out[f"fid{p}"] = MetricValue(float("nan"), f"FID{'/' + p if p else ''} {why}", *notes)
            out[f"fid{p}_{count_key}"] = n
        if kid:
            out[f"kid{p}"] = MetricValue(float("nan"), f"KID{'/' + p if p else ''} {why}", *notes)
            out[f"kid{p}_std"] = float("nan")
            out[f"kid{p}_{count_key}"] = n
        return out

    check_loadable(path, INCEPTION)  # weights_only=True first: torch-fidelity unpickles with weights_only=False
    use_cuda = torch.cuda.is_available() if cuda is None else bool(cuda)
    if batch_size is None:
        batch_size = 64 if use_cuda else 16
    if not same_size:
        batch_size = 1  # whole images of different sizes cannot be stacked into one batch
    kwargs: dict[str, Any] = dict(
        input1=ds_b,
        input2=ds_a,
        fid=fid,
        kid=kid,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(path),
        cuda=use_cuda,
        batch_size=batch_size,
        cache=False,
        save_cpu_ram=True,
        verbose=False,
    )
    if kid:
        kwargs["kid_subset_size"] = min(KID_SUBSET_SIZE, n)
    try:
        res = torch_fidelity.calculate_metrics(**kwargs)
    except RuntimeError as exc:
        err = _state_dict_error(exc, path)
        if err is None:
            raise
        raise err from None

    if fid:
        fid_notes = list(notes)
        if n < FID_FEATURE_DIM:
            fid_notes.append(
                f"FID from {n} {unit} (< {FID_FEATURE_DIM}, the Inception feature dimension): the covariance is "
                "rank-deficient, so the value is biased upward and comparable only at equal counts"
            )
        out[f"fid{p}"] = MetricValue(res[torch_fidelity.KEY_METRIC_FID], *fid_notes)
        out[f"fid{p}_{count_key}"] = n
    if kid:
        kid_notes = list(notes)
        if n < KID_SUBSET_SIZE:
            kid_notes.append(f"KID subset size {n} (< {KID_SUBSET_SIZE}) uses every sample, so kid_std is 0")
        out[f"kid{p}"] = MetricValue(res[torch_fidelity.KEY_METRIC_KID_MEAN], *kid_notes)
        out[f"kid{p}_std"] = float(res[torch_fidelity.KEY_METRIC_KID_STD])
        out[f"kid{p}_{count_key}"] = n
    return out


class FidelityMetric:
    """FID or KID (``stat``), on whole images or on ``patch_size`` patches, via :func:`fidelity_scores`."""

    kind: ClassVar[Kind] = "set"
    higher_is_better: ClassVar[bool] = False

    def __init__(
        self,
        stat: str,
        patch_size: int | None = None,
        *,
        weights: str | os.PathLike | None = None,
        cuda: bool | None = None,
        batch_size: int | None = None,
    ):
        if stat not in ("fid", "kid"):
            raise ValueError(f"stat must be 'fid' or 'kid', got {stat!r}")
        self.stat, self.patch_size = stat, patch_size
        #: Inception weight file; None: $RDPFLEX_INCEPTION_WEIGHTS, then $TORCH_HOME/hub/checkpoints
        self.weights, self.cuda, self.batch_size = weights, cuda, batch_size
        p = "" if patch_size is None else str(patch_size)
        self.name = f"{stat}{p}"
        self.title = stat.upper() + (f"/{p}" if p else "")
        what = "Frechet" if stat == "fid" else "Kernel"
        on = "whole images" if patch_size is None else f"{p}x{p} patches (+ shifted by {patch_size // 2} px)"
        self.description = f"{what} Inception Distance (torch-fidelity inception-v3-compat) on {on}"

    def __repr__(self) -> str:
        return f"FidelityMetric({self.stat!r}, patch_size={self.patch_size!r}, weights={self.weights!r})"

    @property
    def group(self) -> tuple:
        """Metrics with equal groups share one feature extraction in ``compute_set_metrics``."""
        return (self.patch_size, str(self.weights), self.cuda, self.batch_size)

    def weights_path(self) -> Path:
        return INCEPTION.resolve(self.weights)

    @property
    def stand_in(self) -> bool:
        return INCEPTION.resolves_to_stand_in(self.weights)

    def with_options(self, **changes: Any) -> "FidelityMetric":
        opts: dict[str, Any] = dict(weights=self.weights, cuda=self.cuda, batch_size=self.batch_size)
        opts.update({k: v for k, v in changes.items() if v is not None})
        return FidelityMetric(self.stat, self.patch_size, **opts)

    def select(self, scores: dict[str, float]) -> dict[str, float]:
        """This metric's keys out of a :func:`fidelity_scores` result."""
        return {k: v for k, v in scores.items() if k == self.name or k.startswith(self.name + "_")}

    def compute_set(self, originals: list[Tensor], recons: list[Tensor]) -> dict[str, float]:
        scores = fidelity_scores(
            originals,
            recons,
            fid=self.stat == "fid",
            kid=self.stat == "kid",
            patch_size=self.patch_size,
            weights=self.weights,
            cuda=self.cuda,
            batch_size=self.batch_size,
        )
        return self.select(scores)
