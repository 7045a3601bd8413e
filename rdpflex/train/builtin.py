"""rdpflex's built-in training stages, registered through the same hook as a plugin's, as cards.

Entry point (pyproject.toml): ``[project.entry-points.rdpflex] rdpflex_core_stages = "rdpflex.train.builtin"``.
The cards carry each stage's recipe section (``Config``) without importing torch: ``rdpflex recipes
validate`` needs no more.
"""

from __future__ import annotations

from collections.abc import Callable

from rdpflex.cards import StageCard
from rdpflex.hookspecs import hookimpl
from rdpflex.train.configs import CodecStageConfig, DecoderStageConfig, decoder_stage_problems
from rdpflex.train.recipe_models import Recipe


def _codec_problems(recipe: Recipe, config: CodecStageConfig) -> list[tuple[str, str]]:
    return config.crop_problems(recipe)


CODEC = StageCard(
    name="codec",
    Config=CodecStageConfig,
    implementation="rdpflex.train.codec_stage:CodecStage",
    description="rate-distortion training of encoder + entropy model + reference synthesis "
    "(lambda x 255^2 x MSE + bpp, plus the aux quantile loss)",
    check_recipe=_codec_problems,
)
DECODER = StageCard(
    name="decoder",
    Config=DecoderStageConfig,
    implementation="rdpflex.train.decoder_stage:DecoderStage",
    description="train one decoder family (decoder.family) on the frozen codec of decoder.system",
    check_recipe=decoder_stage_problems,
)


@hookimpl
def register_stages(register: Callable[[StageCard], None]) -> None:
    register(CODEC)
    register(DECODER)
