"""The conditional denoiser: a diffusers ``UNet2DModel`` whose input carries the latent (and optionally the MSE image).

::

    y_hat (B, M, H/16, W/16) ─LatentAdapter: conv3x3 SiLU conv3x3 SiLU conv1x1─► (B, C_c, H/16, W/16) ─bilinear ×16─┐
    x_mse (B, 3, H, W), 2x−1 (optional, HFD two-stage) ─────────────────────────────────────────────────────────────┤
    x_t   (B, 3, H, W) noisy image or residual ─────────────────────────────────────────────────────────────────────┘
                                        concat ─► UNet2DModel(t) ─► epsilon | v | x_0   (diffusers' prediction types)
                                                                    or the flow velocity ε − x_0 (objective: flow)

Mari, Lazzaretti, Rosato, Lelli, Sabatini 2024, "Enhancing the Rate-Distortion-Perception
Flexibility of Learned Image Codecs with Conditional Diffusion Decoders" (arXiv 2403.02887): the
encoder and entropy model of an RD codec stay frozen; a UNet conditioned on the (adapted, upsampled)
latent decodes it. Hoogeboom et al. 2023 (HFD, arXiv 2305.18231): condition on the MSE reconstruction
and let the diffusion model add the detail — ``target="residual"`` predicts x − x_mse instead of x.

Both parts are diffusers models (``ModelMixin`` + ``register_to_config``), saved with
``save_pretrained`` into ``unet/`` and ``adapter/`` and loaded with safetensors only.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

# the defining modules, not the package's lazy names: mypy reads those as diffusers' placeholder classes
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d import UNet2DModel
from torch import Tensor, nn

from rdpflex.tiling import MARGIN, Window

Target = Literal["image", "residual"]
#: residuals x − x_mse are scaled by this before diffusion (so they use the same [-1, 1] range as images)
RESIDUAL_SCALE = 2.0


# diffusers' ModelMixin and ConfigMixin type config_name differently (str / None); its own models mix them alike
class LatentAdapter(ModelMixin, ConfigMixin):  # type: ignore[misc]
    """y_hat -> ``cond_channels`` feature maps at image resolution (learned 3x3 convs, bilinear upsampling)."""

    @register_to_config
    def __init__(self, latent_channels: int, hidden: int = 64, cond_channels: int = 8, stride: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(latent_channels, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(hidden, cond_channels, 1),
        )

    def forward(self, y_hat: Tensor) -> Tensor:
        feats = self.net(y_hat)
        return F.interpolate(feats, scale_factor=self.config["stride"], mode="bilinear", align_corners=False)


def build_unet(
    in_channels: int,
    block_out_channels: tuple[int, ...],
    layers_per_block: int = 1,
    attention_levels: int = 0,
    norm_num_groups: int = 8,
) -> UNet2DModel:
    """A UNet2DModel with attention on its ``attention_levels`` lowest-resolution levels (Mari et al.: the last two)."""
    n = len(block_out_channels)
    down = tuple("AttnDownBlock2D" if i >= n - attention_levels else "DownBlock2D" for i in range(n))
    up = tuple(("AttnUpBlock2D" if b == "AttnDownBlock2D" else "UpBlock2D") for b in reversed(down))
    return UNet2DModel(
        in_channels=in_channels,
        out_channels=3,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        down_block_types=down,
        up_block_types=up,
        norm_num_groups=norm_num_groups,
        add_attention=attention_levels > 0,
    )


class ConditionalDenoiser(nn.Module):
    """adapter + UNet; ``condition`` once per image, then ``forward(x_t, t, cond)`` at every step."""

    def __init__(self, adapter: LatentAdapter, unet: UNet2DModel, condition_on_mse: bool, target: Target) -> None:
        super().__init__()
        self.adapter, self.unet = adapter, unet
        self.condition_on_mse, self.target = bool(condition_on_mse), target
        expected = 3 + adapter.config["cond_channels"] + (3 if condition_on_mse else 0)
        if unet.config["in_channels"] != expected:
            raise ValueError(
                f"UNet takes {unet.config['in_channels']} input channels; noisy image + adapter + mse need {expected}"
            )

    @classmethod
    def build(
        cls,
        latent_channels: int,
        *,
        block_out_channels: tuple[int, ...] = (32, 64, 64),
        layers_per_block: int = 1,
        attention_levels: int = 0,
        norm_num_groups: int = 8,
        adapter_hidden: int = 64,
        cond_channels: int = 8,
        stride: int = 16,
        condition_on_mse: bool = True,
        target: Target = "residual",
    ) -> "ConditionalDenoiser":
        adapter = LatentAdapter(latent_channels, adapter_hidden, cond_channels, stride)
        unet = build_unet(
            3 + cond_channels + (3 if condition_on_mse else 0),
            tuple(block_out_channels),
            layers_per_block,
            attention_levels,
            norm_num_groups,
        )
        return cls(adapter, unet, condition_on_mse, target)

    @property
    def needs_mse(self) -> bool:
        return self.condition_on_mse or self.target == "residual"

    def condition(self, y_hat: Tensor, x_mse: Tensor | None) -> Tensor:
        """The conditioning planes (B, C, H, W) of a batch of latents (and MSE images in [0, 1])."""
        cond = self.adapter(y_hat)
        if self.condition_on_mse:
            assert x_mse is not None, "this denoiser is conditioned on the MSE reconstruction"
            cond = torch.cat([cond, x_mse.to(cond.dtype) * 2 - 1], dim=1)
        return cond

    def condition_window(self, y_hat: Tensor, x_mse: Tensor | None, win: Window, margin: int = MARGIN) -> Tensor:
        """:meth:`condition` cropped to the image window ``win`` (aligned to the adapter's stride), computed from
        the latent under the window plus ``margin`` latent units: the adapter sees 2 units (two 3x3 convs) and its
        bilinear upsampling 1, so this equals the crop of the whole planes while holding one window's worth."""
        s = int(self.adapter.config["stride"])
        top, bottom, left, right = win
        i0, j0 = max(0, top // s - margin), max(0, left // s - margin)
        i1, j1 = min(y_hat.shape[-2], bottom // s + margin), min(y_hat.shape[-1], right // s + margin)
        feats = self.adapter(y_hat[..., i0:i1, j0:j1])
        cond = feats[..., top - i0 * s : bottom - i0 * s, left - j0 * s : right - j0 * s]
        if self.condition_on_mse:
            assert x_mse is not None, "this denoiser is conditioned on the MSE reconstruction"
            cond = torch.cat([cond, x_mse[..., top:bottom, left:right].to(cond.dtype) * 2 - 1], dim=1)
        return cond

    def forward(
        self,
        x_t: Tensor,
        t: Tensor | int,
        cond: Tensor | None = None,
        *,
        y_hat: Tensor | None = None,
        x_mse: Tensor | None = None,
    ) -> Tensor:
        """Model output for x_t at t. Sampling passes ``cond`` (computed once); training passes ``y_hat``
        (and ``x_mse``) so the adapter runs inside the (DDP-wrapped) forward and its gradients synchronise."""
        if cond is None:
            assert y_hat is not None, "pass cond, or y_hat (and x_mse) to condition on"
            cond = self.condition(y_hat, x_mse)
        return self.unet(torch.cat([x_t, cond.to(x_t.dtype)], dim=1), t).sample

    # -- the diffused variable x_0 <-> the image --------------------------------------------------
    def to_x0(self, x: Tensor, x_mse: Tensor | None) -> Tensor:
        """Image in [0, 1] -> the diffused variable (image in [-1, 1], or scaled residual over x_mse)."""
        if self.target == "residual":
            assert x_mse is not None, "a residual denoiser needs the MSE reconstruction"
            return (x - x_mse) * RESIDUAL_SCALE
        return x * 2 - 1

    def to_image(self, x0: Tensor, x_mse: Tensor | None) -> Tensor:
        """The diffused variable -> image (unclamped)."""
        if self.target == "residual":
            assert x_mse is not None, "a residual denoiser needs the MSE reconstruction"
            return x_mse + x0 / RESIDUAL_SCALE
        return (x0 + 1) / 2
