"""The ``multirealism`` decoder plugin: registration, decode, options, save/load, System integration."""

import json
import shutil

import pytest
import torch

from rdpflex.decoders import Decoder, describe, parse_options
from rdpflex.errors import FingerprintMismatchError, OptionsError, RdpflexError
from rdpflex.latent import Latent
from rdpflex.plugins import get_decoder_class
from rdpflex.system import System
from rdpflex_plugins.multirealism import MultiRealismDecoder
from rdpflex_plugins.multirealism.discriminator import ConditionalPatchDiscriminator
from rdpflex_plugins.multirealism.options import MultiRealismOptions
from rdpflex_plugins.multirealism.settings import MultiRealismSettings

#: a small G; relu and fourier_scale 1 (raw beta) as these tests were written against
SMALL = {"N": 16, "blocks": 1, "cond_hidden": 32, "table_bins": 16, "cond_activation": "relu", "fourier_scale": 1.0}


def _latent(codec, size=(64, 128), seed=0, entropy_coded=False):
    """A Latent for a padded image of ``size``: a rounded random y_hat, or one read back from a real bitstream."""
    torch.manual_seed(seed)
    if entropy_coded:
        out = codec.compress(torch.rand(1, 3, *size))
        y_hat = codec.decompress_latent([s[0] for s in out["strings"]], size)
    else:
        y_hat = (3 * torch.randn(1, *codec.latent_shape(size))).round()
    return Latent(y_hat, image_size=size, padded_size=size)


def _decoder(system, cond="fourier", beta_max=2.56):
    torch.manual_seed(1)
    beta = {"fixed_beta": beta_max} if cond == "none" else {"beta_max": beta_max}  # the GAN baseline's one beta
    settings = MultiRealismSettings(generator=SMALL | {"cond": cond}, perceptual="none", **beta)
    return MultiRealismDecoder.for_codec(system.codec, settings)


def test_registered_and_follows_protocol():
    cls = get_decoder_class("multirealism")
    assert cls is MultiRealismDecoder and cls.needs_weights
    assert isinstance(_decoder(System.tiny("msh")), Decoder)
    info = describe(cls)
    assert "beta" in info["options"]["properties"]
    json.dumps(info)


@pytest.mark.parametrize("arch", ["elic", "msh"])
def test_decode_shape_and_range(arch):
    system = System.tiny(arch)
    dec = _decoder(system)
    latent = _latent(system.codec)
    outs = []
    for beta in [0.0, 1.0, 2.56]:
        out = dec.decode(latent, system.codec, dec.Options(beta=beta), torch.Generator())
        assert out.shape == (1, 3, 64, 128)
        assert out.min() >= 0 and out.max() <= 1
        outs.append(out)
    assert not torch.equal(outs[0], outs[2])
    assert out.shape == system.codec.synthesize(latent.y_hat).shape
    # default beta is beta_max (the realistic end), from any options form
    default = dec.decode(latent, system.codec, dec.Options(), torch.Generator())
    assert dec.Options().beta == 2.56
    assert torch.equal(default, outs[2])
    assert torch.equal(dec.decode(latent, system.codec, MultiRealismOptions(), torch.Generator()), default)
    assert torch.equal(dec.decode(latent, system.codec, {"beta": 1.0}, torch.Generator()), outs[1])


@pytest.mark.parametrize("cond", ["fourier", "table"])
def test_save_load_round_trip(tmp_path, cond):
    system = System.tiny("elic")
    dec = _decoder(system, cond=cond, beta_max=2.0)
    dec.save_pretrained(tmp_path / "mr")
    cfg = json.loads((tmp_path / "mr" / "config.json").read_text())
    assert cfg["beta_max"] == 2.0 and cfg["cond"] == cond and cfg["generator"]["N"] == 16
    assert sorted(p.name for p in (tmp_path / "mr").iterdir()) == ["config.json", "model.safetensors"]
    loaded = MultiRealismDecoder.from_pretrained(tmp_path / "mr", system.codec)
    assert not any(isinstance(m, ConditionalPatchDiscriminator) for m in dec.modules())  # D: the trainer's
    assert loaded.beta_max == 2.0 and loaded.Options().beta == 2.0
    latent = _latent(system.codec)
    for beta in [0.0, 1.5]:
        a = dec.decode(latent, system.codec, {"beta": beta}, torch.Generator())
        b = loaded.decode(latent, system.codec, {"beta": beta}, torch.Generator())
        assert torch.equal(a, b)


def test_option_validation_names_the_range():
    system = System.tiny("msh")
    dec = _decoder(system)
    latent = _latent(system.codec)
    for bad in ({"beta": 3.0}, {"beta": -0.1}, {"beta": float("nan")}):
        with pytest.raises(OptionsError, match=r"0 <= beta <= 2\.56") as info:
            dec.decode(latent, system.codec, bad, torch.Generator())
        assert "\n" not in str(info.value)
    with pytest.raises(OptionsError, match=r"steps: Extra inputs are not permitted.*0 <= beta <= 2\.56"):
        dec.decode(latent, system.codec, {"steps": 3}, torch.Generator())
    # the class-level model (before weights are known) checks beta >= 0; the instance, the full range
    with pytest.raises(OptionsError, match="beta"):
        parse_options(MultiRealismDecoder, ["beta=-1"])
    with pytest.raises(OptionsError, match="unknown|steps"):
        parse_options(MultiRealismDecoder, ["steps=3"])
    opts = parse_options(MultiRealismDecoder, ["beta=3"])  # passes the class model ...
    with pytest.raises(OptionsError, match=r"0 <= beta <= 2\.56"):  # ... refused by the loaded decoder
        dec.decode(latent, system.codec, opts, torch.Generator())
    with pytest.raises(OptionsError, match=r"2\.56"):
        parse_options(dec, ["beta=3"])  # an instance's Options carries its bounds
    assert parse_options(dec, ["beta=1.5"]).beta == 1.5


def test_fixed_beta_baseline_and_beta_max_checks():
    system = System.tiny("msh")
    base = _decoder(system, cond="none")
    latent = _latent(system.codec)
    assert base.decode(latent, system.codec, {}, torch.Generator()).shape == (1, 3, 64, 128)
    with pytest.raises(OptionsError, match=r"beta: .*\(options: 2\.56 <= beta <= 2\.56\)"):  # the one fixed beta
        base.decode(latent, system.codec, {"beta": 1.0}, torch.Generator())
    with pytest.raises(RdpflexError, match="beta_max"):
        MultiRealismDecoder(_decoder(system).generator, beta_max=6.0)  # beyond the training range U(0, 5.12)
    with pytest.raises(RdpflexError, match="beta_max"):
        MultiRealismDecoder(base.generator, beta_max=-1.0)


def test_system_integration_and_fingerprint_refusal(tmp_path):
    system = System.tiny("elic")
    dec = _decoder(system)
    system.add_decoder(dec)
    assert system.decoder("multirealism") is dec
    system.save(tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "decoders" / "multirealism" / "config.json").read_text())
    assert cfg["codec_fingerprint"] == system.fingerprint

    reloaded = System.load(tmp_path / "a")
    loaded = reloaded.decoder("multirealism")
    assert isinstance(loaded, MultiRealismDecoder)
    latent = _latent(reloaded.codec, entropy_coded=True)  # through a real bitstream
    torch.testing.assert_close(
        loaded.decode(latent, reloaded.codec, loaded.Options(beta=1.0), torch.Generator()),
        dec.decode(latent, system.codec, dec.Options(beta=1.0), torch.Generator()),
        rtol=0,
        atol=0,
    )

    other = System.tiny("elic", seed=1)
    other.save(tmp_path / "b")
    shutil.copytree(tmp_path / "a" / "decoders", tmp_path / "b" / "decoders")
    with pytest.raises(FingerprintMismatchError, match="multirealism"):
        System.load(tmp_path / "b").decoder("multirealism")


def test_from_pretrained_refuses_other_architectures(tmp_path):
    dec = _decoder(System.tiny("elic"))
    dec.save_pretrained(tmp_path / "mr")
    with pytest.raises(RdpflexError, match="'elic' codec with 20 latent channels"):
        MultiRealismDecoder.from_pretrained(tmp_path / "mr", System.tiny("msh").codec)
    with pytest.raises(RdpflexError, match="needs trained weights"):
        MultiRealismDecoder.from_pretrained(None, System.tiny("msh").codec)
    (tmp_path / "mr" / "config.json").write_text("{}")
    with pytest.raises(RdpflexError, match="not a multirealism decoder config"):
        MultiRealismDecoder.from_pretrained(tmp_path / "mr", System.tiny("elic").codec)
