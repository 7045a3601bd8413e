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
from typing import Any

import torch
from pydantic import BaseModel
from torch import Tensor

from rdpflex.cards import resolve_options
from rdpflex.codecs import Codec
from rdpflex.decoders import DecoderBase
from rdpflex.errors import OptionsError, RdpflexError
from rdpflex.latent import Latent
from rdpflex.tiling import TileSpec, analyse, blend, synthesize
from rdpflex.weights import read_json, refuse_pickles, write_json

from .guidance import Constraint, guided_sample, make_constraint
from .hooks import DECODER
from .options import IdempotenceOptions
from .prior import load_prior, save_prior
from .projection import project

#: the largest padded image sampled whole; above it ``--tile`` bounds the memory (docs/reliability.md)
MAX_UNTILED_PIXELS = 1 << 22


class IdempotenceDecoder(DecoderBase, card=DECODER):
    """Inverts an unconditional diffusion prior so that the output re-encodes to the file's latent."""

    def __init__(self, unet: Any, scheduler_config: dict[str, Any], reference: str | None = None) -> None:
        self.unet = unet.eval().requires_grad_(False)
        self.scheduler_config = dict(scheduler_config)
        self.reference = reference  # an external prior (path or hub id) that is referenced, not copied

    @property
    def num_train_timesteps(self) -> int:
        return int(self.scheduler_config.get("num_train_timesteps", 1000))

    @classmethod
    def from_pretrained(cls, path: Path | None, codec: Codec) -> "IdempotenceDecoder":
        if path is None:
            raise RdpflexError("the idempotence decoder needs its prior (a decoders/idempotence/ folder)")
        refuse_pickles(Path(path))  # the whole folder, bundled prior included (docs/reliability.md section 5)
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
        opts = self._options(options)
        self.check_image(latents[0].stem, latents[0].padded_size, opts, None)
        return self._solve(make_constraint(codec, latents, opts.constraint), generators, opts)

    def check_image(self, stem: str, padded_size: tuple[int, int], options: BaseModel, tile: TileSpec | None) -> None:
        """Refuse an image above :data:`MAX_UNTILED_PIXELS` unless it is decoded in tiles (the pipeline asks before
        entropy decoding, so a 4096 x 4096 file is refused at once, not after its latent is decoded)."""
        H, W = padded_size
        if tile is None and H * W > MAX_UNTILED_PIXELS:
            raise OptionsError(
                f"idempotence: image {stem!r} is {W}x{H} = {H * W} pixels (padded), above the "
                f"{MAX_UNTILED_PIXELS} pixels sampled whole; decode it in tiles (--tile 512)"
            )

    def decode_tiled(
        self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator, tile: TileSpec
    ) -> Tensor:
        """Each tile sampled and projected under its crop of the file's grid and latent, seams blended, then the
        whole image projected once more with g_a and g_s computed tile by tile (exact, bounded memory), which
        repairs the seams: a tile's own g_a does not see its neighbours."""
        opts = self._options(options)
        stride = codec.latent_stride
        tile.check(stride)
        whole = make_constraint(codec, [latent], opts.constraint)
        H, W = latent.padded_size
        out = blend(lambda win: self._solve(whole.crop(win, stride), [generator], opts), H, W, tile)
        if opts.project:
            out, _ = project(
                lambda x: analyse(codec.g_a, x, stride),
                lambda y: synthesize(codec.g_s, y, stride),
                out,
                whole.centre,
                steps=opts.project,
            )
        return out

    def _options(self, options: BaseModel | dict[str, Any] | None) -> IdempotenceOptions:
        """The options to sample with (:func:`rdpflex.cards.resolve_options`: validated unless they already are),
        then ``steps`` checked against the prior's training timesteps."""
        resolved = resolve_options(self, options)
        assert isinstance(resolved, IdempotenceOptions)  # resolve_options builds this decoder's Options
        self._check(resolved)
        return resolved

    def _solve(self, constraint: Constraint, generators: Sequence[torch.Generator], opts: IdempotenceOptions) -> Tensor:
        """Sample, project, and resample the images whose agreement stays below ``target`` (``retries``)."""
        zeta = torch.full((len(generators),), opts.zeta)
        out = self._sample(constraint, generators, opts, zeta)
        for attempt in range(1, opts.retries + 1):
            failed = (constraint.agreement(out) < opts.target).nonzero().flatten()
            if failed.numel() == 0:
                break
            zeta[failed] *= 1.5
            more = opts.model_copy(update={"project": max(opts.project, 1) * 2**attempt})
            out[failed] = self._sample(
                constraint.select(failed), [generators[int(i)] for i in failed], more, zeta[failed]
            )
        return out

    def _sample(
        self, constraint: Any, generators: Sequence[torch.Generator], opts: IdempotenceOptions, zeta: Tensor
    ) -> Tensor:
        out = guided_sample(
            self.unet,
            self.scheduler_config,
            constraint,
            generators,
            zeta=zeta.view(-1, 1, 1, 1).to(constraint.x_mse),
            steps=opts.steps,
            scheduler=opts.scheduler,
            strength=opts.strength,
            consistency=opts.consistency,
        )
        if opts.project:
            out, _ = project(constraint.codec.g_a, constraint.codec.g_s, out, constraint.centre, steps=opts.project)
        return out
