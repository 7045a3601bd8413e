"""Training exports write the model card: the run appended to the system's history, figures measured on the
held-out images, README.md with front matter (rdpflex.train.card, rdpflex.model_card)."""

from __future__ import annotations

import math
import shutil

import pytest
import yaml

from rdpflex.bitstream import dumps
from rdpflex.errors import RdpflexError
from rdpflex.model_card import render_card
from rdpflex.pipeline import compress_images
from rdpflex.system import System
from rdpflex.train.card import card_for, main, measure
from rdpflex.train.trainer import train
from rdpflex.weights import read_json


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


def test_a_codec_then_a_decoder_export_each_write_the_card(tmp_path):
    codec = train("tiny/codec", ["validation.card=true"], output=tmp_path / "codec")
    info = read_json(codec / "system.json")
    [run] = info["training"]
    assert (run["recipe"], run["stage"], run["trains"], run["steps"]) == ("tiny/codec", "codec", "codec", 6)
    ev = info["evaluation"]
    assert ev["fingerprint"] == info["fingerprint"] and list(ev["decoders"]) == ["mse"]
    assert ev["images"] and all(math.isfinite(v) for v in ev["decoders"]["mse"].values())
    card = (codec / "README.md").read_text()
    assert front_matter(card)["library_name"] == "rdpflex" and f"**{ev['bpp']:.4f} bpp**" in card

    dec = train("tiny/cdiff-decoder", [f"decoder.system={codec}", "validation.card=true"], output=tmp_path / "cdiff")
    info = read_json(dec / "system.json")
    assert [(r["recipe"], r["trains"]) for r in info["training"]] == [
        ("tiny/codec", "codec"),
        ("tiny/cdiff-decoder", "cdiff"),
    ]
    assert info["training"][1]["overrides"] == [f"decoder.system={codec}", "validation.card=true"]
    assert set(info["evaluation"]["decoders"]) == {"mse", "cdiff"}
    card = (dec / "README.md").read_text()
    assert "decoder-cdiff" in front_matter(card)["tags"] and "| `tiny/cdiff-decoder`" in card
    assert "`steps`=" in card  # the cdiff knobs with their defaults


def test_a_recipe_can_leave_the_figures_out(tmp_path):
    codec = train("tiny/codec", ["train.steps=1"], output=tmp_path / "codec")  # tiny/codec: validation.card false
    info = read_json(codec / "system.json")
    assert "evaluation" not in info and [r["steps"] for r in info["training"]] == [1]
    assert "Not measured for this codec" in (codec / "README.md").read_text()


def test_measure_reports_bpp_from_the_file_bytes(tiny_system_dir):
    from rdpflex.images import from_uint8
    from rdpflex.samples import sample_array

    x = from_uint8(sample_array("astronaut")[:64, :96])
    ev = measure(System.load(tiny_system_dir), [("astronaut", x)])
    rdp = compress_images([("astronaut", x)], System.load(tiny_system_dir)).rdp
    header = len(dumps(type(rdp)(rdp.fingerprint, [], rdp.arch)))
    assert ev["bpp"] == pytest.approx(8 * (len(dumps(rdp)) - header) / (64 * 96))
    assert ev["labels"]["psnr"] == "PSNR" and set(ev["decoders"]["mse"]) == {"psnr", "st-lpips"}
    with pytest.raises(RdpflexError, match="at least one image"):
        measure(System.load(tiny_system_dir), [])


def test_card_for_replaces_the_history_and_renders_without_figures_first(tmp_path, tiny_system_dir, capsys):
    root = tmp_path / "sys"
    shutil.copytree(tiny_system_dir, root)
    assert "Not measured for this codec" in render_card(root) and "No training runs recorded" in render_card(root)
    for _ in range(2):  # twice: each run is recorded once
        main([str(root), "tiny/codec", "--trained-with", "tiny/codec --set train.steps=3"])
    info = read_json(root / "system.json")
    assert [(r["recipe"], r["steps"], r["date"]) for r in info["training"]] == [("tiny/codec", 3, None)]
    assert capsys.readouterr().out.strip().endswith("README.md")
    with pytest.raises(SystemExit, match="expected NAME \\[--set KEY=VALUE ...\\]"):
        main([str(root), "tiny/codec", "--trained-with", "tiny/codec --oops"])
    with pytest.raises(RdpflexError, match="unknown recipe 'nope'"):
        card_for(root, "nope")


def test_the_bundled_demo_system_has_a_current_card():
    from rdpflex.system import BUNDLED_DEMO_SYSTEM

    card = (BUNDLED_DEMO_SYSTEM / "README.md").read_text()
    assert card == render_card(BUNDLED_DEMO_SYSTEM)  # regenerated, never hand-edited (`make demo-card`)
    info = read_json(BUNDLED_DEMO_SYSTEM / "system.json")
    assert info["evaluation"]["fingerprint"] == System.load(BUNDLED_DEMO_SYSTEM).fingerprint
    assert set(info["evaluation"]["decoders"]) == {"mse", *System.load(BUNDLED_DEMO_SYSTEM).trained_decoders()}
    assert "--system rdpflex:demo-system" in card
