"""Writes the "before the composed entropy path" fixtures (issue 23). Run once, at commit 9fba0fd:

    PYTHONPATH=. python tests/data/pre23/make_fixtures.py

Kept for provenance; ``tests/codecs/test_pre23_files.py`` checks that the current code still decodes
these files to the same latents and re-encodes the same images to the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from compressai.zoo.image import model_architectures
from PIL import Image
from skimage import data

from rdpflex.bitstream import dumps, write_rdp
from rdpflex.codecs.compressai_zoo import CompressAIZooCodec
from rdpflex.pipeline import compress_images, latents, to_uint8
from rdpflex.system import System

HERE = Path(__file__).parent
SMALL = {"mbt2018-mean": dict(N=8, M=12), "cheng2020-anchor": dict(N=8)}


def zoo_system(arch: str) -> System:
    torch.manual_seed(3)
    net = model_architectures[arch](**SMALL[arch])
    net.update(force=True)
    return System(CompressAIZooCodec(arch, N=int(net.N), M=int(net.M), net=net.eval()))


def sha(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().cpu().numpy().tobytes()).hexdigest()


def main() -> None:
    photo = np.asarray(data.astronaut())
    crops = {"a": photo[0:64, 0:64], "b": photo[100:164, 40:104], "c": photo[200:248, 300:380]}
    for stem, c in crops.items():
        Image.fromarray(np.ascontiguousarray(c)).save(HERE / f"{stem}.png")
    pngs = [HERE / f"{stem}.png" for stem in crops]
    systems = {
        "demo": System.load(None),
        "mbt2018-mean": zoo_system("mbt2018-mean"),
        "cheng2020-anchor": zoo_system("cheng2020-anchor"),
        "elic": System.tiny("elic", seed=2),
    }
    expected: dict[str, dict] = {}
    for name, system in systems.items():
        if name == "mbt2018-mean":  # stored; the others are rebuilt from their seeds (fingerprint checked)
            system.save(HERE / f"{name}-system")
        for exact in (True, False) if name in ("demo", "mbt2018-mean") else (True,):
            rdp = compress_images(pngs, system, estimate=False, exact=exact).rdp
            fname = f"{name}-{'exact' if exact else 'float'}.rdp"
            write_rdp(HERE / fname, rdp)
            lats = list(latents(rdp, system))
            entry: dict = {
                "system": name,
                "exact": exact,
                "file_sha256": hashlib.sha256(dumps(rdp)).hexdigest(),
                "symbols_crc": [im.symbols_crc for im in rdp.images],
                "latent_sha256": [sha(lat.y_hat) for lat in lats],
            }
            if name == "demo" and exact:
                for lat in lats:  # the reference (mse) reconstruction, 8-bit
                    x = system.codec.synthesize(lat.y_hat).clamp(0, 1)[..., : lat.image_size[0], : lat.image_size[1]]
                    Image.fromarray(to_uint8(x)).save(HERE / f"{lat.stem}-mse.png")
            expected[fname] = entry
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
