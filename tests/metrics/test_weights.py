"""Weight lookup without downloads, one-line errors, stand-in detection and labelling."""

from __future__ import annotations

import hashlib
import os
import pickle

import pytest
import torch

from rdpflex.errors import RdpflexError, WeightsMissingError
from rdpflex.metrics import compute_image_metrics, compute_set_metrics, describe_weights, label
from rdpflex.metrics import weights as W
from rdpflex.metrics.stand_in import write_stand_in_weights

from .helpers import to_tensor, u8_image


def test_urls_and_file_names_are_the_libraries_own():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    from torchvision.models import AlexNet_Weights

    assert W.INCEPTION.url == URL_INCEPTION_V3
    assert W.INCEPTION.file_name == os.path.basename(URL_INCEPTION_V3)
    assert W.ALEXNET.url == AlexNet_Weights.IMAGENET1K_V1.url
    assert W.ALEXNET.file_name == os.path.basename(AlexNet_Weights.IMAGENET1K_V1.url)
    assert (W.INCEPTION.hash_prefix, W.ALEXNET.hash_prefix) == ("6726825d", "7be5be79")


def test_lookup_uses_torch_hub_dir(empty_home):
    assert W.INCEPTION.default_path() == empty_home / "hub" / "checkpoints" / W.INCEPTION.file_name


@pytest.mark.parametrize(
    "names, spec",
    [(["fid"], W.INCEPTION), (["kid256"], W.INCEPTION), (["lpips"], W.ALEXNET)],
)
def test_missing_weights_raise_one_line_naming_file_and_url(empty_home, no_network, names, spec):
    x = to_tensor(u8_image(64, 64, 0))
    with pytest.raises(WeightsMissingError) as info:
        if spec is W.ALEXNET:
            compute_image_metrics(x, x, names)
        else:
            compute_set_metrics([x, x], [x, x], names)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(empty_home / "hub" / "checkpoints" / spec.file_name) in msg
    assert spec.url in msg and spec.env_var in msg
    assert no_network == []
    assert not (empty_home / "hub" / "checkpoints").exists()  # nothing created, nothing downloaded


def test_env_var_and_argument_paths(stand_in_dir, empty_home, monkeypatch, tmp_path):
    real = stand_in_dir / "hub" / "checkpoints" / W.INCEPTION.file_name
    monkeypatch.setenv("RDPFLEX_INCEPTION_WEIGHTS", str(real))
    assert W.INCEPTION.resolve() == real
    monkeypatch.setenv("RDPFLEX_INCEPTION_WEIGHTS", str(tmp_path / "nope.pth"))
    assert W.INCEPTION.resolve(real) == real  # the argument wins over the environment
    with pytest.raises(WeightsMissingError, match=r"nope\.pth \(given by \$RDPFLEX_INCEPTION_WEIGHTS\)") as info:
        W.INCEPTION.resolve()
    assert W.INCEPTION.file_name in str(info.value)
    with pytest.raises(WeightsMissingError, match="given as an argument"):
        W.ALEXNET.resolve(tmp_path / "missing.pth")


def test_stand_in_detection_by_sha256_prefix(tmp_path):
    paths = write_stand_in_weights(tmp_path, which=["alexnet"])
    p = paths["alexnet"]
    assert p.name == W.ALEXNET.file_name
    assert W.ALEXNET.is_stand_in(p)
    # a file whose sha256 does start with the prefix in its spec's name counts as official
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    official = W.WeightsSpec("alexnet", "AlexNet", f"alexnet-owt-{digest[:8]}.pth", "https://example", "X")
    assert not official.is_stand_in(p)


def test_sha256_is_cached_by_path_mtime_size(tmp_path, monkeypatch):
    p = tmp_path / "f.pth"
    p.write_bytes(b"abc" * 1000)
    calls = []
    real = hashlib.sha256

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(W.hashlib, "sha256", counting)
    W.clear_caches()
    a = W.sha256_of(p)
    assert W.sha256_of(p) == a and len(calls) == 1
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    W.sha256_of(p)
    assert len(calls) == 2


def test_stand_in_files_load_into_the_real_architectures(stand_in_dir):
    import torchvision
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    ckpt = stand_in_dir / "hub" / "checkpoints"
    alex = torchvision.models.alexnet(weights=None)
    alex.load_state_dict(torch.load(ckpt / W.ALEXNET.file_name, weights_only=True), strict=True)
    inc = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(ckpt / W.INCEPTION.file_name)
    )
    (feats,) = inc((torch.rand(2, 3, 32, 32) * 255).to(torch.uint8))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all() and feats.std() > 0


def test_labels_say_stand_in(stand_in_home):
    assert label("fid") == "FID (stand-in weights)"
    assert label("fid256") == "FID/256 (stand-in weights)"
    assert label("lpips") == "LPIPS (stand-in weights)"
    assert label("psnr") == "PSNR" and label("ms_ssim") == "MS-SSIM"
    assert label("fid", stand_in=False) == "FID"
    rows = {r["key"]: r for r in describe_weights()}
    assert rows["inception"]["present"] and rows["inception"]["stand_in"] is True


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_non_tensor_pickles_are_refused_before_torch_fidelity_sees_them(stand_in_home, tmp_path, monkeypatch):
    bad = tmp_path / "weights.pth"
    with open(bad, "wb") as f:
        pickle.dump({"x": Evil()}, f, protocol=2)
    import torch_fidelity

    def boom(**kwargs):
        raise AssertionError("torch-fidelity must not be reached")

    monkeypatch.setattr(torch_fidelity, "calculate_metrics", boom)
    x = to_tensor(u8_image(32, 32, 0))
    with pytest.raises(RdpflexError, match="not a loadable") as info:
        compute_set_metrics([x, x], [x, x], ["fid"], inception_weights=bad)
    assert "\n" not in str(info.value)
    with pytest.raises(RdpflexError, match="not a loadable"):
        compute_image_metrics(x, x, ["lpips"], alexnet_weights=bad)


def test_wrong_network_file_gives_a_one_line_error(stand_in_dir, empty_home):
    ckpt = stand_in_dir / "hub" / "checkpoints"
    x = to_tensor(u8_image(32, 32, 0))
    with pytest.raises(RdpflexError, match="does not fit torch-fidelity's Inception-v3") as info:
        compute_set_metrics([x, x], [x, x], ["kid"], inception_weights=ckpt / W.ALEXNET.file_name)
    assert "\n" not in str(info.value)
    with pytest.raises(RdpflexError, match=r"not an AlexNet state dict: features\.0\.weight is missing"):
        compute_image_metrics(x, x, ["lpips"], alexnet_weights=ckpt / W.INCEPTION.file_name)
