"""Decode-time options of ``multirealism`` (light: pydantic only, no torch).

Agustsson, Minnen, Toderici, Mentzer 2023, "Multi-Realism Image Compression with a Conditional
Generator", CVPR 2023, arXiv:2212.13824: beta in [0, beta_max], beta_max = 2.56 at inference (Sec. 5.2.1).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, create_model

#: beta_max at inference in the paper (Sec. 5.2.1): FID is lowest there
PAPER_BETA_MAX = 2.56

_BETA_DOC = (
    "realism weight beta: 0 = lowest distortion (highest PSNR), beta_max = highest realism; "
    "default: the beta_max stored with the weights (2.56 in the paper)"
)


class MultiRealismOptions(BaseModel):
    """Class-level options (before weights are loaded): ``beta >= 0``; ``None`` means beta_max.

    The upper bound depends on the weights; a loaded decoder validates against its own range.
    """

    model_config = ConfigDict(extra="forbid")

    beta: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = Field(None, description=_BETA_DOC)


@cache
def options_for(beta_max: float, beta_min: float = 0.0) -> type[BaseModel]:
    """The ``Options`` model of a decoder whose weights allow ``beta_min <= beta <= beta_max``."""
    return create_model(
        "MultiRealismOptions",
        __config__=ConfigDict(extra="forbid"),
        beta=(
            Annotated[float, Field(ge=beta_min, le=beta_max, allow_inf_nan=False)],
            Field(beta_max, description=_BETA_DOC),
        ),
    )
