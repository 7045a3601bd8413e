"""One ``.rdp`` decodes to the same latent under any thread count: encode in one process, decode in others.

Trained weights matter (random ones rarely put a scale near a table boundary): the bundled demo
system, tiny ``msh`` / ``elic`` systems trained for a few steps here, and an imported CompressAI
``mbt2018-mean`` trained likewise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from compressai.zoo.image import model_architectures
from PIL import Image
from skimage import data

from rdpflex import cli
from rdpflex.codecs.compressai_zoo import load_zoo_codec
from rdpflex.determinism import run_check
from rdpflex.registry import build_codec
from rdpflex.system import System

#: (H, W) crops of awkward sizes, from different photographs; chelsea and immunohistochemistry are neighbours that
#: pad to the same size, so the decode takes the batched entropy path users take (pipeline.latents)
CROPS = {
    "astronaut": (17, 23),
    "coffee": (70, 33),
    "chelsea": (96, 128),
    "immunohistochemistry": (100, 110),
    "rocket": (129, 97),
}


@pytest.fixture(scope="module")
def varied_images(tmp_path_factory):
    d = tmp_path_factory.mktemp("varied")
    paths = []
    for name, (h, w) in CROPS.items():
        img = np.asarray(getattr(data, name)())
        top, left = (img.shape[0] - h) // 3, (img.shape[1] - w) // 2
        p = d / f"{name}.png"
        Image.fromarray(img[top : top + h, left : left + w]).save(p)
        paths.append(p)
    return paths


def train_few_steps(model: torch.nn.Module, steps: int = 25, lmbda: float = 0.01) -> torch.nn.Module:
    """A few Adam steps of rate-distortion loss on photograph crops, then entropy tables (update)."""
    torch.manual_seed(0)
    photos = [
        torch.from_numpy(np.asarray(getattr(data, n)())).permute(2, 0, 1).float() / 255 for n in ("astronaut", "coffee")
    ]
    params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam(params, lr=1e-3)
    model.train()
    for _ in range(steps):
        batch = []
        for img in photos:
            top, left = (int(torch.randint(0, s - 64, ())) for s in img.shape[1:])
            batch.append(img[:, top : top + 64, left : left + 64])
        x = torch.stack(batch)
        out = model(x)
        bpp = sum((-torch.log2(v)).sum() for v in out["likelihoods"].values()) / (x.shape[0] * 64 * 64)
        loss = lmbda * 255**2 * torch.mean((out["x_hat"] - x) ** 2) + bpp
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.update(force=True)
    return model


def _assert_exact(outcomes, n_images: int, n_decodes: int) -> None:
    assert len(outcomes) == n_images * n_decodes
    bad = [(o.stem, o.decode_threads) for o in outcomes if not o.latent_identical or o.mismatch_detected]
    assert not bad, f"latents differ for {bad}"


def test_bundled_system_decodes_identically_under_other_thread_counts(varied_images):
    _assert_exact(run_check(varied_images, None, encode_threads=2, decode_threads=[1, 3]), len(CROPS), 2)


@pytest.mark.parametrize("arch", ["msh", "elic"])
def test_trained_own_codecs_decode_identically(arch, varied_images, tmp_path):
    torch.manual_seed(1)
    codec = train_few_steps(
        build_codec(arch, **({"N": 16, "M": 24} if arch == "msh" else {"N": 16, "M": 20, "hidden": 24, "blocks": 1}))
    )
    sysdir = System(codec, info={"note": "trained for a few steps in a test"}).save(tmp_path / arch)
    _assert_exact(run_check(varied_images, sysdir, encode_threads=2, decode_threads=[1, 3]), len(CROPS), 2)


def test_imported_compressai_model_decodes_identically(varied_images, tmp_path):
    torch.manual_seed(2)
    net = train_few_steps(model_architectures["mbt2018-mean"](N=16, M=24))
    ckpt = tmp_path / "mbt.pth.tar"
    torch.save(net.state_dict(), ckpt)
    sysdir = System(load_zoo_codec("mbt2018-mean", 1, ckpt)).save(tmp_path / "mbt")
    _assert_exact(run_check(varied_images, sysdir, encode_threads=1, decode_threads=[2, 3]), len(CROPS), 2)


def test_determinism_command_prints_the_table(varied_images, capsys):
    cli.main(["determinism", str(varied_images[0]), "--threads", "1", "--json"])
    out = capsys.readouterr()
    assert '"latent_identical": true' in out.out and "1/1 decodes reproduced" in out.err


def test_determinism_command_rejects_bad_thread_counts(varied_images, capsys):
    with pytest.raises(SystemExit) as ei:
        cli.main(["determinism", str(varied_images[0]), "--threads", "0,x"])
    assert ei.value.code == 2 and "--threads expects" in capsys.readouterr().err
