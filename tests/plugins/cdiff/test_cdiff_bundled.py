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


def test_the_bundled_cdiff_beats_mse_perceptually_at_its_defaults(tmp_path):
    """docs/decoders/cdiff.md: the bundled flow at its defaults (2 Euler steps) has a lower ST-LPIPS than
    ``mse`` on the held-out photographs, at a PSNR within 2 dB (here at 256 px, through decode_images)."""
    from rdpflex.cards import parse_options
    from rdpflex.evaluation.samples import export_samples
    from rdpflex.images import load_image
    from rdpflex.metrics.stlpips import STLPIPS
    from rdpflex.pipeline import compress_images, decode_images, psnr

    system = System.load(BUNDLED_DEMO_SYSTEM)
    cdiff = system.decoder("cdiff")
    assert cdiff.objective == "flow"
    defaults = parse_options(cdiff, {})
    assert (defaults.scheduler, defaults.steps) == ("flow-euler", 2)
    paths = export_samples(tmp_path, max_side=256)
    rdp = compress_images(paths, system).rdp
    originals = {p.stem: load_image(p) for p in paths}
    metric = STLPIPS()
    scores = {}
    for name in ("mse", "cdiff"):
        decoded = dict(decode_images(rdp, system, name, seed=0))
        scores[name] = {k: (psnr(originals[k], x), metric.compute(originals[k], x)) for k, x in decoded.items()}
    mean_st = {name: sum(st for _, st in s.values()) / len(s) for name, s in scores.items()}
    assert mean_st["cdiff"] < mean_st["mse"], scores
    assert all(scores["cdiff"][k][0] > scores["mse"][k][0] - 2 for k in originals), scores
