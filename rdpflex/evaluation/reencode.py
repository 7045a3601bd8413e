"""Re-encoding consistency: does a decoder's output re-encode to the bitstream it came from?

Xu, Zhang, Li, Ma, "Idempotence and Perceptual Image Compression" (ICLR 2024, arXiv:2401.08920,
Sec. 3) show that a perceptual decoder that samples the true posterior is idempotent: re-encoding
its output with the same codec gives back the same quantised latent. This measures it for any
decoder: the output is re-encoded with the codec (the file's entropy path), and compared with the
file's latent (fraction of latent elements in the same quantisation bin, |Δŷ| < 0.5), its bitstream
(byte-identical or not), and the
``mse`` reconstructions of both (PSNR between them: how far a receiver that decodes the
re-encoded file with ``mse`` lands from one that decodes the original).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rdpflex.bitstream import EncodedImage
from rdpflex.codecs.base import Codec
from rdpflex.images import psnr
from rdpflex.latent import Latent
from rdpflex.tiling import analyse, synthesize

__all__ = ["Reencoding", "reencode", "mse_reconstruction", "REENCODE_COLUMNS"]

#: the columns ``compare`` adds per image and averages per setting
REENCODE_COLUMNS = ("reencode_agreement", "reencode_identical", "reencode_mse_psnr")


@dataclass
class Reencoding:
    latent_agreement: (
        float  # fraction of y_hat elements of the re-encoded output in the file's quantisation bin (|diff| < 0.5)
    )
    bitstream_identical: bool  # every re-encoded stream byte-identical to the file's
    mse_psnr: float  # PSNR (dB) between g_s of the re-encoded latent and g_s of the file's latent


@torch.no_grad()
def reencode(
    image: Tensor,
    latent: Latent,
    record: EncodedImage,
    codec: Codec,
    exact: bool = True,
    reference: Tensor | None = None,
) -> Reencoding:
    """Re-encode ``image`` (1, 3, H, W) in [0, 1], the decoded output of ``record``, and compare.

    ``reference`` is the ``mse`` reconstruction of the file's latent (cropped to H, W); pass it when
    re-encoding several outputs of one image, so it is synthesised once.
    """
    device = next(codec.parameters()).device
    x = codec.pad(image.to(device).clamp(0, 1))
    out = codec.entropy_encode(analyse(codec.g_a, x, codec.latent_stride), exact)  # tiled: bounded memory
    y_file = latent.y_hat.to(device)
    y_new = out["y_hat"]
    # the same quantisation bin: the re-encoded means (from the output's own side information) shift
    # y_hat continuously, a different symbol moves it by about one step
    agreement = float(((y_new - y_file).abs() < 0.5).float().mean())
    identical = [s[0] for s in out["strings"]] == list(record.streams)
    if reference is None:
        reference = mse_reconstruction(latent, codec)
    return Reencoding(
        agreement,
        identical,
        psnr(reference, mse_reconstruction(Latent(y_new, latent.image_size, latent.padded_size), codec)),
    )


@torch.no_grad()
def mse_reconstruction(latent: Latent, codec: Codec) -> Tensor:
    """g_s(ŷ) cropped to the image size, in [0, 1] (tiled on large latents, as the ``mse`` decoder)."""
    H, W = latent.image_size
    y_hat = latent.y_hat.to(next(codec.parameters()).device)
    return synthesize(codec.g_s, y_hat, codec.latent_stride)[..., :H, :W].clamp(0, 1)
