"""The plugin author's kit: hook meta-tests, cards, blocking, warnings, and the rough edges of a first plugin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rdpflex import plugins
from rdpflex.bitstream import read_rdp, write_rdp
from rdpflex.cards import BUILTIN_CODEC_CARDS, CodecCard, DecoderCard, card_mismatches
from rdpflex.errors import RdpflexError, UnknownPluginError
from rdpflex.pipeline import compress_images, decode_images, save_images, to_uint8
from rdpflex.system import System

from .conftest import use_plugin_module

ROOT = Path(__file__).resolve().parents[1]
HOOKS_DOC = ROOT / "docs" / "plugins" / "hooks.md"

PLUGIN = textwrap.dedent("""
    import torch
    from pydantic import BaseModel, ConfigDict, Field
    from rdpflex.decoders import DecoderBase
    from rdpflex.hookspecs import hookimpl
    from rdpflex.codecs.hyperprior import MeanScaleHyperprior

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        gain: float = Field(1.0, ge=0, le=2)

    class GrayDecoder(DecoderBase):
        name = "gray"
        description = "test plugin: gray mse reconstruction"
        Options = Options
        needs_weights = False
        sweep = {"gain": [0.5, 1.0]}

        def decode(self, latent, codec, options, generator):
            x = codec.synthesize(latent.y_hat).clamp(0, 1).mean(1, keepdim=True).expand(-1, 3, -1, -1)
            return (x * options.gain).clamp(0, 1)

    class TinyCodec(MeanScaleHyperprior):
        arch = "tinymsh"

    class Psnr255:
        name, kind, higher_is_better, description, stand_in = "psnr_test", "image", True, "test metric", False
        def compute(self, x, x_hat):
            return 0.0

    @hookimpl
    def register_decoders(register):
        register(GrayDecoder)

    @hookimpl
    def register_codecs(register):
        register(TinyCodec)

    @hookimpl
    def register_metrics(register):
        register(Psnr255())
""")


@pytest.fixture
def clean_env(monkeypatch):
    for var in plugins.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    plugins.reset_plugins()
    yield monkeypatch
    plugins.reset_plugins()


@pytest.fixture
def gray(tmp_path, clean_env):
    return use_plugin_module(clean_env, tmp_path, "gray_kit_plugin", PLUGIN)


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


# -- every hook spec has a test (below, named test_hook_<name>) and is documented -------------------
def test_every_hook_has_a_test():
    missing = [name for name in plugins.hook_specs() if f"test_hook_{name}" not in globals()]
    assert not missing, f"hook specs without a test_hook_<name> test: {missing}"


def test_every_hook_is_documented_and_the_reference_is_current():
    doc = HOOKS_DOC.read_text()
    for name, fn in plugins.hook_specs().items():
        assert fn.__doc__ and ":param" in fn.__doc__, name
        assert f"### `{name}(" in doc, f"{name} missing from {HOOKS_DOC}"
    block = doc.split(plugins.HOOKS_BEGIN)[1].split(plugins.HOOKS_END)[0]
    assert block.strip() == plugins.hooks_markdown().strip(), (
        "refresh with: python -m rdpflex.plugins --write docs/plugins/hooks.md"
    )


def test_hook_register_decoders(gray):
    card = plugins.get_decoder_cards()["gray"]
    assert isinstance(card, DecoderCard) and card.sweep == {"gain": [0.5, 1.0]}
    assert plugins.get_decoder_class("gray").__name__ == "GrayDecoder"


def test_hook_register_codecs(gray):
    from rdpflex.plugins import codec_cards
    from rdpflex.registry import codec_classes

    assert "tinymsh" in codec_classes() and codec_cards()["tinymsh"].params == ("N", "M")


def test_hook_register_metrics(gray):
    assert plugins.get_metrics()["psnr_test"].kind == "image"


def test_hook_register_stages(clean_env):
    clean_env.setenv("RDPFLEX_PLUGIN_MODULES", "tests.train.plugin_stage")
    plugins.reset_plugins()
    cards = plugins.get_stage_cards()
    assert {"codec", "decoder", "joint", "prior", "toygan"} <= set(cards)
    assert cards["toygan"].load().__name__ and cards["codec"].Config.__name__ == "CodecStageConfig"


def test_hook_register_trainers(clean_env):
    cards = plugins.get_trainer_cards()
    assert {"multirealism", "cdiff", "refine"} <= set(cards)
    assert cards["multirealism"].load().family == "multirealism"


def test_hook_register_commands(tmp_path):
    (tmp_path / "cmd_kit_plugin.py").write_text(
        "import click\nfrom rdpflex.hookspecs import hookimpl\n\n@hookimpl\ndef register_commands(cli):\n"
        "    @cli.command('hello-kit')\n    def hello():\n        'Say hello.'\n        click.echo('hello')\n"
    )
    r = cli("hello-kit", env={"PYTHONPATH": str(tmp_path), "RDPFLEX_PLUGIN_MODULES": "cmd_kit_plugin"})
    assert r.stdout.strip() == "hello"


# -- cards -----------------------------------------------------------------------------------------
def test_builtin_cards_match_their_classes(clean_env):
    for name, card in plugins.get_decoder_cards().items():
        assert not card_mismatches(card, card.load()), name
    for card in plugins.get_stage_cards().values():
        card.load()


def test_builtin_codec_cards_match_the_codec_classes():
    from rdpflex.codecs import BUILTIN_CODECS

    assert BUILTIN_CODEC_CARDS == {arch: CodecCard.of(cls) for arch, cls in BUILTIN_CODECS.items()}


def test_a_card_that_contradicts_its_class_is_refused():
    card = DecoderCard("mse", "x", "rdpflex_plugins.mse.decoder:MSEDecoder")  # needs_weights defaults to True
    with pytest.raises(RdpflexError, match="card and class .* disagree: capabilities"):
        card.load()
    with pytest.raises(RdpflexError, match="cannot import its implementation 'nope.mod:X'"):
        DecoderCard("x", "x", "nope.mod:X").load()


def test_decoders_import_without_the_training_stack():
    code = (
        "import sys; import rdpflex_plugins.multirealism.plugin, rdpflex_plugins.cdiff.plugin, "
        "rdpflex_plugins.idempotence.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(("
        "'rdpflex.train.trainer', 'rdpflex.train.stage', 'rdpflex.train.codec_stage')) "
        "or m.endswith('.training')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# -- blocking and loading --------------------------------------------------------------------------
def test_blocking_a_family_by_name_and_the_error_says_so(gray, clean_env):
    clean_env.setenv("RDPFLEX_BLOCK_PLUGINS", "gray")
    assert "gray" not in plugins.get_decoder_cards() and "tinymsh" in plugins.get_codecs()  # the plugin still loads
    with pytest.raises(UnknownPluginError, match="'gray' is blocked by RDPFLEX_BLOCK_PLUGINS=gray"):
        plugins.get_decoder_class("gray")


def test_blocking_an_entry_point_names_it_in_errors(clean_env, tmp_path):
    clean_env.setenv("RDPFLEX_BLOCK_PLUGINS", "cdiff")
    with pytest.raises(UnknownPluginError, match="unknown decoder 'cdiff'; installed decoders: .*; 'cdiff' is blocked"):
        plugins.get_decoder_class("cdiff")
    r = cli(
        "decompress",
        str(ROOT / "tests" / "data" / "v1-astronaut-crop.rdp"),
        "-o",
        str(tmp_path / "x"),
        "--decoder",
        "cdiff",
        env={"RDPFLEX_BLOCK_PLUGINS": "cdiff"},
    )
    assert r.returncode == 2 and "blocked by RDPFLEX_BLOCK_PLUGINS" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_missing_plugin_module_is_a_warning_like_a_broken_entry_point(clean_env, capsys):
    clean_env.setenv("RDPFLEX_PLUGIN_MODULES", "no_such_module_xyz")
    assert "mse" in plugins.get_decoder_cards()
    err = capsys.readouterr().err
    assert "warning: RDPFLEX_PLUGIN_MODULES module 'no_such_module_xyz' failed to load, skipped" in err
    row = {r["name"]: r for r in plugins.list_plugins()}["no_such_module_xyz"]
    assert "ModuleNotFoundError" in row["error"]


def test_plugins_json_lists_hooks_and_names(clean_env):
    rows = {r["name"]: r for r in json.loads(cli("plugins", "--json").stdout)}
    assert rows["multirealism"]["registers"] == {
        "register_decoders": ["multirealism"],
        "register_stages": ["joint"],
        "register_trainers": ["multirealism"],
    }
    assert rows["rdpflex_core_stages"]["hooks"] == ["register_stages"] and rows["mse"]["builtin"]


# -- rough edges -------------------------------------------------------------------------------------
def test_decode_images_with_no_system_uses_the_default_and_bad_arguments_are_one_line_errors():
    rdp_path = ROOT / "tests" / "data" / "v1-astronaut-crop.rdp"
    assert [s for s, _ in decode_images(rdp_path, None)] == ["v1-astronaut-crop"]
    for bad, msg in [
        ((read_rdp(rdp_path), 3), "system must be"),
        (("nope", None), "no such file|cannot|not"),
        ((read_rdp(rdp_path), None, 7), "decoder must be a family name"),
        ((read_rdp(rdp_path), None, "mse", [1]), "options must be a dict"),
    ]:
        with pytest.raises(RdpflexError, match=msg):
            list(decode_images(*bad))


def test_api_pixels_equal_the_cli_pngs(tmp_path, image_paths):
    system_dir = System.tiny().save(tmp_path / "sys")
    rdp = tmp_path / "set.rdp"
    write_rdp(rdp, compress_images(image_paths, system_dir).rdp)
    r = cli("decompress", str(rdp), "-o", str(tmp_path / "cli"), "--system", str(system_dir))
    assert r.returncode == 0, r.stderr
    api = dict(decode_images(rdp, system_dir))
    written = save_images(api.items(), tmp_path / "api")
    for path in written:
        cli_px = np.asarray(Image.open(tmp_path / "cli" / path.name))
        assert np.array_equal(cli_px, np.asarray(Image.open(path)))
        assert np.array_equal(cli_px, to_uint8(api[path.stem]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_device_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    out = tmp_path / "never"
    r = cli("decompress", str(ROOT / "tests" / "data" / "v1-astronaut-crop.rdp"), "-o", str(out), "--device", "cuda")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and not out.exists()
    assert re.match(r"error: device 'cuda' is not available on this machine", r.stderr)


def test_weight_free_family_runs_at_its_sweep_in_the_default_compare(gray):
    from rdpflex.evaluation.specs import resolve_settings

    settings = resolve_settings(System.tiny(), None)
    assert [(s.decoder, s.label) for s in settings if s.decoder == "gray"] == [("gray", "gain=0.5"), ("gray", "gain=1")]
