"""CompressAI parity: an imported zoo model writes byte-identical strings and decodes identically."""

import subprocess
import sys

import pytest
import torch
from compressai.zoo.image import model_architectures

from rdpflex.bitstream import read_rdp
from rdpflex.codecs.compressai_zoo import load_zoo_codec
from rdpflex.errors import BitstreamError, EntropyMismatchError, RdpflexError, WeightsMissingError
from rdpflex.images import load_image
from rdpflex.pipeline import decode_images, latents
from rdpflex.system import System

SMALL = {"bmshj2018-hyperprior": dict(N=8, M=12), "mbt2018-mean": dict(N=8, M=12), "cheng2020-anchor": dict(N=8)}


def compressai_checkpoint(arch, tmp_path, wrap=False):
    """Random weights saved the way CompressAI saves them (trained, updated, torch.save'd state dict)."""
    torch.manual_seed(3)
    net = model_architectures[arch](**SMALL[arch])
    net.update(force=True)
    path = tmp_path / f"{arch}.pth.tar"
    torch.save({"epoch": 1, "state_dict": net.state_dict()} if wrap else net.state_dict(), path)
    return net, path


@pytest.fixture
def rgb64(tmp_path):
    from PIL import Image

    from tests.conftest import smooth_image

    p = tmp_path / "kodim.png"
    Image.fromarray(smooth_image(64, 128, 7)).save(p)
    return p


def test_mbt2018_mean_parity_through_the_cli(tmp_path, rgb64):
    net, ckpt = compressai_checkpoint("mbt2018-mean", tmp_path, wrap=True)
    sysdir = tmp_path / "msh-sys"

    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rdpflex.cli", *a], capture_output=True, text=True)

    r = run("import-compressai", "mbt2018-mean", "--quality", "3", "--checkpoint", str(ckpt), "-o", str(sysdir))
    assert r.returncode == 0, r.stderr
    r = run("compress", str(rgb64), "-o", str(tmp_path / "k.rdp"), "--system", str(sysdir), "--entropy", "float")
    assert r.returncode == 0, r.stderr

    x = load_image(rgb64)
    ref = net.eval().compress(x)
    rdp = read_rdp(tmp_path / "k.rdp")
    assert rdp.images[0].streams == [ref["strings"][0][0], ref["strings"][1][0]]  # byte-identical

    system = System.load(sysdir)
    x_ref = net.decompress(ref["strings"], ref["shape"])["x_hat"]
    ((stem, x_mse),) = decode_images(rdp, system, "mse")
    assert torch.equal(x_mse, x_ref)
    lat = next(latents(rdp, system))
    assert torch.equal(
        lat.y_hat,
        net.gaussian_conditional.decompress(
            ref["strings"][0],
            net.gaussian_conditional.build_indexes(
                net.h_s(net.entropy_bottleneck.decompress(ref["strings"][1], ref["shape"])).chunk(2, 1)[0]
            ),
            means=net.h_s(net.entropy_bottleneck.decompress(ref["strings"][1], ref["shape"])).chunk(2, 1)[1],
        ),
    )


@pytest.mark.parametrize("arch", ["bmshj2018-hyperprior", "cheng2020-anchor"])
def test_other_zoo_archs_byte_identical(arch, tmp_path, rgb64):
    net, ckpt = compressai_checkpoint(arch, tmp_path)
    codec = load_zoo_codec(arch, 1, ckpt)
    x = load_image(rgb64)
    ref = net.eval().compress(x)
    ours = codec.eval().compress(x, exact=False)
    assert [s[0] for s in ours["strings"]] == [s[0] for s in ref["strings"]]
    y_hat = codec.decompress_latent(
        [s[0] for s in ours["strings"]], (64, 128), exact=False, symbols_crc=ours["symbols_crc"]
    )
    x_ours = codec.synthesize(y_hat).clamp(0, 1)
    assert torch.allclose(x_ours, net.decompress(ref["strings"], ref["shape"])["x_hat"], atol=1e-6)


@pytest.mark.parametrize("arch", ["bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor"])
def test_zoo_archs_exact_entropy_path_round_trip(arch, tmp_path, rgb64):
    """The exact path codes every zoo architecture; the decoder reproduces the encoder's latent bit for bit."""
    _, ckpt = compressai_checkpoint(arch, tmp_path)
    codec = load_zoo_codec(arch, 1, ckpt).eval()
    x = load_image(rgb64)
    out = codec.compress(x, exact=True)
    y_hat = codec.decompress_latent(
        [s[0] for s in out["strings"]], (64, 128), exact=True, symbols_crc=out["symbols_crc"]
    )
    assert torch.equal(y_hat, out["y_hat"])


def test_offline_without_checkpoint_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("RDPFLEX_OFFLINE", "1")
    with pytest.raises(WeightsMissingError) as err:
        load_zoo_codec("mbt2018-mean", 3)
    msg = str(err.value)
    assert "mbt2018-mean-3-" in msg and "https://compressai.s3.amazonaws.com" in msg and "--checkpoint" in msg
    assert "\n" not in msg


def test_bad_checkpoint_and_quality(tmp_path):
    with pytest.raises(RdpflexError, match="no quality 42"):
        load_zoo_codec("mbt2018-mean", 42)
    with pytest.raises(RdpflexError, match="unsupported CompressAI architecture"):
        load_zoo_codec("mbt2018", 1)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(RdpflexError, match="cannot read CompressAI checkpoint"):
        load_zoo_codec("mbt2018-mean", 3, junk)
    _, other = compressai_checkpoint("cheng2020-anchor", tmp_path)
    with pytest.raises(RdpflexError, match="does not hold mbt2018-mean weights"):
        load_zoo_codec("mbt2018-mean", 3, other)


@pytest.fixture(scope="module")
def cheng(tmp_path_factory):
    """``cheng2020-anchor`` at N=8: compressai's raster-scan context model (slow: keep images small)."""
    _, ckpt = compressai_checkpoint("cheng2020-anchor", tmp_path_factory.mktemp("cheng"))
    return load_zoo_codec("cheng2020-anchor", 1, ckpt).eval()


@pytest.fixture(scope="module")
def rgb64_square():
    from tests.conftest import smooth_image

    return torch.from_numpy(smooth_image(64, 64, 3)).permute(2, 0, 1)[None].float() / 255.0


@pytest.mark.parametrize("exact", [True, False])
def test_raster_scan_round_trip_reproduces_the_encoder_latent(cheng, rgb64_square, exact):
    out = cheng.compress(rgb64_square, exact=exact)
    streams = [s[0] for s in out["strings"]]
    assert len(streams) == cheng.num_streams == 2
    y_hat = cheng.decompress_latent(streams, (64, 64), exact, out["symbols_crc"])
    assert y_hat.shape == (1, cheng.latent_channels, 4, 4) and torch.equal(y_hat, out["y_hat"])
    with pytest.raises(EntropyMismatchError):
        cheng.decompress_latent(streams, (64, 64), exact, out["symbols_crc"] ^ 1)


def test_raster_scan_latent_codec_decodes_image_by_image(cheng, rgb64_square):
    from compressai.latent_codecs import RasterScanLatentCodec

    assert isinstance(cheng.latent_codec.latent_codec["y"], RasterScanLatentCodec)
    assert not cheng.batch_entropy_decodable
    streams = [s[0] for s in cheng.compress(rgb64_square)["strings"]]
    with pytest.raises(BitstreamError, match="without a raster-scan context model"):
        cheng.decompress_latents([streams, streams], (64, 64), [None, None])


def test_zoo_architectures_keep_their_entropy_models():
    """Scale-only (|y| into h_a), mean-scale, and a raster-scan context model; batch decoding where it is possible."""
    from compressai.latent_codecs import GaussianConditionalLatentCodec

    from rdpflex.codecs.compressai_zoo import Abs, CompressAIZooCodec

    scale = CompressAIZooCodec("bmshj2018-hyperprior", **SMALL["bmshj2018-hyperprior"])
    mean = CompressAIZooCodec("mbt2018-mean", **SMALL["mbt2018-mean"])
    for codec, chunks in ((scale, ("scales",)), (mean, ("scales", "means"))):
        y_codec = codec.latent_codec.latent_codec["y"]
        assert isinstance(y_codec, GaussianConditionalLatentCodec) and y_codec.chunks == chunks
        assert codec.batch_entropy_decodable and codec.latent_channels == 12
    assert isinstance(scale.latent_codec.latent_codec["hyper"].h_a[0], Abs)
    assert torch.equal(Abs()(torch.tensor([-2.0, 3.0])), torch.tensor([2.0, 3.0]))
    with pytest.raises(RdpflexError, match="unsupported CompressAI architecture 'mbt2018'"):
        CompressAIZooCodec("mbt2018", N=8)
