import json

import pytest
import torch

from rdpflex.errors import FingerprintMismatchError, RdpflexError
from rdpflex.system import System


@pytest.mark.parametrize("arch", ["msh", "elic"])
def test_save_load_round_trip_keeps_entropy_tables(arch, tmp_path):
    s = System.tiny(arch)
    root = s.save(tmp_path / "sys")
    info = json.loads((root / "system.json").read_text())
    assert info["fingerprint"] == s.fingerprint and info["codec"]["arch"] == arch and "rdpflex_version" in info
    assert (root / "codec" / "model.safetensors").is_file()
    loaded = System.load(root)
    assert loaded.fingerprint == s.fingerprint
    x = torch.rand(1, 3, 64, 64)
    a, b = s.codec.compress(x)["strings"], loaded.codec.compress(x)["strings"]
    assert a == b  # no update() was needed: tables came from the file


def test_tampered_weights_detected(tmp_path):
    from safetensors.torch import load_file, save_file

    root = System.tiny().save(tmp_path / "sys")
    f = root / "codec" / "model.safetensors"
    state = load_file(f)
    k = next(k for k in state if k.endswith("weight"))
    state[k] = state[k] + 1e-3
    save_file(state, f)
    with pytest.raises(RdpflexError, match="corrupted"):
        System.load(root)


def test_missing_system_is_one_line(tmp_path):
    with pytest.raises(RdpflexError, match="not an rdpflex system"):
        System.load(tmp_path)


def test_pickled_weights_are_not_loaded(tmp_path):
    root = System.tiny().save(tmp_path / "sys")
    torch.save({"x": torch.zeros(1)}, root / "codec" / "model.safetensors")  # a pickle in disguise
    with pytest.raises(RdpflexError, match="safetensors"):
        System.load(root)


def test_a_weight_free_decoder_ignores_a_foreign_fingerprint_in_its_folder(tmp_path):
    """mse has no weights to mismatch: a stray folder with another codec's fingerprint neither blocks it nor is
    rewritten. (Weights trained on another codec are refused: DecoderConformance.test_refuses_another_codec.)"""
    from rdpflex.weights import read_json, write_json

    root = System.tiny().save(tmp_path / "sys")
    dec_dir = root / "decoders" / "mse"
    dec_dir.mkdir(parents=True)
    write_json(dec_dir / "config.json", {"codec_fingerprint": "0" * 64})
    s = System.load(root)
    assert "mse" in s.trained_decoders()
    s.decoder("mse")  # mse needs no weights: always available
    assert read_json(dec_dir / "config.json")["codec_fingerprint"] == "0" * 64


def test_missing_trained_decoder_message(tmp_path, monkeypatch):
    from rdpflex import plugins
    from rdpflex import system as system_module

    class NeedsWeights:
        name = "needy"
        needs_weights = True

    real = plugins.get_decoder_class
    monkeypatch.setattr(
        system_module, "get_decoder_class", lambda name: NeedsWeights if name == "needy" else real(name)
    )
    s = System.load(System.tiny().save(tmp_path / "sys"))
    with pytest.raises(RdpflexError, match="no trained 'needy' decoder"):
        s.decoder("needy")
    d = tmp_path / "sys" / "decoders" / "needy"
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"codec_fingerprint": "ab" * 32}))
    with pytest.raises(FingerprintMismatchError, match="trained on codec abab"):
        s.decoder("needy")
