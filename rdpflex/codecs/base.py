"""The codec: analysis transform g_a + compressai entropy model (a latent codec) + synthesis g_s.

::

    x ─pad─► g_a ─► y ─latent_codec─► strings (one list of byte strings per image)
    strings ─latent_codec.decompress─► y_hat ─► g_s ─► x_hat (reference "mse" reconstruction)

Every codec, rdpflex's own or imported from CompressAI, is a :class:`Codec`: a
``compressai.models.CompressionModel`` (so ``update()``, ``aux_loss()`` and the entropy-table aware
``load_state_dict`` come from CompressAI) whose entropy model is a compressai ``LatentCodec``.
Subclasses only build ``g_a``, ``g_s`` and ``latent_codec`` and declare their config.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from compressai.latent_codecs import RasterScanLatentCodec
from compressai.models import CompressionModel
from torch import Tensor

from rdpflex.codecs.entropy_coder import FLOAT_NETWORKS, EntropyCoder, RateEstimate, StreamObserver
from rdpflex.codecs.exact import EXACT_NETWORKS, ExactPathError
from rdpflex.errors import BitstreamError, EntropyMismatchError


class Codec(CompressionModel):
    """Base of all codecs. Subclasses set ``arch``, ``downsample`` and build the three parts.

    ``config`` holds the constructor keyword arguments; ``type(codec)(**codec.config)`` rebuilds an
    identical architecture, which is how systems are saved and loaded.
    """

    arch: ClassVar[str]
    downsample: ClassVar[int] = 64  # input sides must be multiples of this (padding does it)
    #: channels of y_hat, the latent every decoder plugin receives
    latent_channels: int
    #: downsampling factor between the image and y_hat
    latent_stride: ClassVar[int] = 16
    #: how many entropy-coded byte strings one image has (checked when a file is decoded)
    num_streams: int

    g_a: torch.nn.Module
    g_s: torch.nn.Module

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config = dict(config)

    # -- training path -------------------------------------------------------------------------
    def forward(self, x: Tensor, detach_synthesis: bool = False) -> dict[str, Any]:
        """Noisy/STE quantisation for training: ``{"x_hat", "y_hat", "likelihoods"}``.

        ``detach_synthesis=True`` trains g_s as the reference (mse) decoder of a latent shaped by other
        losses (joint multi-realism training) without letting its loss reach the encoder.
        """
        y = self.g_a(x)
        out = self.latent_codec(y)
        y_hat = out["y_hat"]
        x_hat = self.g_s(y_hat.detach() if detach_synthesis else y_hat)
        return {"x_hat": x_hat, "y_hat": y_hat, "likelihoods": out["likelihoods"]}

    def quantize(self, x: Tensor) -> dict[str, Any]:
        """Like :meth:`forward` without the synthesis: for decoders trained on the codec's latent."""
        out = self.latent_codec(self.g_a(x))
        return {"y_hat": out["y_hat"], "likelihoods": out["likelihoods"]}

    def synthesize(self, y_hat: Tensor) -> Tensor:
        """Reference synthesis g_s (unclamped)."""
        return self.g_s(y_hat)

    # -- entropy coding --------------------------------------------------------------------------
    def latent_shape(self, padded_hw: tuple[int, int]) -> tuple[int, int, int]:
        """(C, h, w) of y_hat for a padded image of ``padded_hw``."""
        h, w = padded_hw
        return (self.latent_channels, h // self.latent_stride, w // self.latent_stride)

    def decompress_shape(self, padded_hw: tuple[int, int]) -> Any:
        """The ``shape`` argument of ``latent_codec.decompress`` for a padded image size."""
        h, w = padded_hw
        s = self.latent_stride
        return {"y": (h // s, w // s), "hyper": (h // (4 * s), w // (4 * s))}

    @torch.no_grad()
    def compress(self, x: Tensor, exact: bool = True) -> dict[str, Any]:
        """Entropy-code a padded batch: ``{"strings": [[bytes]*B]*S, "y_hat", "symbols_crc"}``.

        ``exact=True`` computes the entropy parameters with the order-independent fixed-point path
        (:mod:`rdpflex.codecs.exact`), so any machine decodes the same latent; ``exact=False`` is
        compressai's float path (byte-identical to a zoo model's own ``compress()``).
        ``symbols_crc`` is the CRC32 of every coded symbol (:mod:`rdpflex.codecs.checksum`), one
        value for the whole batch: encode one image at a time to record it per image.
        """
        self._check_padded(x)
        return self.entropy_encode(self.g_a(x), exact)

    @torch.no_grad()
    def entropy_encode(self, y: Tensor, exact: bool = True, estimate: bool = False) -> dict[str, Any]:
        """Entropy-code the latent ``y`` of a padded batch (see :meth:`compress`). With ``estimate`` the result
        also holds ``estimated_bits``: the model's own bits for what was coded (:class:`RateEstimate`)."""
        rate = RateEstimate() if estimate else None
        try:
            strings, y_hat, crc = self.entropy_coder(exact, rate).compress(y)
        except ExactPathError as exc:
            raise BitstreamError(f"cannot encode: {exc}") from exc
        return {"strings": strings, "y_hat": y_hat, "symbols_crc": crc} | (
            {"estimated_bits": rate.bits} if rate is not None else {}
        )

    def entropy_coder(self, exact: bool = True, observe: StreamObserver | None = None) -> EntropyCoder:
        """The entropy coder of this codec on the exact or float path: composed around the latent codec,
        which it never changes (one codec can code in several threads at once); ``observe`` sees every
        coded stream."""
        return EntropyCoder(self.latent_codec, EXACT_NETWORKS if exact else FLOAT_NETWORKS, observe)

    def decompress_latent(
        self, streams: list[bytes], padded_hw: tuple[int, int], exact: bool = True, symbols_crc: int | None = None
    ) -> Tensor:
        """Entropy-decode one image's streams (as written in the file) into y_hat (1, C, h, w).

        ``exact`` must match the encoder's entropy path. With ``symbols_crc`` the decoded symbols
        are checked against the encoder's: a mismatch raises :class:`EntropyMismatchError`.
        """
        return self.decompress_latents([streams], padded_hw, [symbols_crc], exact)[0]

    @property
    def batch_entropy_decodable(self) -> bool:
        """Whether :meth:`decompress_latents` can decode several images in one call: every entropy model
        codes the whole batch tensor at once. compressai's raster-scan context model decodes item by
        item inside the call, so its symbols could not be told apart for the per-image CRC."""
        return not any(isinstance(m, RasterScanLatentCodec) for m in self.latent_codec.modules())

    @torch.no_grad()
    def decompress_latents(
        self,
        streams: list[list[bytes]],
        padded_hw: tuple[int, int],
        symbols_crcs: list[int | None],
        exact: bool = True,
    ) -> list[Tensor]:
        """Entropy-decode images of one padded size in one call (``streams[i]``: image i's streams).

        Each image's symbols are checked against its own CRC (``None``: not checked). Several images
        need the exact path and :attr:`batch_entropy_decodable`: the exact path's entropy parameters
        do not depend on the batch (order-independent sums), so each latent equals the one decoded
        alone. An error is raised for the batch as a whole: decode the images one by one to learn which.
        """
        n = len(streams)
        if n > 1 and not (exact and self.batch_entropy_decodable):
            raise BitstreamError(
                f"codec {self.arch} entropy-decodes a batch only on the exact path and without a raster-scan "
                "context model"
            )
        try:
            y_hat, crcs = self.entropy_coder(exact).decompress(
                [list(s) for s in zip(*streams)], self.decompress_shape(padded_hw), n
            )
        except ExactPathError as exc:
            raise BitstreamError(str(exc)) from exc
        except (RuntimeError, ValueError, AssertionError, IndexError) as exc:
            raise BitstreamError(f"entropy decoding failed ({exc.__class__.__name__}): {exc}") from exc
        for value, expected in zip(crcs, symbols_crcs):
            if expected is not None and value != expected:
                path = "exact fixed-point" if exact else "float (CompressAI-compatible)"
                raise EntropyMismatchError(
                    f"decoded symbols differ from the encoder's (symbol CRC32 {value:08x}, file says "
                    f"{expected:08x}): the entropy parameters were computed differently from the encoder's {path} "
                    "path - another device, thread count, precision (TF32/bf16) or codec build; re-encode with "
                    "the exact entropy path (the default) or decode where the file was made"
                )
        return list(y_hat.split(1))

    @torch.no_grad()
    def decompress(self, streams: list[bytes], padded_hw: tuple[int, int], exact: bool = True) -> dict[str, Tensor]:
        y_hat = self.decompress_latent(streams, padded_hw, exact)
        return {"y_hat": y_hat, "x_hat": self.g_s(y_hat).clamp(0, 1)}

    # -- helpers ---------------------------------------------------------------------------------
    def padded_size(self, hw: tuple[int, int]) -> tuple[int, int]:
        m = self.downsample
        return (-(-hw[0] // m) * m, -(-hw[1] // m) * m)

    def pad(self, x: Tensor) -> Tensor:
        """Replicate-pad (right/bottom) to a multiple of ``downsample``; crop back with ``[..., :H, :W]``."""
        H, W = x.shape[-2:]
        Hp, Wp = self.padded_size((H, W))
        if (Hp, Wp) == (H, W):
            return x
        return F.pad(x, (0, Wp - W, 0, Hp - H), mode="replicate")

    def _check_padded(self, x: Tensor) -> None:
        if x.shape[-2] % self.downsample or x.shape[-1] % self.downsample:
            raise ValueError(f"input {tuple(x.shape)} not padded to a multiple of {self.downsample}")

    def describe(self) -> str:
        params = sum(p.numel() for p in self.parameters())
        cfg = ", ".join(f"{k}={v}" for k, v in sorted(self.config.items()))
        return f"{self.arch}({cfg}), {params / 1e6:.2f} M parameters"
