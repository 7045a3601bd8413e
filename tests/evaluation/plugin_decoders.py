"""Decoder plugins for the evaluation tests (loaded through ``RDPFLEX_PLUGIN_MODULES``).

- ``mse_alias``: exactly ``mse`` under another name (identical rows expected);
- ``noisy``: ``mse`` plus seeded Gaussian noise of strength ``sigma``, trained weights = a config file,
  with a ``sweep`` (a stochastic decoder with one knob, as multirealism/cdiff have);
- ``oracle``: returns the original image (registered by stem in ``OracleDecoder.ORIGINALS``), so a
  set compared against itself goes through ``compare``'s whole path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from rdpflex.decoders import NoOptions
from rdpflex.hookspecs import hookimpl


class AliasMSE:
    name: ClassVar[str] = "mse_alias"
    description: ClassVar[str] = "mse under another name (tests)"
    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_weights: ClassVar[bool] = False

    @classmethod
    def from_pretrained(cls, path, codec):
        return cls()

    def save_pretrained(self, path):
        return None

    @torch.no_grad()
    def decode(self, latent, codec, options, generator):
        return codec.synthesize(latent.y_hat).clamp(0, 1)


class NoisyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sigma: float = Field(0.05, ge=0.0, le=0.5)


class NoisyDecoder(AliasMSE):
    name: ClassVar[str] = "noisy"
    description: ClassVar[str] = "mse + seeded noise (tests)"
    Options: ClassVar[type[BaseModel]] = NoisyOptions
    needs_weights: ClassVar[bool] = True
    sweep: ClassVar[dict[str, list]] = {"sigma": [0.0, 0.1, 0.3]}

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    @classmethod
    def from_pretrained(cls, path, codec):
        return cls(**{k: v for k, v in json.loads((Path(path) / "config.json").read_text()).items() if k == "scale"})

    def save_pretrained(self, path):
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps({"scale": self.scale}))

    @torch.no_grad()
    def decode(self, latent, codec, options, generator):
        x = codec.synthesize(latent.y_hat)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=torch.float32)
        return (x.float() + self.scale * options.sigma * noise).clamp(0, 1)


class OracleDecoder(AliasMSE):
    name: ClassVar[str] = "oracle"
    description: ClassVar[str] = "returns the original image (tests)"
    ORIGINALS: ClassVar[dict[str, torch.Tensor]] = {}

    def decode(self, latent, codec, options, generator):
        x = self.ORIGINALS[latent.stem].to(latent.y_hat.device)
        H, W = x.shape[-2:]
        Hp, Wp = latent.padded_size
        return F.pad(x, (0, Wp - W, 0, Hp - H), mode="replicate")


@hookimpl
def register_decoders(register):
    register(AliasMSE)
    register(NoisyDecoder)
    register(OracleDecoder)
