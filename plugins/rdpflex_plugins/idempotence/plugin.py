"""``idempotence``: perceptual decoding by inverting an unconditional diffusion prior (Xu et al. 2024).

No decoder is trained on the codec. The receiver decodes ŷ from the ``.rdp`` file and searches,
with an unconditional prior of natural images, for an image that re-encodes to the same latent
(Xu, Zhang, Li, Ma, "Idempotence and Perceptual Image Compression", ICLR 2024, arXiv:2401.08920):
see :mod:`.guidance` for the sampler. The prior is codec-independent, so one prior serves every
codec (``trained_on_codec = False``); sampling needs gradients through the prior and the codec
(``needs_grad = True``).

Folder ``SYSTEM/decoders/idempotence/``: ``config.json`` (``prior``: a sub-folder, a local path
or a hub id) and, for a bundled prior, ``prior/unet/`` + ``prior/scheduler/`` (diffusers layout,
safetensors only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel
from torch import Tensor

from rdpflex.codecs import Codec
from rdpflex.decoders import DecoderBase
from rdpflex.errors import OptionsError
from rdpflex.latent import Latent
from rdpflex.weights import read_json, write_json

from .guidance import guided_sample, make_constraint
from .hooks import DECODER
from .options import IdempotenceOptions
from .prior import load_prior, save_prior


class IdempotenceDecoder(DecoderBase):
    """Inverts an unconditional diffusion prior so that the output re-encodes to the file's latent."""

    name: ClassVar[str] = DECODER.name
    description: ClassVar[str] = DECODER.description
    Options: ClassVar[type[BaseModel]] = IdempotenceOptions
    stochastic: ClassVar[bool] = True
    needs_grad: ClassVar[bool] = True
    trained_on_codec: ClassVar[bool] = False
    sweep: ClassVar[dict[str, list[Any]]] = DECODER.sweep

    def __init__(self, unet: Any, scheduler_config: dict[str, Any], reference: str | None = None) -> None:
        self.unet = unet.eval().requires_grad_(False)
        self.scheduler_config = dict(scheduler_config)
        self.reference = reference  # an external prior (path or hub id) that is referenced, not copied

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler_config.get("num_train_timesteps", 1000))

    @classmethod
    def from_pretrained(cls, path: Path | None, codec: Codec) -> "IdempotenceDecoder":
        cfg = read_json(Path(path) / "config.json")
        reference = str(cfg.get("prior", "prior"))
        unet, sched = load_prior(reference, base=Path(path))
        return cls(unet, sched, None if reference == "prior" else reference)

    def save_pretrained(self, path: Path) -> None:
        from diffusers import DDPMScheduler

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.reference is None:
            save_prior(self.unet, DDPMScheduler.from_config(self.scheduler_config), path / "prior")
        write_json(path / "config.json", {"family": self.name, "prior": self.reference or "prior"})

    def to(self, device: Any) -> "IdempotenceDecoder":
        self.unet.to(device)
        return self

    def _check(self, options: IdempotenceOptions) -> None:
        if options.steps > self.num_train_timesteps:
            raise OptionsError(
                f"idempotence: steps={options.steps} exceeds the prior's {self.num_train_timesteps} "
                f"training timesteps (allowed 1..{self.num_train_timesteps})"
            )

    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        return self.decode_batch([latent], codec, options, [generator])

    def decode_batch(
        self, latents: Sequence[Latent], codec: Codec, options: BaseModel, generators: Sequence[torch.Generator]
    ) -> Tensor:
        opts = IdempotenceOptions.model_validate(options.model_dump() if isinstance(options, BaseModel) else options)
        self._check(opts)
        constraint = make_constraint(codec, latents, opts.constraint)
        zeta = torch.full((len(latents),), opts.zeta)
        out = self._sample(constraint, generators, opts, zeta)
        for _ in range(opts.retries):
            failed = (constraint.agreement(out) < opts.target).nonzero().flatten()
            if failed.numel() == 0:
                break
            zeta[failed] *= 1.5
            sub = make_constraint(codec, [latents[int(i)] for i in failed], opts.constraint)
            out[failed] = self._sample(sub, [generators[int(i)] for i in failed], opts, zeta[failed])
        return out

    def _sample(
        self, constraint: Any, generators: Sequence[torch.Generator], opts: IdempotenceOptions, zeta: Tensor
    ) -> Tensor:
        return guided_sample(
            self.unet,
            self.scheduler_config,
            constraint,
            generators,
            zeta=zeta.view(-1, 1, 1, 1).to(constraint.x_mse),
            steps=opts.steps,
            scheduler=opts.scheduler,
            strength=opts.strength,
        )
