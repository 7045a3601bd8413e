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
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from rdpflex.codecs import Codec
from rdpflex.decoders import DecoderBase
from rdpflex.errors import OptionsError
from rdpflex.hookspecs import hookimpl
from rdpflex.latent import Latent
from rdpflex.weights import read_json, write_json

from .guidance import guided_sample, make_constraint
from .prior import load_prior, save_prior

#: the reference implementation's guidance scale per DDPM step over 1000 steps (Xu et al. 2024, code release)
PAPER_ZETA = 0.6
#: rdpflex's default per sampling step for its few-step default (measured, docs/decoders/idempotence.md)
DEFAULT_ZETA = 20.0


class IdempotenceOptions(BaseModel):
    """Decode-time knobs of ``idempotence``."""

    model_config = ConfigDict(extra="forbid")

    zeta: float = Field(DEFAULT_ZETA, ge=0.0, le=1000.0, allow_inf_nan=False,
                        description="guidance scale per sampling step: higher keeps the re-encoding closer to the file, lower trusts the prior "
                                    f"(the reference code's {PAPER_ZETA} is per step of 1000 DDPM steps)")
    steps: int = Field(30, ge=1, le=1000, description="sampling steps of the full schedule (at most the prior's training timesteps; strength x steps are run)")
    scheduler: Literal["ddpm", "ddim"] = Field("ddim", description="diffusers sampler built from the prior's scheduler config")
    constraint: Literal["x", "y"] = Field("y", description="x: compare g_s(Q(g_a(x))) with the MSE reconstruction; y: compare g_a(x) with the file's latent")
    strength: float = Field(0.3, gt=0.0, le=1.0, description="start from the MSE reconstruction noised to this fraction of the schedule (1 = pure noise, as in the paper)")
    retries: int = Field(0, ge=0, le=5, description="resample an image whose re-encoding agreement stays below `target`, with zeta x1.5 each time (as the reference code)")
    target: float = Field(0.9, ge=0.0, le=1.0, description="re-encoding agreement (fraction of latent symbols) that ends retries")


class IdempotenceDecoder(DecoderBase):
    """Inverts an unconditional diffusion prior so that the output re-encodes to the file's latent."""

    name: ClassVar[str] = "idempotence"
    description: ClassVar[str] = "unconditional diffusion prior inverted under a re-encoding constraint (Xu et al. 2024); zeta, steps, constraint"
    Options: ClassVar[type[BaseModel]] = IdempotenceOptions
    stochastic: ClassVar[bool] = True
    needs_grad: ClassVar[bool] = True
    trained_on_codec: ClassVar[bool] = False
    # one point by default: each 512 px image costs ~25 s on a 2-core CPU (compare takes explicit grids)
    sweep: ClassVar[dict[str, list[Any]]] = {"zeta": [DEFAULT_ZETA]}

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
            raise OptionsError(f"idempotence: steps={options.steps} exceeds the prior's {self.num_train_timesteps} training timesteps (allowed 1..{self.num_train_timesteps})")

    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        return self.decode_batch([latent], codec, options, [generator])

    def decode_batch(self, latents: Sequence[Latent], codec: Codec, options: BaseModel,
                     generators: Sequence[torch.Generator]) -> Tensor:
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

    def _sample(self, constraint: Any, generators: Sequence[torch.Generator], opts: IdempotenceOptions, zeta: Tensor) -> Tensor:
        return guided_sample(self.unet, self.scheduler_config, constraint, generators, zeta=zeta.view(-1, 1, 1, 1).to(constraint.x_mse),
                             steps=opts.steps, scheduler=opts.scheduler, strength=opts.strength)


@hookimpl
def register_decoders(register):
    register(IdempotenceDecoder)


@hookimpl
def register_stages(register):
    from .training import PriorStage

    register(PriorStage)
