"""Per-image metrics: PSNR, MS-SSIM, LPIPS.

Every metric first quantises both images to 8 bits (``floor(255 x + 0.5)``, round half up, as PNG
writers do: :func:`rdpflex.images.quantize`, the one 8-bit conversion): what the field reports is measured on the saved
8-bit images, and doing it here makes in-memory and on-disk evaluation agree.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from rdpflex.errors import RdpflexError
from rdpflex.images import psnr, quantize
from rdpflex.metrics.base import Kind, MetricValue, skipped
from rdpflex.metrics.weights import ALEXNET, file_key, load_state_dict

#: PSNR values above this (identical images: MSE 0, PSNR infinite) are reported as this many dB
PSNR_CAP_DB = 100.0
#: pytorch-msssim's 5 scales with an 11-px Gaussian window need a shorter side > (11 - 1) * 2**4
MS_SSIM_MIN_SIDE = 160


def as_batch1(x: Tensor, what: str = "image") -> Tensor:
    """(3, H, W) or (1, 3, H, W) -> (1, 3, H, W); anything else is a ValueError."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(f"{what} must have shape (1, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    return x


def quantized_pair(x: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor]:
    """Both images as uint8 (1, 3, H, W) on ``x``'s device, after checking their shapes agree."""
    x, x_hat = as_batch1(x, "original"), as_batch1(x_hat, "reconstruction")
    if x.shape != x_hat.shape:
        raise ValueError(f"original {tuple(x.shape)} and reconstruction {tuple(x_hat.shape)} differ in size")
    return quantize(x).contiguous(), quantize(x_hat).to(x.device).contiguous()


class PSNR:
    """PSNR in dB on RGB images quantised to 8 bits: 10 log10(255^2 / MSE), MSE over all pixels and channels."""

    name: ClassVar[str] = "psnr"
    title: ClassVar[str] = "PSNR"
    unit: ClassVar[str] = "dB"
    kind: ClassVar[Kind] = "image"
    higher_is_better: ClassVar[bool] = True
    stand_in: ClassVar[bool] = False
    description: ClassVar[str] = "PSNR (dB) on 8-bit RGB, 10 log10(255^2/MSE), capped at 100 dB"

    def compute(self, x: Tensor, x_hat: Tensor) -> float:
        value = psnr(*quantized_pair(x, x_hat))
        if math.isinf(value):
            return MetricValue(PSNR_CAP_DB, f"identical images (MSE 0): PSNR reported as the {PSNR_CAP_DB:g} dB cap")
        return min(value, PSNR_CAP_DB)


class DetailRatio:
    """Network-free sharpness proxy: mean gradient magnitude of the reconstruction over the original's.

    On the 8-bit luma (BT.601), |dx| + |dy| by finite differences. MSE-optimal reconstructions are
    blurry (ratio < 1); a realistic decoder restores texture energy (ratio -> 1; above 1 means
    more high-frequency energy than the original). Not a realism metric like FID: a cheap,
    weight-free indicator of the blur/detail trade-off, usable where no metric network exists.
    """

    name: ClassVar[str] = "detail"
    title: ClassVar[str] = "detail ratio"
    kind: ClassVar[Kind] = "image"
    higher_is_better: ClassVar[bool] = True
    stand_in: ClassVar[bool] = False
    description: ClassVar[str] = (
        "mean |gradient| of the reconstruction / of the original (8-bit luma); 1 = as much detail, < 1 = blur"
    )

    @staticmethod
    def _grad(img: Tensor) -> float:
        luma = (
            img.double() * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64, device=img.device).view(1, 3, 1, 1)
        ).sum(1)
        return float((luma[:, 1:, :] - luma[:, :-1, :]).abs().mean() + (luma[:, :, 1:] - luma[:, :, :-1]).abs().mean())

    def compute(self, x: Tensor, x_hat: Tensor) -> float:
        a, b = quantized_pair(x, x_hat)
        ga = self._grad(a)
        if ga == 0.0:
            return skipped("detail ratio skipped: the original is flat (no gradients)")
        return self._grad(b) / ga


class MSSSIM:
    """pytorch-msssim ``ms_ssim(data_range=255)`` on 8-bit images (default 5 scales, 11-px window)."""

    name: ClassVar[str] = "ms_ssim"
    title: ClassVar[str] = "MS-SSIM"
    kind: ClassVar[Kind] = "image"
    higher_is_better: ClassVar[bool] = True
    stand_in: ClassVar[bool] = False
    description: ClassVar[str] = "MS-SSIM (pytorch-msssim, data_range 255, 5 scales); NaN if the shorter side <= 160 px"

    def compute(self, x: Tensor, x_hat: Tensor) -> float:
        from pytorch_msssim import ms_ssim

        a, b = quantized_pair(x, x_hat)
        side = min(a.shape[-2:])
        if side <= MS_SSIM_MIN_SIDE:
            return skipped(
                f"MS-SSIM skipped: shorter side {side} px <= {MS_SSIM_MIN_SIDE} px "
                "(pytorch-msssim's 5 scales with an 11-px window need more)"
            )
        v = float(ms_ssim(a.float(), b.float(), data_range=255, size_average=True))
        if math.isnan(v):
            return MetricValue(v, "MS-SSIM is NaN (a negative contrast-structure term at a coarse scale)")
        return v


def load_alexnet_into_lpips(model: torch.nn.Module, state: dict[str, Tensor], source: str = "state dict") -> None:
    """Copy torchvision AlexNet weights (``features.<i>.*``) into an ``lpips.LPIPS(net='alex')`` backbone.

    lpips splits ``alexnet().features`` into ``net.slice1..5`` keeping the layer indices, so
    ``features.3.weight`` becomes ``net.slice2.3.weight``.
    """
    net: Any = model.net  # lpips' AlexNet backbone (slice1..5, N_slices): the lpips package has no types
    mapped: dict[str, Tensor] = {}
    for k in range(1, net.N_slices + 1):
        for idx, layer in getattr(net, f"slice{k}").named_children():
            for pname in layer.state_dict():
                src = f"features.{idx}.{pname}"
                if src not in state:
                    raise RdpflexError(f"{source} is not an AlexNet state dict: {src} is missing")
                mapped[f"slice{k}.{idx}.{pname}"] = state[src]
    try:
        net.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise RdpflexError(f"{source} does not fit AlexNet: {' '.join(s.strip() for s in first[:2])}") from None


def build_lpips(weights_path: str | os.PathLike) -> torch.nn.Module:
    """``lpips.LPIPS(net='alex')`` without any download: random backbone, then the given AlexNet weights.

    The linear calibration layers (``lin0..4``) ship inside the lpips wheel.
    """
    import lpips

    state = load_state_dict(weights_path, ALEXNET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's "pretrained=... is deprecated"
        model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    load_alexnet_into_lpips(model, state, str(weights_path))
    return model.eval().requires_grad_(False)


class LPIPS:
    """LPIPS v0.1 with the AlexNet backbone (``lpips`` package), inputs scaled to [-1, 1]."""

    name: ClassVar[str] = "lpips"
    title: ClassVar[str] = "LPIPS"
    kind: ClassVar[Kind] = "image"
    higher_is_better: ClassVar[bool] = False
    description: ClassVar[str] = "LPIPS v0.1, AlexNet backbone (lpips package), 8-bit inputs scaled to [-1, 1]"

    _models: ClassVar[dict[tuple, torch.nn.Module]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, weights: str | os.PathLike | None = None):
        #: AlexNet weight file; None: $RDPFLEX_ALEXNET_WEIGHTS, then $TORCH_HOME/hub/checkpoints
        self.weights = weights

    def weights_path(self) -> Path:
        return ALEXNET.resolve(self.weights)

    @property
    def stand_in(self) -> bool:
        return ALEXNET.resolves_to_stand_in(self.weights)

    def model(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        path = self.weights_path()
        key = (file_key(path), str(torch.device(device)))
        with self._lock:
            model = self._models.get(key)
        if model is None:
            model = build_lpips(path).to(device)
            with self._lock:
                if len(self._models) >= 4:
                    self._models.clear()
                self._models[key] = model
        return model

    def compute(self, x: Tensor, x_hat: Tensor) -> float:
        a, b = quantized_pair(x, x_hat)
        model = self.model(a.device)
        with torch.no_grad():
            d = model(a.float() / 255.0 * 2 - 1, b.float() / 255.0 * 2 - 1)
        return float(d.reshape(-1)[0])
