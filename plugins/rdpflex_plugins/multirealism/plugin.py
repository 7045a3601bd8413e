"""``multirealism``: the beta-conditional generator of Agustsson et al. 2023 ("Multi-Realism Image Compression").

One representation y_hat, any realism weight beta in [0, beta_max] chosen by the receiver:
x_hat_beta = clamp(G(y_hat, beta), 0, 1) (Sec. 3.2). beta = 0 is the low-distortion end (high
PSNR), beta = beta_max the high-realism end (low FID); the paper trains with beta ~ U(0, 5.12)
and uses beta_max = 2.56 at inference (Sec. 5.2.1).

Decode-time option ``beta``: default **beta_max** (the realistic end, what users of a generative
decoder expect; ``beta=0`` asks for the low-distortion end). The allowed range is per set of
weights — beta_max is stored in ``config.json`` — so the class-level :class:`MultiRealismOptions`
only checks ``beta >= 0``; a loaded decoder's ``Options`` (``decoder.Options``) and
:meth:`MultiRealismDecoder.decode` enforce ``0 <= beta <= beta_max`` and raise
:class:`rdpflex.errors.OptionsError` naming the range.

Saved as ``config.json`` (generator settings incl. conditioning type, ``beta_max``) +
``model.safetensors`` (generator weights only; the discriminator is a training-time module, held by
:mod:`.training`).
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
from rdpflex.decoders import DecoderBase
from rdpflex.errors import RdpflexError
from rdpflex.latent import Latent
from rdpflex.tiling import synthesize
from rdpflex.weights import load_error, load_weights, save_weights
from rdpflex_plugins.multirealism.generator import MultiRealismGenerator, build_generator_for
from rdpflex_plugins.multirealism.hooks import DECODER
from rdpflex_plugins.multirealism.options import PAPER_BETA_MAX, options_for
from rdpflex_plugins.multirealism.settings import MultiRealismSettings

FORMAT_VERSION = 1


class MultiRealismDecoder(DecoderBase, nn.Module, card=DECODER):
    """The ``multirealism`` decoder family: G(y_hat, beta). HiFiC's D is training-only: the trainers hold it.

    Build a fresh one for a codec with :meth:`for_codec`; load trained weights with
    :meth:`from_pretrained` (``System.decoder("multirealism")`` does it).
    """

    #: name, description, Options, capability flags and sweep: the card's (hooks.DECODER). A loaded decoder's
    #: Options is its own beta range's model (:func:`options_for`, built at run time: no static field types)
    Options: ClassVar[type[Any]]

    def __init__(self, generator: MultiRealismGenerator, beta_max: float = PAPER_BETA_MAX) -> None:
        super().__init__()
        beta_max = float(beta_max)
        train_max = generator.config["beta_train_max"]
        if not 0.0 <= beta_max or (generator.cond != "none" and beta_max > train_max):
            raise RdpflexError(
                f"multirealism beta_max={beta_max} must lie in [0, {train_max}] (the generator's training range)"
            )
        self.generator = generator
        self.beta_max = beta_max
        # a non-conditional G (fixed-beta GAN baseline) has exactly one beta: the one it was trained at
        self.beta_min = beta_max if generator.cond == "none" else 0.0
        # per-instance bounds shadow the class's model (mypy forbids assigning a ClassVar through self)
        self.Options = options_for(self.beta_max, self.beta_min)  # type: ignore[misc]

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def for_codec(cls, codec: Codec, settings: MultiRealismSettings | None = None) -> "MultiRealismDecoder":
        """A freshly initialised G for ``codec`` from ``settings.generator`` (default: the training defaults).

        ``fourier_scale`` unset encodes beta / beta_train_max. The decoder offers beta up to
        ``settings.beta_max``; a GAN baseline (``generator.cond: none``) only its ``fixed_beta``.
        """
        s = settings if settings is not None else MultiRealismSettings.model_validate({})  # the defaults
        g = s.generator
        fourier_scale = g.fourier_scale if g.fourier_scale is not None else 1.0 / s.beta_train_max
        gen = build_generator_for(
            codec, beta_train_max=s.beta_train_max, **(g.model_dump() | {"fourier_scale": fourier_scale})
        )
        dec = cls(gen, beta_max=s.fixed_beta if s.fixed_beta is not None else s.beta_max)
        device = _device_of(codec)
        return dec.to(device) if device is not None else dec

    @property
    def config(self) -> dict[str, Any]:
        return {
            "family": self.name,
            "format_version": FORMAT_VERSION,
            "beta_max": self.beta_max,
            "cond": self.generator.cond,
            "generator": self.generator.config,
        }

    def save_pretrained(self, path: Path) -> None:
        """``config.json`` (generator settings, cond type, beta_max) + ``model.safetensors`` (G only)."""
        save_weights(Path(path), self.generator.state_dict(), self.config)

    @classmethod
    def from_pretrained(cls, path: Path | None, codec: Codec) -> "MultiRealismDecoder":
        if path is None:
            raise RdpflexError("the multirealism decoder needs trained weights (a decoders/multirealism/ folder)")
        state, cfg = load_weights(Path(path))
        try:
            gcfg = dict(cfg["generator"])
            beta_max = float(cfg["beta_max"])
            if int(cfg.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
                raise RdpflexError(
                    f"{path}: multirealism format {cfg['format_version']} is newer than supported ({FORMAT_VERSION})"
                )
            generator = MultiRealismGenerator(**gcfg)
        except (KeyError, TypeError, ValueError) as exc:
            raise RdpflexError(f"{path}/config.json is not a multirealism decoder config: {exc}") from None
        if gcfg["latent_channels"] != codec.latent_channels or gcfg["codec_arch"] != codec.arch:
            raise RdpflexError(
                f"multirealism decoder in {path} was built for a {gcfg['codec_arch']!r} codec "
                f"with {gcfg['latent_channels']} "
                f"latent channels, not this {codec.arch!r} codec with {codec.latent_channels}"
            )
        try:
            generator.load_state_dict(state)
        except RuntimeError as exc:
            raise RdpflexError(f"{path}/model.safetensors does not match its config: {load_error(exc)}") from None
        dec = cls(generator, beta_max=beta_max).eval()
        device = _device_of(codec)
        return dec.to(device) if device is not None else dec

    # -- options -------------------------------------------------------------------------------
    def resolve_beta(self, options: BaseModel | dict[str, Any] | None) -> float:
        """The beta to decode with (:func:`rdpflex.cards.resolve_options`: validated against this decoder's range
        unless it already is); ``None`` means beta_max, in a dict as in a model."""
        if isinstance(options, dict):
            options = {k: v for k, v in options.items() if v is not None}
        return float(resolve_options(self, options).model_dump()["beta"])

    # -- decoding ------------------------------------------------------------------------------
    def decode(self, latent: Latent, codec: Codec, options: BaseModel, generator: torch.Generator) -> Tensor:
        """x_hat_beta = clamp(G(y_hat, beta), 0, 1): (1, 3, *latent.padded_size). G is deterministic,
        so the random ``generator`` is not used. Offsets for beta are precomputed and cached (Sec. 3.3)."""
        return self._generate(latent.y_hat, options, codec.latent_stride)

    def decode_batch(
        self,
        latents: Sequence[Latent],
        codec: Codec,
        options: BaseModel,
        generators: Sequence[torch.Generator],
    ) -> Tensor:
        """One G call for a batch of same-size latents (B, 3, Hp, Wp)."""
        return self._generate(torch.cat([lat.y_hat for lat in latents]), options, codec.latent_stride)

    def _generate(self, y_hat: Tensor, options: BaseModel | dict[str, Any] | None, stride: int = 16) -> Tensor:
        beta = self.resolve_beta(options)
        g = self.generator
        if y_hat.shape[1] != g.config["latent_channels"]:
            raise RdpflexError(
                f"latent has {y_hat.shape[1]} channels; this multirealism decoder expects {g.config['latent_channels']}"
            )
        was_training = g.training
        if was_training:
            g.eval()
        try:
            with torch.no_grad():
                g.precompute(beta)
                p = next(g.parameters())
                x_hat = synthesize(lambda t: g(t, beta), y_hat.to(p.device, p.dtype), stride)  # tiled on large images
        finally:
            if was_training:
                g.train()
        return x_hat.clamp(0, 1).to(y_hat.device, torch.float32)


def _device_of(module: nn.Module) -> torch.device | None:
    p = next(module.parameters(), None)
    return p.device if p is not None else None
