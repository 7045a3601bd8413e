"""ELIC-style transforms (He et al. 2022) with the Charm entropy model, as in Multi-Realism
(Agustsson et al. 2023, Sec. 4.1).

E (g_a): conv5 s2 + 3 residual bottleneck blocks per scale, attention at the two lowest scales.
g_s mirrors it (the multi-realism generator G makes every residual block beta-conditional).
Entropy model: hyperprior (z) + Charm with 10 equal channel slices. Paper sizes: N=192, M=320
(G uses N=256); ``elic(N=16, M=20)`` is a test-sized instance.

References:
    D. He, Z. Yang, W. Peng, R. Ma, H. Qin, Y. Wang, "ELIC: Efficient Learned Image Compression with
    Unevenly Grouped Space-Channel Contextual Adaptive Coding", CVPR 2022, arXiv:2203.10886, Sec. 3.3.
    E. Agustsson, D. Minnen, G. Toderici, F. Mentzer, "Multi-Realism Image Compression with a
    Conditional Generator", CVPR 2023, arXiv:2212.13824, Sec. 4.1.
"""

from __future__ import annotations

from compressai.entropy_models import EntropyBottleneck
from compressai.latent_codecs import HyperLatentCodec, HyperpriorLatentCodec
from compressai.layers import AttentionBlock
from compressai.models.sensetime import ResidualBottleneckBlock
from compressai.models.utils import conv, deconv
from torch import nn

from rdpflex.codecs.base import Codec
from rdpflex.codecs.charm import ChannelSlicesLatentCodec


def elic_analysis(N: int, M: int, blocks: int = 3) -> nn.Sequential:
    def rbs() -> list[nn.Module]:
        return [ResidualBottleneckBlock(N, N) for _ in range(blocks)]

    return nn.Sequential(
        conv(3, N, kernel_size=5, stride=2),
        *rbs(),
        conv(N, N, kernel_size=5, stride=2),
        *rbs(),
        AttentionBlock(N),
        conv(N, N, kernel_size=5, stride=2),
        *rbs(),
        conv(N, M, kernel_size=5, stride=2),
        AttentionBlock(M),
    )


def elic_synthesis(N: int, M: int, blocks: int = 3) -> nn.Sequential:
    def rbs() -> list[nn.Module]:
        return [ResidualBottleneckBlock(N, N) for _ in range(blocks)]

    return nn.Sequential(
        AttentionBlock(M),
        deconv(M, N, kernel_size=5, stride=2),
        *rbs(),
        deconv(N, N, kernel_size=5, stride=2),
        AttentionBlock(N),
        *rbs(),
        deconv(N, N, kernel_size=5, stride=2),
        *rbs(),
        deconv(N, 3, kernel_size=5, stride=2),
    )


class ElicCharm(Codec):
    """ELIC transforms + hyperprior + Charm (``elic``): the multi-realism paper's codec."""

    arch = "elic"

    def __init__(self, N: int = 192, M: int = 320, slices: int = 10, blocks: int = 3, hidden: int = 224) -> None:
        super().__init__(N=N, M=M, slices=slices, blocks=blocks, hidden=hidden)
        self.latent_channels = M
        self.num_streams = slices + 1
        self.g_a = elic_analysis(N, M, blocks)
        self.g_s = elic_synthesis(N, M, blocks)
        h_a = nn.Sequential(
            conv(M, N, kernel_size=3, stride=1),
            nn.ReLU(inplace=True),
            conv(N, N, kernel_size=5, stride=2),
            nn.ReLU(inplace=True),
            conv(N, N, kernel_size=5, stride=2),
        )
        h_s = nn.Sequential(
            deconv(N, N, kernel_size=5, stride=2),
            nn.ReLU(inplace=True),
            deconv(N, N * 3 // 2, kernel_size=5, stride=2),
            nn.ReLU(inplace=True),
            conv(N * 3 // 2, M * 2, kernel_size=3, stride=1),
        )
        self.latent_codec = HyperpriorLatentCodec(
            latent_codec={
                "y": ChannelSlicesLatentCodec(M, side_channels=2 * M, slices=slices, hidden=hidden),
                "hyper": HyperLatentCodec(entropy_bottleneck=EntropyBottleneck(N), h_a=h_a, h_s=h_s, quantizer="ste"),
            }
        )
