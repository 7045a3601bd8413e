"""The bundled demo system carries a quick-trained cdiff that the command line decodes with."""

import os
import subprocess
import sys

from rdpflex.system import BUNDLED_DEMO_SYSTEM, System


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", *map(str, args)], capture_output=True, text=True, env=os.environ
    )


def test_bundled_system_decodes_with_cdiff(tmp_path, image_paths):
    system = System.load(BUNDLED_DEMO_SYSTEM)
    assert {"cdiff", "multirealism"} <= set(system.trained_decoders())
    r = run("compress", image_paths[0], "-o", tmp_path / "a.rdp")
    assert r.returncode == 0, r.stderr
    r = run(
        "decompress",
        tmp_path / "a.rdp",
        "-o",
        tmp_path / "out",
        "--decoder",
        "cdiff",
        "--set",
        "steps=4",  # at the bundled decoder's own sampler, whichever objective it was trained with
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / f"{image_paths[0].stem}.png").is_file()
    r = run("decompress", tmp_path / "a.rdp", "-o", tmp_path / "bad", "--decoder", "cdiff", "--set", "steps=0")
    assert r.returncode == 2 and "1 <= steps <= 1000" in r.stderr
