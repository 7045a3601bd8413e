"""CompressAI zoo models as rdpflex codecs (``rdpflex import-compressai``).

The zoo model's own modules (g_a, g_s, h_a, h_s, entropy bottleneck, Gaussian conditional, context
model) are adopted unchanged and arranged into compressai latent codecs, so the entropy-coded
strings are byte-identical to the zoo model's ``compress()`` (tested). Weights come from
``compressai.zoo`` URLs (via the torch hub cache, ``$TORCH_HOME/hub/checkpoints``) or from a local
CompressAI checkpoint read with ``torch.load(weights_only=True)``; rdpflex then stores safetensors.

Supported: ``bmshj2018-hyperprior`` (scale hyperprior), ``mbt2018-mean`` (mean-scale hyperprior,
the "MSH" of Mari et al. 2024) and ``cheng2020-anchor`` (autoregressive context model).

References:
    J. Ballé, D. Minnen, S. Singh, S. J. Hwang, N. Johnston, "Variational Image Compression with a
    Scale Hyperprior", ICLR 2018, arXiv:1802.01436 (``bmshj2018-hyperprior``).
    D. Minnen, J. Ballé, G. Toderici, "Joint Autoregressive and Hierarchical Priors for Learned Image
    Compression", NeurIPS 2018, arXiv:1809.02736 (``mbt2018-mean``).
    Z. Cheng, H. Sun, M. Takeuchi, J. Katto, "Learned Image Compression with Discretized Gaussian
    Mixture Likelihoods and Attention Modules", CVPR 2020, arXiv:2001.01568 (``cheng2020-anchor``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from compressai.latent_codecs import (
    GaussianConditionalLatentCodec,
    HyperLatentCodec,
    HyperpriorLatentCodec,
    RasterScanLatentCodec,
)
from compressai.zoo.image import cfgs, model_architectures, model_urls
from compressai.zoo.pretrained import load_pretrained
from torch import Tensor, nn

from rdpflex.codecs.base import Codec
from rdpflex.errors import RdpflexError, WeightsMissingError

SUPPORTED = ("bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor")


class Abs(nn.Module):
    """|y| before h_a, as in Ballé et al. 2018's scale hyperprior."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.abs(x)


class CompressAIZooCodec(Codec):
    """A CompressAI zoo architecture re-expressed with latent codecs (``arch`` = the zoo name)."""

    arch = "compressai"
    num_streams = 2

    def __init__(self, zoo_arch: str, N: int, M: int | None = None, net: nn.Module | None = None) -> None:
        if zoo_arch not in SUPPORTED:
            raise RdpflexError(
                f"unsupported CompressAI architecture {zoo_arch!r}; choose one of {', '.join(SUPPORTED)}"
            )
        super().__init__(zoo_arch=zoo_arch, N=N, M=M)
        cls = model_architectures[zoo_arch]
        # a compressai zoo model, its submodules reached by name
        model: Any = net if net is not None else (cls(N) if zoo_arch == "cheng2020-anchor" else cls(N, M))
        self.latent_channels = int(model.M)
        self.g_a, self.g_s = model.g_a, model.g_s
        if zoo_arch == "bmshj2018-hyperprior":
            y_codec = GaussianConditionalLatentCodec(
                gaussian_conditional=model.gaussian_conditional, chunks=("scales",), quantizer="noise"
            )
            h_a = nn.Sequential(Abs(), model.h_a)
        elif zoo_arch == "mbt2018-mean":
            y_codec = GaussianConditionalLatentCodec(
                gaussian_conditional=model.gaussian_conditional, chunks=("scales", "means"), quantizer="noise"
            )
            h_a = model.h_a
        else:
            y_codec = RasterScanLatentCodec(
                model.gaussian_conditional, model.entropy_parameters, model.context_prediction
            )
            h_a = model.h_a
        self.latent_codec = HyperpriorLatentCodec(
            latent_codec={
                "y": y_codec,
                "hyper": HyperLatentCodec(entropy_bottleneck=model.entropy_bottleneck, h_a=h_a, h_s=model.h_s),
            }
        )


def zoo_filename(zoo_arch: str, quality: int, metric: str = "mse") -> tuple[str, str]:
    """(file name in the torch hub cache, URL) of a zoo checkpoint."""
    url = model_urls[zoo_arch][metric][quality]
    return url.rsplit("/", 1)[-1], url


def hub_checkpoints_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def read_compressai_state_dict(path: Path) -> dict[str, Tensor]:
    """Read a CompressAI checkpoint (zoo file, or ``examples/train.py``'s ``{"state_dict": ...}``)
    without unpickling code."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure means "not a usable checkpoint"
        raise RdpflexError(
            f"cannot read CompressAI checkpoint {path}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        ) from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise RdpflexError(f"{path} is not a CompressAI state dict (expected a mapping of tensor names to tensors)")
    return load_pretrained({k.removeprefix("module."): v for k, v in obj.items()})


def load_zoo_codec(
    zoo_arch: str, quality: int, checkpoint: Path | None = None, metric: str = "mse"
) -> CompressAIZooCodec:
    """Build an rdpflex codec from CompressAI weights (a local checkpoint, the hub cache, or a download)."""
    if zoo_arch not in SUPPORTED:
        raise RdpflexError(f"unsupported CompressAI architecture {zoo_arch!r}; choose one of {', '.join(SUPPORTED)}")
    if quality not in cfgs[zoo_arch]:
        raise RdpflexError(f"{zoo_arch} has no quality {quality}; choose one of {sorted(cfgs[zoo_arch])}")
    if checkpoint is None:
        name, url = zoo_filename(zoo_arch, quality, metric)
        cached = hub_checkpoints_dir() / name
        if not cached.exists():
            if os.environ.get("RDPFLEX_OFFLINE", "") not in ("", "0"):
                raise WeightsMissingError(
                    f"{zoo_arch} q{quality} weights not found: need {cached} (from {url}) or --checkpoint FILE"
                )
            try:
                torch.hub.download_url_to_file(url, str(cached), progress=False)
            except Exception as exc:  # offline, DNS, HTTP...
                raise WeightsMissingError(
                    f"{zoo_arch} q{quality} weights not found and download failed ({exc.__class__.__name__}): "
                    f"need {cached} (from {url}) or --checkpoint FILE"
                ) from exc
        checkpoint = cached
    state_dict = read_compressai_state_dict(Path(checkpoint))
    try:
        net = model_architectures[zoo_arch].from_state_dict(state_dict)
    except (KeyError, RuntimeError) as exc:
        raise RdpflexError(f"{checkpoint} does not hold {zoo_arch} weights: {str(exc).splitlines()[0]}") from exc
    net.update(force=True)
    return CompressAIZooCodec(zoo_arch, N=int(net.N), M=int(net.M), net=net)
