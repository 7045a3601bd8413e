"""Training settings of the multi-realism family (light: pydantic only, no torch).

The ``decoder.settings`` of ``family: multirealism`` (:class:`MultiRealismSettings`) and the ``joint:``
section (:class:`JointConfig`) of Agustsson, Minnen, Toderici, Mentzer 2023, "Multi-Realism Image
Compression with a Conditional Generator", CVPR 2023, arXiv:2212.13824 (Sec. 3.2, 4.5, 5.2).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from rdpflex.train.configs import CodecSource
from rdpflex.train.recipe import Strict


class GeneratorSettings(Strict):
    N: int = Field(256, ge=4, description="Generator width (paper: 256).")
    blocks: int = Field(3, ge=1, description="Residual blocks per scale (ELIC: 3).")
    cond: Literal["fourier", "table", "none"] = Field(
        "fourier", description="beta conditioning: FourierCond, TableCond, or none (fixed-beta GAN baseline)."
    )
    cond_hidden: int = Field(512, ge=8, description="FourierCond MLP width (paper: 512).")
    table_bins: int = Field(64, ge=2, description="TableCond: beta bins.")
    cond_activation: Literal["relu", "silu"] = Field(
        "silu",
        description="FourierCond MLP activation: `silu` (default; its units cannot die) or the paper's `relu` "
        "(measured on the demo G: with a 10x conditioning learning rate all but 5 of 128 ReLU units died).",
    )
    cond_anchor: bool = Field(
        False,
        description="FourierCond features f(beta) - f(0): every offset is 0 at beta = 0, so beta = 0 is exactly the "
        "unconditional G and the conditioning learns only the departure from it (the paper: false).",
    )
    cond_gain: bool = Field(
        False,
        description="FourierCond also scales each conditional conv's output by 1 + S f(beta) (FiLM, "
        "arXiv:1709.07871) besides the paper's additive offset W f(beta).",
    )
    fourier_scale: float | None = Field(
        None,
        gt=0,
        description="FourierCond encodes fourier_scale * beta (default 1 / beta_train_max: beta normalised to "
        "[0, 1], as NeRF normalises coordinates; 1 encodes raw beta, whose top frequencies alias).",
    )


class DiscriminatorSettings(Strict):
    channels: list[int] = Field(
        [64, 128, 256, 512], min_length=2, description="HiFiC widths: three stride-2 convs and one stride-1 conv."
    )
    latent_features: int = Field(12, ge=1, description="Channels of the y_hat branch (HiFiC: 12).")
    lr: float = Field(1e-4, gt=0, description="D's Adam learning rate (HiFiC: 1e-4).")
    betas: tuple[float, float] = Field(
        (0.5, 0.9), description="D's Adam betas (HiFiC: (0.5, 0.9); (0.9, 0.999) let the toy D collapse)."
    )
    clip_grad_norm: float | None = Field(
        None, gt=0, description="Clip D's gradient norm (null: no clipping; train.clip_grad_norm is G's)."
    )
    input_scale: float = Field(
        1.0,
        gt=0,
        description="Gain on D's image input "
        "(spectral norm keeps D ~1-Lipschitz; >1 lets a small D see small residuals sooner).",
    )
    warmup: int = Field(
        0,
        ge=0,
        description="D trains alone for this many steps before `gan_start` (it starts from step gan_start - warmup).",
    )


class MultiRealismSettings(Strict):
    """Generator, discriminator and Eq. 4 settings (shared by ``joint`` and ``decoder`` training)."""

    # model_validate({}): the same defaults; mypy reads positional Field defaults as required fields (no plugin)
    generator: GeneratorSettings = Field(default_factory=lambda: GeneratorSettings.model_validate({}))
    discriminator: DiscriminatorSettings = Field(default_factory=lambda: DiscriminatorSettings.model_validate({}))
    beta_train_max: float = Field(
        5.12, gt=0, description="beta ~ U(0, beta_train_max) per example in training (paper: 5.12)."
    )
    beta_max: float = Field(
        2.56, ge=0, description="Largest beta offered at decode time, stored with the weights (paper: 2.56)."
    )
    fixed_beta: float | None = Field(
        None, ge=0, description="GAN baseline: train at this beta only (use with generator.cond: none)."
    )
    gan_start: int = Field(
        0,
        ge=0,
        description="Step from which the GAN term enters G's loss; before it, Eq. 4 without -log D "
        "(G first learns the distortion, as ESRGAN starts from a PSNR-trained G, arXiv:1809.00219).",
    )
    c_p: float = Field(4.26, ge=0, description="C_P, LPIPS weight relative to the GAN term (HiFiC's 4.26).")
    decoupled_c_p: float | None = Field(
        None, ge=0, description="Ablation: LPIPS weighted by this C'_P instead of beta * C_P."
    )
    perceptual: Literal["lpips", "st-lpips", "none"] = Field(
        "lpips",
        description="The C_P term of Eq. 4: `lpips` (the paper's LPIPS-alex; needs the AlexNet weights in "
        "$TORCH_HOME/hub/checkpoints or `lpips_weights`), `st-lpips` (shift-tolerant LPIPS, weights shipped in "
        "the stlpips-pytorch wheel: the offline alternative), `none` (C_P effectively 0).",
    )
    init: str | None = Field(
        None,
        description="Warm start: a system directory whose multirealism G gives this G's unconditional weights "
        "(same widths); the beta conditioning starts fresh with zero output projections, so training starts "
        "from that G at every beta (as ESRGAN starts its GAN from a PSNR-trained G, arXiv:1809.00219).",
    )
    cond_lr_factor: float = Field(
        1.0,
        gt=0,
        description="Learning-rate multiplier of G's beta conditioning (FourierCond MLP and projections): its "
        "gradient is far smaller than the rest of G's (measured ~40x), so it learns slowly at optim.lr.",
    )
    train_body: bool = Field(
        True,
        description="Train G's unconditional weights too; false (with `init`) trains only the beta conditioning, "
        "so beta = 0 keeps the initial G's distortion.",
    )
    lpips_weights: str | None = Field(
        None,
        description="Weight file of the perceptual network (lpips: alexnet-owt-7be5be79.pth, default the torch "
        "hub cache; st-lpips: alex_shift_tolerant.pth, default the installed wheel's).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "MultiRealismSettings":
        if self.generator.cond == "none" and self.fixed_beta is None:
            raise ValueError("generator.cond 'none' (GAN baseline) needs fixed_beta")
        if self.fixed_beta is not None and self.generator.cond != "none":
            raise ValueError("fixed_beta is the GAN baseline: set generator.cond to 'none'")
        if self.discriminator.warmup > self.gan_start:
            raise ValueError(
                f"discriminator.warmup ({self.discriminator.warmup}) exceeds gan_start ({self.gan_start}): "
                "D warms up before the GAN term starts"
            )
        if not self.train_body and (self.init is None or self.generator.cond == "none"):
            raise ValueError("train_body: false trains only the beta conditioning of a warm-started G: set init")
        if self.fixed_beta is None and self.beta_max > self.beta_train_max:
            raise ValueError(f"beta_max ({self.beta_max}) exceeds beta_train_max ({self.beta_train_max})")
        return self


class JointCodec(CodecSource):
    """``joint.codec``: the codec E and the entropy model come from (paper: ELIC + Charm, from scratch)."""

    arch: str = Field("elic", description="Codec architecture of E and the entropy model (paper: elic = ELIC + Charm).")


class JointConfig(Strict):
    """The ``joint:`` section: the codec to train (``codec``), Eq. 4's lambda, and G, D and Eq. 4 (``multirealism``).

    Composed of the same two sections the other stages use: ``codec`` is the ``codec`` stage's codec
    source, ``multirealism`` the ``decoder.settings`` of ``family: multirealism``.
    """

    codec: JointCodec = Field(
        default_factory=lambda: JointCodec.model_validate({}),
        description="The codec to train: `arch`/`config` (fresh) or `init` (a system directory), `aux_lr`.",
    )
    lmbda: float = Field(
        0.01,
        gt=0,
        alias="lambda",
        description="Eq. 4's lambda: rate weight lambda' = 100 lambda (0.01: Eq. 1 with lambda = 1/100).",
    )
    multirealism: MultiRealismSettings = Field(
        default_factory=lambda: MultiRealismSettings.model_validate({}),
        description="Generator, discriminator and Eq. 4 weights.",
    )


def joint_problems(recipe: Any, config: JointConfig) -> list[tuple[str, str]]:
    """``data.crop`` must suit the codec (cross-section check of ``stage: joint``)."""
    return config.codec.crop_problems(recipe)
