"""rdpflex's built-in training stages, registered through the same hook as a plugin's.

Entry point (pyproject.toml): ``[project.entry-points.rdpflex] rdpflex_core_stages = "rdpflex.train.builtin"``.
"""

from __future__ import annotations

from rdpflex.hookspecs import hookimpl


@hookimpl
def register_stages(register):
    from rdpflex.train.codec_stage import CodecStage
    from rdpflex.train.decoder_stage import DecoderStage

    register(CodecStage)
    register(DecoderStage)
