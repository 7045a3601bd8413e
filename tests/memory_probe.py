"""Peak memory of one encode or decode of a SIDE x SIDE image with the bundled demo system, in a fresh process.

    python tests/memory_probe.py PHASE SIDE DIR
    PHASE: encode | mse | multirealism | mse-synthesis | multirealism-synthesis

``encode`` writes DIR/probe.rdp (a random image), the decoders read it; ``*-synthesis`` decode a random latent
(no entropy decoding: the always-on test). Prints one JSON line: peak RSS (ru_maxrss) after loading the
system (``base_mib``) and at the end (``peak_mib``), and the seconds taken.
"""

import json
import resource
import sys
import time

import torch

from rdpflex import pipeline
from rdpflex.bitstream import read_rdp, write_rdp
from rdpflex.latent import Latent
from rdpflex.system import System


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(phase: str, side: int, folder: str) -> None:
    torch.set_num_threads(2)
    system = System.load(None)
    if phase.startswith("multirealism"):
        system.decoder("multirealism")
    base, t = rss_mib(), time.time()
    if phase == "encode":
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
        write_rdp(f"{folder}/probe.rdp", pipeline.compress_images([("probe", x)], system, estimate=False).rdp)
    elif phase.endswith("-synthesis"):
        c = system.codec
        y = torch.randn(
            1,
            c.latent_channels,
            side // c.latent_stride,
            side // c.latent_stride,
            generator=torch.Generator().manual_seed(0),
        ).round()
        pipeline.decode_latent(Latent(y, (side, side), (side, side)), system, phase.split("-")[0])
    else:
        for _ in pipeline.decode_images(read_rdp(f"{folder}/probe.rdp"), system, phase):
            pass
    print(
        json.dumps(
            {
                "phase": phase,
                "side": side,
                "base_mib": round(base),
                "peak_mib": round(rss_mib()),
                "seconds": round(time.time() - t, 1),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else ".")
