"""ST-LPIPS: the shift-tolerant perceptual distance, a metric and a training loss that work offline.

Ghildyal & Liu, "Shift-tolerant Perceptual Similarity Metric", ECCV 2022, arXiv:2207.13686: LPIPS'
recipe (unit-normalised trunk features, learned per-channel weights, spatial mean; Zhang et al.,
CVPR 2018, arXiv:1801.03924, Eq. 1) on an anti-aliased trunk trained from scratch on BAPPS, so a
1-pixel shift barely moves it. Its BAPPS 2AFC agreement is on par with LPIPS (alex: about 69.8), but
its *values are not comparable* with the LPIPS-Alex numbers papers publish: rdpflex always calls it
ST-LPIPS, never LPIPS.

The network classes come from the ``stlpips-pytorch`` distribution (0.0.2), and so do its weights:
the wheel ships the whole trained network (``weights/vST0.0/{alex,vgg}_shift_tolerant.pth``), so
nothing is downloaded. rdpflex does not use that package's own loader (it calls ``torch.load``
without ``weights_only``): the file is hash-checked like the other metric weights
(:mod:`rdpflex.metrics.weights`; another file is labelled stand-in) and read with
``weights_only=True``. The file stores the linear heads as ``lin0..lin4``; the module also lists
them as ``lins.*`` (the same modules), which are the only keys allowed to be missing.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from rdpflex.errors import RdpflexError
from rdpflex.metrics.base import Kind
from rdpflex.metrics.image import quantized_pair
from rdpflex.metrics.weights import STLPIPS_ALEX, STLPIPS_VGG, WeightsSpec, file_key, load_state_dict

#: trunk name -> where its weights are found
NETS: dict[str, WeightsSpec] = {"alex": STLPIPS_ALEX, "vgg": STLPIPS_VGG}


def build_stlpips(net: str = "alex", weights: str | os.PathLike | None = None) -> torch.nn.Module:
    """The ST-LPIPS network (``stlpips_pytorch.stlpips.LPIPS``, variant ``shift_tolerant``) with its
    trained weights, in eval mode with gradients off for its parameters (it stays differentiable in
    its inputs). Inputs in [-1, 1]."""
    if net not in NETS:
        raise RdpflexError(f"unknown ST-LPIPS trunk {net!r}; choose one of {', '.join(NETS)}")
    spec = NETS[net]
    path = spec.resolve(weights)
    state = load_state_dict(path, spec)
    from stlpips_pytorch import stlpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's "pretrained=... is deprecated"
        model = stlpips.LPIPS(net=net, variant="shift_tolerant", pretrained=False, verbose=False)
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("lins.")]
    if missing or result.unexpected_keys:
        raise RdpflexError(
            f"{path} does not fit the ST-LPIPS {net} network: "
            f"missing {missing[:3]}, unexpected {list(result.unexpected_keys)[:3]}"
        )
    return model.eval().requires_grad_(False)


class _Models:
    """One loaded network per (trunk, weight file, device), shared by every thread."""

    def __init__(self) -> None:
        self._models: dict[tuple, torch.nn.Module] = {}
        self._lock = threading.Lock()

    def get(self, net: str, weights: str | os.PathLike | None, device: torch.device | str) -> torch.nn.Module:
        path = NETS[net].resolve(weights)
        key = (net, file_key(path), str(torch.device(device)))
        with self._lock:
            model = self._models.get(key)
            if model is None:
                if len(self._models) >= 4:
                    self._models.clear()
                model = self._models[key] = build_stlpips(net, path).to(device)
        return model


_MODELS = _Models()


class STLPIPS:
    """ST-LPIPS distance of a reconstruction to its original, on the 8-bit images, lower is better."""

    kind: ClassVar[Kind] = "image"
    higher_is_better: ClassVar[bool] = False

    def __init__(self, net: str = "alex", weights: str | os.PathLike | None = None) -> None:
        if net not in NETS:
            raise RdpflexError(f"unknown ST-LPIPS trunk {net!r}; choose one of {', '.join(NETS)}")
        self.net, self.weights = net, weights
        self.name = "st-lpips" if net == "alex" else f"st-lpips-{net}"
        self.title = "ST-LPIPS" if net == "alex" else f"ST-LPIPS ({net})"
        self.description = (
            f"shift-tolerant LPIPS, {net} trunk (Ghildyal & Liu 2022; weights from the stlpips-pytorch wheel); "
            "not comparable with LPIPS values"
        )

    @property
    def stand_in(self) -> bool:
        return NETS[self.net].resolves_to_stand_in(self.weights)

    def model(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        return _MODELS.get(self.net, self.weights, device)

    def compute(self, x: Tensor, x_hat: Tensor) -> float:
        a, b = quantized_pair(x, x_hat)
        with torch.no_grad():
            d = self.model(a.device)(a.float() / 127.5 - 1, b.float() / 127.5 - 1)
        return float(d.reshape(-1)[0])


def stlpips_loss(net: str = "alex", weights: str | os.PathLike | None = None) -> Callable[[Tensor, Tensor], Tensor]:
    """ST-LPIPS(x, x_hat) per example as a differentiable loss, images in [0, 1] -> (B,)."""
    model = build_stlpips(net, weights)

    def loss(x: Tensor, x_hat: Tensor) -> Tensor:
        m = model.to(x.device)
        return m(x_hat.float() * 2 - 1, x.float() * 2 - 1).flatten(1).mean(1)

    return loss
