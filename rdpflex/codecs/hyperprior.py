"""Mean-scale hyperprior (Minnen, Ballé, Toderici 2018, "MSH" of Mari et al. 2024), sized for CPU work.

::

    x ─g_a (4 x conv5 s2 + GDN)─► y ─h_a─► z ─EntropyBottleneck─► z_hat ─h_s─► (scales, means)
                                  y ─GaussianConditional(scales, means)─► y_hat ─g_s─► x_hat

Built from compressai's layers and latent codecs (``HyperpriorLatentCodec`` =
``HyperLatentCodec`` + ``GaussianConditionalLatentCodec``), not rewritten.

References:
    D. Minnen, J. Ballé, G. Toderici, "Joint Autoregressive and Hierarchical Priors for Learned Image
    Compression", NeurIPS 2018, arXiv:1809.02736, Sec. 3 (the mean-scale hyperprior, without context).
    N. Mari, G. Lazzaretti, A. Rosato, M. Lelli, S. Sabatini, "Enhancing the Rate-Distortion-Perception
    Flexibility of Learned Image Codecs with Conditional Diffusion Decoders", arXiv:2403.02887 ("MSH").
"""

from __future__ import annotations

from compressai.entropy_models import EntropyBottleneck
from compressai.latent_codecs import GaussianConditionalLatentCodec, HyperLatentCodec, HyperpriorLatentCodec
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import nn

from rdpflex.codecs.base import Codec


def hyper_analysis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        conv(M, N, stride=1, kernel_size=3),
        nn.LeakyReLU(inplace=True),
        conv(N, N),
        nn.LeakyReLU(inplace=True),
        conv(N, N),
    )


def hyper_synthesis(N: int, M: int) -> nn.Sequential:
    return nn.Sequential(
        deconv(N, M),
        nn.LeakyReLU(inplace=True),
        deconv(M, M * 3 // 2),
        nn.LeakyReLU(inplace=True),
        conv(M * 3 // 2, M * 2, stride=1, kernel_size=3),
    )


def mean_scale_latent_codec(N: int, M: int, quantizer: str = "ste") -> HyperpriorLatentCodec:
    """Hyperprior latent codec with Gaussian means and scales predicted from z_hat."""
    return HyperpriorLatentCodec(
        latent_codec={
            "y": GaussianConditionalLatentCodec(quantizer=quantizer, chunks=("scales", "means")),
            "hyper": HyperLatentCodec(
                entropy_bottleneck=EntropyBottleneck(N), h_a=hyper_analysis(N, M), h_s=hyper_synthesis(N, M)
            ),
        }
    )


class MeanScaleHyperprior(Codec):
    """rdpflex's small mean-scale hyperprior (``msh``). Defaults N=64, M=96 train on a CPU in minutes."""

    arch = "msh"
    num_streams = 2

    def __init__(self, N: int = 64, M: int = 96) -> None:
        super().__init__(N=N, M=M)
        self.latent_channels = M
        self.g_a = nn.Sequential(
            conv(3, N),
            GDN(N),
            conv(N, N),
            GDN(N),
            conv(N, N),
            GDN(N),
            conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N),
            GDN(N, inverse=True),
            deconv(N, N),
            GDN(N, inverse=True),
            deconv(N, N),
            GDN(N, inverse=True),
            deconv(N, 3),
        )
        self.latent_codec = mean_scale_latent_codec(N, M)
