"""The composed entropy coder: codecs are never changed by coding, and one System serves several threads.

Issue 23: the exact path used to swap a codec's compressai submodules during coding and turn cuDNN
off for the process, so a second thread saw the first one's swapped modules.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch
from compressai.zoo.image import model_architectures
from skimage import data

from rdpflex.bitstream import dumps
from rdpflex.codecs.compressai_zoo import CompressAIZooCodec
from rdpflex.codecs.entropy_coder import FLOAT_NETWORKS, EntropyCoder
from rdpflex.codecs.exact import gemm_conv2d, gemm_conv_transpose2d, to_grid
from rdpflex.errors import BitstreamError
from rdpflex.pipeline import compress_images, decode_images
from rdpflex.system import System

ZOO_SMALL = {"bmshj2018-hyperprior": dict(N=8, M=12), "mbt2018-mean": dict(N=8, M=12), "cheng2020-anchor": dict(N=8)}


def _system(arch: str) -> System:
    if arch in ("msh", "elic"):
        return System.tiny(arch, seed=2)
    torch.manual_seed(3)
    net = model_architectures[arch](**ZOO_SMALL[arch])
    net.update(force=True)
    return System(CompressAIZooCodec(arch, N=int(net.N), M=int(net.M), net=net.eval()))


def _crops(n: int, h: int = 48, w: int = 64) -> list[tuple[str, torch.Tensor]]:
    photo = np.asarray(data.astronaut())
    out = []
    for k in range(n):
        c = np.ascontiguousarray(photo[37 * k : 37 * k + h, 53 * k : 53 * k + w])
        out.append((f"im{k}", torch.from_numpy(c).permute(2, 0, 1)[None].float() / 255.0))
    return out


def _snapshot(system: System) -> dict[str, Any]:
    """Everything coding could change: module tree, every module's instance attributes, tensors, torch flags."""
    codec = system.codec
    return {
        "modules": [(name, type(m), id(m), sorted(vars(m))) for name, m in codec.named_modules()],
        "state": {k: v.clone() for k, v in codec.state_dict().items()},
        "flags": (
            torch.backends.cudnn.enabled,
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
            torch.are_deterministic_algorithms_enabled(),
            torch.get_default_dtype(),
            torch.is_grad_enabled(),
        ),
    }


@pytest.mark.parametrize("arch", ["msh", "elic", "bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor"])
def test_coding_leaves_the_codec_and_torch_unchanged(arch):
    system = _system(arch)
    before = _snapshot(system)
    for exact in (True, False):
        rdp = compress_images(_crops(2, 64, 64), system, estimate=False, exact=exact).rdp
        assert len(list(decode_images(rdp, system))) == 2
    after = _snapshot(system)
    assert after["modules"] == before["modules"] and after["flags"] == before["flags"]
    assert after["state"].keys() == before["state"].keys()
    assert all(torch.equal(after["state"][k], v) for k, v in before["state"].items())


def _digest(x: torch.Tensor) -> str:
    return hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest()


def _mixed_jobs(system: System, decoders: list[tuple[str, dict]], images: list[tuple[str, torch.Tensor]]) -> list:
    """Encode jobs (each image alone, exact and float) and decode jobs (a two-image file per decoder)."""
    rdps = {exact: compress_images(images[:2], system, estimate=False, exact=exact).rdp for exact in (True, False)}

    def encode(img: tuple[str, torch.Tensor], exact: bool) -> Any:
        return lambda: dumps(compress_images([img], system, estimate=False, exact=exact).rdp)

    def decode(name: str, options: dict, exact: bool) -> Any:
        return lambda: sorted((s, _digest(x)) for s, x in decode_images(rdps[exact], system, name, options, seed=5))

    jobs = [encode(img, exact) for img in images for exact in (True, False)]
    jobs += [decode(name, opts, exact) for name, opts in decoders for exact in (True, False)]
    return jobs


def _same_in_four_threads(jobs: list) -> None:
    alone = [job() for job in jobs]
    order = [k for _ in range(2) for k in range(len(jobs))]  # every job twice, encodes and decodes interleaved
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda k: (k, jobs[k]()), order))
    for k, got in results:
        assert got == alone[k], f"job {k} gave another result in a thread"


@pytest.mark.parametrize("arch", ["msh", "elic", "mbt2018-mean", "cheng2020-anchor"])
def test_four_threads_encode_and_decode_like_one(arch):
    system = _system(arch)
    _same_in_four_threads(_mixed_jobs(system, [("mse", {})], _crops(3)))


def test_four_threads_with_every_decoder_family():
    """The bundled system's decoders (mse, multirealism, cdiff, idempotence) mixed with encodes, 4 threads."""
    system = System.load(None)
    decoders = [
        ("mse", {}),
        ("multirealism", {"beta": 1.28}),
        ("multirealism", {"beta": 0.0}),  # two betas: the generator's per-beta cache is shared
        ("cdiff", {"steps": 2}),
        ("cdiff", {"steps": 1}),
        ("idempotence", {"steps": 2, "zeta": 0.5}),
    ]
    _same_in_four_threads(_mixed_jobs(system, decoders, _crops(2)))


def test_float_coder_is_compressai_byte_for_byte():
    """The composed float path gives the strings and y_hat of the latent codec's own ``compress``."""
    for arch in ("elic", "cheng2020-anchor"):
        codec = _system(arch).codec
        y = codec.g_a(codec.pad(_crops(1, 64, 64)[0][1]))
        with torch.no_grad():
            ref = codec.latent_codec.compress(y)
            strings, y_hat, _ = EntropyCoder(codec.latent_codec, FLOAT_NETWORKS).compress(y)
        assert strings == ref["strings"] and torch.equal(y_hat, ref["y_hat"])


def test_unsupported_latent_codec_is_named():
    from compressai.latent_codecs import EntropyBottleneckLatentCodec, HyperpriorLatentCodec

    system = System.tiny("msh")
    hyper = system.codec.latent_codec.latent_codec["hyper"]
    odd = HyperpriorLatentCodec(latent_codec={"y": EntropyBottleneckLatentCodec(channels=12), "hyper": hyper})
    with pytest.raises(BitstreamError, match=r"y=EntropyBottleneckLatentCodec.*is not supported.*supported: Hyper"):
        EntropyCoder(odd)


def test_gemm_convolutions_equal_torch_on_the_grid():
    """The GPU path's convolutions (im2col + one product, never cuDNN) give torch's CPU float64 results exactly."""
    g = torch.Generator().manual_seed(0)
    x = to_grid(torch.randn(2, 6, 9, 7, generator=g, dtype=torch.float64) * 4)
    w = torch.round(torch.randn(8, 3, 3, 3, generator=g, dtype=torch.float64) * 2**10) / 2**12
    got = gemm_conv2d(x, w, (2, 1), (1, 1), (1, 2), 2)
    assert torch.equal(got, torch.nn.functional.conv2d(x, w, None, (2, 1), (1, 1), (1, 2), 2))
    wt = torch.round(torch.randn(6, 5, 5, 5, generator=g, dtype=torch.float64) * 2**10) / 2**12
    got = gemm_conv_transpose2d(x, wt, 2, 2, 1, 1)
    assert torch.equal(got, torch.nn.functional.conv_transpose2d(x, wt, None, 2, 2, 1))


def test_scale_indexes_equal_build_indexes():
    """The binary search gives compressai's indices bit for bit: at, between and beyond the table's
    scales, below the lower bound, infinite and NaN."""
    from rdpflex.codecs.entropy_coder import scale_indexes

    gc = _system("msh").codec.latent_codec.latent_codec["y"].gaussian_conditional
    table = gc.scale_table
    g = torch.Generator().manual_seed(1)
    special = torch.tensor([0.0, -1.0, 1e-9, float("inf"), float("-inf"), float("nan"), 1e30])
    near = torch.cat([table, torch.nextafter(table, torch.zeros_like(table)), torch.nextafter(table, table * 2)])
    scales = torch.cat(
        [torch.rand(20000, generator=g) * 80, torch.exp(torch.randn(20000, generator=g) * 3), near, special]
    )
    scales = scales.reshape(1, -1, 1, 1)
    assert torch.equal(scale_indexes(gc, scales), gc.build_indexes(scales))


@pytest.mark.parametrize("arch", ["msh", "elic", "bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor"])
def test_rate_estimate_is_the_models_own_forward_estimate(arch):
    """The estimate summed while coding (no second network pass) equals the entropy model's own forward
    estimate on the float path, and stays within a fraction of a percent of it on the exact path."""
    system = _system(arch)
    codec = system.codec
    x = codec.pad(_crops(1, 64, 64)[0][1])
    with torch.no_grad():
        y = codec.g_a(x)
        forward = float(sum((-torch.log2(v)).sum() for v in codec.latent_codec(y)["likelihoods"].values()))
        float_bits = codec.entropy_encode(y, exact=False, estimate=True)["estimated_bits"]
        exact_bits = codec.entropy_encode(y, exact=True, estimate=True)["estimated_bits"]
    assert float_bits == pytest.approx(forward, rel=1e-5)
    assert exact_bits == pytest.approx(forward, rel=5e-3)
    assert "estimated_bits" not in codec.entropy_encode(y, exact=False)
