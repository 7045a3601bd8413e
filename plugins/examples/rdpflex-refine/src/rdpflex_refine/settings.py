"""Training settings of ``refine``: the ``decoder.settings`` section of a ``stage: decoder`` recipe."""

from pydantic import Field

from rdpflex.train.recipe import Strict  # a pydantic BaseModel with extra="forbid"


class RefineSettings(Strict):
    hidden: int = Field(16, ge=1, le=256, description="channels of the refiner's hidden layers")
    layers: int = Field(2, ge=1, le=8, description="hidden 3x3 conv layers")
