"""Decode-time knobs of ``refine`` (``rdpflex decompress --set strength=0.5``)."""

from pydantic import BaseModel, ConfigDict, Field


class RefineOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown --set key is an error, not silently ignored

    strength: float = Field(1.0, ge=0.0, le=2.0, description="scale of the learned residual: 0 = the mse image, 1 = as trained")
    unsharp: float = Field(0.0, ge=0.0, le=2.0, description="extra unsharp-mask amount on the mse image (0 = none)")
