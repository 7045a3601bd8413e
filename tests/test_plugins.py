"""Plugins through pluggy: in-test plugins appear and decode; unknown names list choices; blocked plugins vanish."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from rdpflex import hookspecs, plugins
from rdpflex.decoders import Decoder, describe, parse_options
from rdpflex.errors import OptionsError, UnknownPluginError
from rdpflex.pipeline import compress_images, decode_images
from rdpflex.system import System

from .conftest import use_plugin_module

PLUGIN = textwrap.dedent(
    '''
    import torch
    from pydantic import BaseModel, ConfigDict, Field
    from rdpflex.hookspecs import hookimpl

    class GrayDecoder:
        """A third-party decoder: the mse reconstruction averaged to gray, scaled by `gain`."""
        name = "gray"
        description = "test plugin: gray mse reconstruction"
        needs_weights = False

        class Options(BaseModel):
            model_config = ConfigDict(extra="forbid")
            gain: float = Field(1.0, ge=0, le=2)

        @classmethod
        def from_pretrained(cls, path, codec):
            return cls()

        def save_pretrained(self, path):
            pass

        def decode(self, latent, codec, options, generator):
            x = codec.synthesize(latent.y_hat).clamp(0, 1).mean(1, keepdim=True).expand(-1, 3, -1, -1)
            return (x * options.gain).clamp(0, 1)

    @hookimpl
    def register_decoders(register):
        register(GrayDecoder)
    '''
)


@pytest.fixture
def gray_plugin(tmp_path, monkeypatch):
    yield use_plugin_module(monkeypatch, tmp_path, "gray_plugin", PLUGIN)
    monkeypatch.delenv("RDPFLEX_PLUGIN_MODULES")
    plugins.reset_plugins()


def test_builtin_mse_registered_through_entry_point():
    pm = plugins.get_plugin_manager()
    assert pm.has_plugin("mse")  # loaded from the `rdpflex` entry-point group, like any third party
    assert "mse" in plugins.get_decoders()
    assert isinstance(plugins.get_decoder_class("mse")(), Decoder)


def test_in_test_plugin_decodes(gray_plugin, image_paths):
    assert "gray" in plugins.get_decoders()
    system = System.tiny()
    rdp = compress_images(image_paths[:2], system).rdp
    out = dict(decode_images(rdp, system, "gray", {"gain": "0.5"}))
    ref = dict(decode_images(rdp, system, "mse"))
    for stem, img in out.items():
        assert torch.allclose(img, (ref[stem].mean(1, keepdim=True) * 0.5).expand_as(img))
    with pytest.raises(OptionsError, match="gain: Input should be less than or equal to 2"):
        parse_options(plugins.get_decoder_class("gray"), ["gain=3"])


def test_unknown_decoder_lists_installed():
    with pytest.raises(UnknownPluginError, match="installed decoders: .*mse"):
        plugins.get_decoder_class("nope")


def test_blocked_plugin_is_absent(monkeypatch):
    monkeypatch.setenv("RDPFLEX_BLOCK_PLUGINS", "mse")
    plugins.reset_plugins()
    try:
        assert "mse" not in plugins.get_decoders()
        assert plugins.get_plugin_manager().is_blocked("mse")
    finally:
        monkeypatch.delenv("RDPFLEX_BLOCK_PLUGINS")
        plugins.reset_plugins()


def test_allow_list_loads_only_named(monkeypatch):
    monkeypatch.setenv("RDPFLEX_PLUGINS", "")
    plugins.reset_plugins()
    try:
        assert plugins.get_decoders() == {}
    finally:
        monkeypatch.delenv("RDPFLEX_PLUGINS")
        plugins.reset_plugins()


def test_cli_lists_in_test_plugin_and_hides_blocked(gray_plugin):
    env = {**__import__("os").environ, "PYTHONPATH": str(gray_plugin), "RDPFLEX_PLUGIN_MODULES": "gray_plugin"}
    out = subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", "decoders", "--json"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    names = {d["name"] for d in json.loads(out.stdout)}
    assert {"gray", "mse"} <= names
    env["RDPFLEX_BLOCK_PLUGINS"] = "mse"
    out = subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", "decoders", "--json"], capture_output=True, text=True, env=env
    )
    assert "mse" not in {d["name"] for d in json.loads(out.stdout)}


def test_every_hook_is_documented():
    for name in ("register_decoders", "register_codecs", "register_metrics", "register_stages", "register_commands"):
        hook = getattr(hookspecs, name)
        assert hook.__doc__ and ":param" in hook.__doc__


def test_describe_gives_options_schema():
    info = describe(plugins.get_decoder_class("mse"))
    assert info["name"] == "mse" and info["options"]["type"] == "object"
