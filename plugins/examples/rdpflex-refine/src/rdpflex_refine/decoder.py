"""The ``refine`` decoder: x_mse = g_s(y_hat), then x_mse + strength * R(x_mse) (+ optional unsharp mask).

Saved as a component folder (``SYSTEM/decoders/refine/``)::

    config.json                                  {"family": "refine", "format_version": 1} (+ codec_fingerprint)
    refiner/config.json                          the Refiner's constructor arguments (diffusers ConfigMixin)
    refiner/diffusion_pytorch_model.safetensors  its weights (safetensors only: never a pickle)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import Tensor, nn

from rdpflex.components import load_component, save_component
from rdpflex.decoders import DecoderBase
from rdpflex.errors import RdpflexError
from rdpflex.weights import read_json, write_json
from rdpflex_refine.hooks import DECODER

FORMAT_VERSION = 1


class Refiner(ModelMixin, ConfigMixin):
    """R: a residual CNN on the mse image (3 -> hidden -> ... -> 3), initialised to output zeros."""

    @register_to_config
    def __init__(self, hidden: int = 16, layers: int = 2) -> None:
        super().__init__()
        convs: list[nn.Module] = [nn.Conv2d(3, hidden, 3, padding=1), nn.SiLU()]
        for _ in range(layers - 1):
            convs += [nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU()]
        convs.append(nn.Conv2d(hidden, 3, 3, padding=1))
        nn.init.zeros_(convs[-1].weight)
        nn.init.zeros_(convs[-1].bias)
        self.net = nn.Sequential(*convs)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x * 2 - 1)


class RefineDecoder(DecoderBase, nn.Module):
    # name, description, Options, flags and sweep come from the card, so the two never disagree
    name = DECODER.name
    description = DECODER.description
    Options = DECODER.Options
    needs_weights = DECODER.capabilities.needs_weights
    sweep = DECODER.sweep

    def __init__(self, refiner: Refiner) -> None:
        super().__init__()
        self.refiner = refiner

    # -- save / load: a component folder ------------------------------------------------------------
    def save_pretrained(self, path: Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_component(self.refiner, path, "refiner")
        write_json(path / "config.json", {"family": self.name, "format_version": FORMAT_VERSION})

    @classmethod
    def from_pretrained(cls, path: Path | None, codec) -> "RefineDecoder":
        if path is None:
            raise RdpflexError("the refine decoder needs trained weights (a decoders/refine/ folder): train it with a recipe")
        cfg = read_json(Path(path) / "config.json")
        if int(cfg.get("format_version", 1)) > FORMAT_VERSION:
            raise RdpflexError(f"{path}: refine format {cfg['format_version']} is newer than this plugin reads ({FORMAT_VERSION})")
        device = next(codec.parameters()).device
        return cls(load_component(Refiner, Path(path), "refiner")).eval().to(device)

    # -- decoding: a batch of same-size latents, one generator per image (unused: deterministic) -----
    def decode_batch(self, latents, codec, options, generators) -> Tensor:
        y_hat = torch.cat([lat.y_hat for lat in latents])
        return self.refine(codec.synthesize(y_hat).clamp(0, 1), options)

    def decode(self, latent, codec, options, generator) -> Tensor:
        return self.decode_batch([latent], codec, options, [generator])

    def refine(self, x_mse: Tensor, options) -> Tensor:
        x = x_mse + options.strength * self.refiner(x_mse)
        if options.unsharp:
            blur = F.avg_pool2d(x_mse, 3, 1, 1, count_include_pad=False)
            x = x + options.unsharp * (x_mse - blur)
        return x.clamp(0, 1)
