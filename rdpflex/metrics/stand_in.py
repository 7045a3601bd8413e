"""Stand-in weights for the metric networks: randomly initialised (seeded), in the official format.

For tests and offline development only. They have the exact layout and file names of the official
checkpoints, so every code path runs as with the real ones, but the numbers they produce mean
nothing — and rdpflex labels every value computed with them "(stand-in weights)" (their sha256 does
not match the hash prefix in the file name; see :mod:`rdpflex.metrics.weights`)::

    from rdpflex.metrics.stand_in import write_stand_in_weights
    write_stand_in_weights(tmp / "hub" / "checkpoints")      # then TORCH_HOME=tmp
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from rdpflex.metrics.weights import ALEXNET, INCEPTION, SPECS, WeightsSpec


def _init_(module: nn.Module, generator: torch.Generator) -> None:
    """He-normal convs (keeps activations O(1) through the deep stack), small linear layers, unit BN."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.reset_running_stats()


def inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict in the layout torch-fidelity's ``FeatureExtractorInceptionV3`` loads."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Skeleton(FeatureExtractorInceptionV3):
        # torch-fidelity builds its layers and then loads a state dict; skip the loading
        def load_state_dict(self, *args: object, **kwargs: object) -> None:
            return None

    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.pth")
        torch.save({}, empty)
        model = _Skeleton("inception-v3-compat", ["2048"], feature_extractor_weights_path=empty)
    _init_(model, torch.Generator().manual_seed(seed))
    return {k: v.detach().float().contiguous().clone() for k, v in nn.Module.state_dict(model).items()}


def alexnet_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict in the layout of torchvision's ``alexnet-owt-7be5be79.pth``.

    The convolutional ``features.*`` (all LPIPS uses) are random; the classifier (58M parameters,
    unused by LPIPS) is zeros stored as broadcast views, so the file is ~10 MB instead of 233 MB
    and still loads strictly into ``torchvision.models.alexnet()``.
    """
    import torchvision

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torchvision.models.alexnet(weights=None)
    _init_(model, torch.Generator().manual_seed(seed))
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith("features."):
            out[k] = v.detach().contiguous().clone()
        else:
            out[k] = torch.zeros(1, dtype=v.dtype).expand(v.shape)
    return out


_BUILDERS = {INCEPTION.key: inception_state_dict, ALEXNET.key: alexnet_state_dict}


def write_stand_in_weights(
    directory: str | os.PathLike, *, seed: int = 0, which: Iterable[str] = ("inception", "alexnet")
) -> dict[str, Path]:
    """Write stand-in weight files, under their official names, into ``directory``.

    ``directory`` is usually ``$TORCH_HOME/hub/checkpoints``. Returns ``{key: path}``
    (keys ``inception``, ``alexnet``). Files are written atomically (temp file, then rename).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for key in which:
        if key not in SPECS:
            raise ValueError(f"unknown weights {key!r}; known: {', '.join(SPECS)}")
        spec: WeightsSpec = SPECS[key]
        path = directory / spec.file_name
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(_BUILDERS[key](seed), tmp)
        tmp.replace(path)
        out[key] = path
    return out


def stand_in_torch_home(torch_home: str | os.PathLike, *, seed: int = 0) -> Path:
    """Write both stand-in files into ``torch_home/hub/checkpoints``; returns that folder."""
    ckpt = Path(torch_home) / "hub" / "checkpoints"
    write_stand_in_weights(ckpt, seed=seed)
    return ckpt
