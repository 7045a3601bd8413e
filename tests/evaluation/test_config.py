"""``CompareConfig``: compare's options, normalised and checked once, before any work."""

from pathlib import Path

import pytest

from rdpflex.errors import RdpflexError
from rdpflex.evaluation import CompareConfig


def test_sequences_are_normalised():
    cfg = CompareConfig(decoders=["mse"], metrics=["psnr"], qualities=[50, 10, 50], out_dir="r")
    assert cfg.decoders == ("mse",) and cfg.metrics == ("psnr",)
    assert cfg.qualities == (10, 50) and cfg.out == Path("r")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"crop_size": 4}, "crop size must be at least 8 px"),
        ({"viewer_images": "big"}, "viewer images must be one of"),
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"qualities": (0, 50)}, "baseline qualities must lie in 1..100"),
    ],
)
def test_invalid_options_raise_when_the_config_is_made(options, message):
    with pytest.raises(RdpflexError, match=message):
        CompareConfig(**options)


def test_out_of_range_qualities_pass_without_baselines():
    assert CompareConfig(baselines=False, qualities=(0,)).qualities == (0,)


def test_a_file_is_no_report_directory(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RdpflexError, match="exists and is not a directory"):
        CompareConfig(out_dir=tmp_path / "f")


def test_keyword_options_replace_the_configs_fields():
    base = CompareConfig(decoders=["mse"], seed=3)
    cfg = CompareConfig.from_options(base, {"seed": 5})
    assert cfg.decoders == ("mse",) and cfg.seed == 5
    with pytest.raises(TypeError, match="unexpected keyword argument 'sed'"):
        CompareConfig.from_options(base, {"sed": 5})
