"""``cdiff``: a conditional diffusion decoder on the codec's latent (Mari et al. 2024; HFD, Hoogeboom et al. 2023).

Decode-time knobs (:class:`CDiffOptions`): ``scheduler`` (ddpm, ddim, dpm-solver for a ``diffusion``
decoder; flow-euler, flow-heun for a rectified ``flow`` one), ``steps``, ``eta`` (ddim only) and ``seed``
(overrides ``--seed``; image i uses seed + i). ``steps`` is bounded by the number of training timesteps
stored with the weights and the samplers by the stored objective, so a loaded decoder validates against
its own ``Options`` (``decoder.Options``: unset ``scheduler`` = ddim / flow-euler) and refuses
out-of-range values or a sampler of the other objective in one line.

Saved as a component folder (``SYSTEM/decoders/cdiff/``)::

    config.json                      family, format_version, objective, conditioning (condition_on_mse, target)
                                     + codec fingerprint; no objective (older folders) = diffusion
    unet/                            UNet2DModel.save_pretrained — the EMA weights, used for sampling
    adapter/                         LatentAdapter.save_pretrained
    scheduler/scheduler_config.json  diffusion: the training noise schedule (DDPMScheduler: betas, prediction type);
                                     flow: FlowMatchEulerDiscreteScheduler (T)

A flow decoder is written as format 2 (a reader that knows only format 1 refuses it rather than sampling
it as a diffusion model); a diffusion decoder stays format 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel
from torch import Tensor, nn

from rdpflex.cards import resolve_options
from rdpflex.codecs import Codec
from rdpflex.components import load_component, load_scheduler_config, save_component, save_scheduler
from rdpflex.decoders import DecoderBase
from rdpflex.errors import RdpflexError
from rdpflex.latent import Latent
from rdpflex.tiling import TileSpec, synthesize
from rdpflex.weights import read_json, refuse_pickles, write_json
from rdpflex_plugins.cdiff.hooks import DECODER
from rdpflex_plugins.cdiff.model import ConditionalDenoiser, LatentAdapter
from rdpflex_plugins.cdiff.options import CDiffOptions, Objective, options_for
from rdpflex_plugins.cdiff.sampling import make_scheduler, sample, tiled_denoiser

#: the newest format read; written: 1 for a diffusion decoder (as before objectives), 2 for a flow one
FORMAT_VERSION = 2
FORMAT_OF: dict[str, int] = {"diffusion": 1, "flow": 2}


class CDiffDecoder(DecoderBase, nn.Module, card=DECODER):
    """The ``cdiff`` family: sample x ~ p(x | y_hat [, x_mse]) with a diffusers scheduler (diffusion or flow)."""

    #: name, description, Options, flags and sweep: the card's (hooks.DECODER); a loaded decoder's Options
    #: narrows steps and samplers to its own (:func:`options_for`)
    Options: ClassVar[type[CDiffOptions]]
    #: images above this many padded pixels (1024 x 1024) are sampled in ``auto_tile`` tiles without asking, so
    #: memory follows the tile (docs/reliability.md section 4; ``--tile`` picks other tiles); below, whole as always
    auto_tile_pixels: ClassVar[int] = 1 << 20
    auto_tile: ClassVar[TileSpec] = TileSpec(256, 32)

    def __init__(
        self, denoiser: ConditionalDenoiser, scheduler_config: dict[str, Any], objective: Objective = "diffusion"
    ) -> None:
        super().__init__()
        if objective not in FORMAT_OF:
            raise RdpflexError(f"cdiff: unknown objective {objective!r} (known: {', '.join(FORMAT_OF)})")
        self.denoiser = denoiser
        self.scheduler_config = dict(scheduler_config)
        self.objective: Objective = objective
        self.max_steps = int(self.scheduler_config["num_train_timesteps"])
        # per-instance bounds shadow the class's model (mypy forbids assigning a ClassVar through self)
        self.Options = options_for(self.max_steps, objective)  # type: ignore[misc]

    @property
    def config(self) -> dict[str, Any]:
        return {
            "family": self.name,
            "format_version": FORMAT_OF[self.objective],
            "objective": self.objective,
            "condition_on_mse": self.denoiser.condition_on_mse,
            "target": self.denoiser.target,
        }

    # -- component folder ------------------------------------------------------------------------
    def save_pretrained(self, path: Path) -> None:
        from rdpflex_plugins.cdiff.sampling import BASE_SCHEDULER

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_component(self.denoiser.unet, path, "unet")
        save_component(self.denoiser.adapter, path, "adapter")
        save_scheduler(BASE_SCHEDULER[self.objective].from_config(self.scheduler_config), path)
        write_json(path / "config.json", self.config)

    @classmethod
    def from_pretrained(cls, path: Path | None, codec: Codec) -> "CDiffDecoder":
        from diffusers.models.unets.unet_2d import UNet2DModel  # not the package's lazy name (see .model)

        if path is None:
            raise RdpflexError("the cdiff decoder needs trained weights (a decoders/cdiff/ folder)")
        path = Path(path)
        refuse_pickles(path)  # the whole folder: one rule for pickles (docs/reliability.md section 5)
        cfg = read_json(path / "config.json")
        if int(cfg.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
            raise RdpflexError(
                f"{path}: cdiff format {cfg['format_version']} is newer than supported ({FORMAT_VERSION})"
            )
        objective = cfg.get("objective", "diffusion")  # written since format 2; older folders are diffusion
        if objective not in FORMAT_OF:
            raise RdpflexError(f"{path}/config.json: unknown cdiff objective {objective!r} (known: diffusion, flow)")
        adapter = load_component(LatentAdapter, path, "adapter")
        if adapter.config.latent_channels != codec.latent_channels:
            raise RdpflexError(
                f"cdiff decoder in {path} takes {adapter.config.latent_channels} latent channels; "
                f"this {codec.arch!r} codec has {codec.latent_channels}"
            )
        unet = load_component(UNet2DModel, path, "unet")
        try:
            denoiser = ConditionalDenoiser(adapter, unet, cfg["condition_on_mse"], cfg["target"])
        except (KeyError, ValueError) as exc:
            raise RdpflexError(f"{path}/config.json is not a cdiff decoder config: {exc}") from None
        dec = cls(denoiser, load_scheduler_config(path), objective).eval()
        device = next(codec.parameters()).device
        return dec.to(device)

    # -- options ---------------------------------------------------------------------------------
    def resolve(self, options: BaseModel | dict[str, Any] | None) -> CDiffOptions:
        """The options to sample with (:func:`rdpflex.cards.resolve_options`): validated against this decoder's
        bounds and objective unless they already are (an unset ``scheduler`` becomes this decoder's default)."""
        resolved = resolve_options(self, options)
        assert isinstance(resolved, self.Options)  # resolve_options builds this decoder's Options
        return resolved

    # -- decoding --------------------------------------------------------------------------------
    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        return self.decode_batch([latent], codec, options, [generator])

    def decode_batch(
        self, latents: Sequence[Latent], codec: Codec, options: BaseModel, generators: Sequence[torch.Generator]
    ) -> Tensor:
        """(B, 3, Hp, Wp) in [0, 1]; image i's noise comes from ``generators[i]`` only. Images above
        :attr:`auto_tile_pixels` (padded) are sampled in :attr:`auto_tile` tiles, so memory stays bounded."""
        H, W = latents[0].padded_size
        if H * W > self.auto_tile_pixels:
            return torch.cat(
                [self.decode_tiled(lat, codec, options, g, self.auto_tile) for lat, g in zip(latents, generators)]
            )
        y_hat = torch.cat([lat.y_hat for lat in latents])
        return self._sample(y_hat, self._mse(y_hat, codec), options, generators, None)

    def decode_tiled(
        self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator, tile: TileSpec
    ) -> Tensor:
        """Tiles blended at every denoising step (consistent seams, MultiDiffusion); the conditioning planes are
        computed per tile and the MSE image by exact tiled synthesis, so nothing is held at full resolution but
        the image itself, the MSE image and the blending weights."""
        tile.check(codec.latent_stride)
        return self._sample(latent.y_hat, self._mse(latent.y_hat, codec), options, [generator], tile)

    def _mse(self, y_hat: Tensor, codec: Codec) -> Tensor | None:
        """The MSE reconstruction the denoiser is conditioned on (exactly tiled on large latents), if it needs one."""
        if not self.denoiser.needs_mse:
            return None
        return synthesize(codec.synthesize, y_hat, codec.latent_stride).clamp(0, 1)

    def _sample(
        self,
        y_hat: Tensor,
        x_mse: Tensor | None,
        options: BaseModel,
        generators: Sequence[torch.Generator],
        tile: TileSpec | None,
    ) -> Tensor:
        opts = self.resolve(options)
        p = next(self.denoiser.parameters())
        y_hat = y_hat.to(p.device, p.dtype)
        x_mse = x_mse.to(p.device, p.dtype) if x_mse is not None else None
        stride = int(self.denoiser.adapter.config["stride"])
        height, width = y_hat.shape[-2] * stride, y_hat.shape[-1] * stride
        assert opts.scheduler is not None  # a loaded decoder's Options fill in its default sampler
        scheduler = make_scheduler(opts.scheduler, self.scheduler_config, opts.steps)
        x0 = sample(
            tiled_denoiser(
                self.denoiser, lambda win: self.denoiser.condition_window(y_hat, x_mse, win), height, width, tile
            ),
            scheduler,
            (y_hat.shape[0], 3, height, width),
            generators,
            p.device,
            p.dtype,
            eta=opts.eta if opts.scheduler == "ddim" else None,
        )
        return self.denoiser.to_image(x0, x_mse).clamp(0, 1).float()
