"""`rdpflex demo` with every real family (not only mse), small enough for `make test`: the wave-3 promises on
the path users run — one bitstream, every family along its demo chain, ST-LPIPS with an empty torch cache, and
each generative family's defining property at its demo setting."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

from rdpflex.evaluation.samples import DEMO_DECODERS
from rdpflex.evaluation.specs import parse_decoder_spec


def test_demo_runs_every_family_with_st_lpips_and_keeps_their_promises(tmp_path):
    home = tmp_path / "empty_torch_home"
    home.mkdir()
    # the real plugins (this folder's autouse fixture selects mse + test decoders for in-process runs)
    env = {k: v for k, v in os.environ.items() if k not in ("RDPFLEX_PLUGINS", "RDPFLEX_PLUGIN_MODULES")}
    env |= {"TORCH_HOME": str(home), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", "demo", "-o", str(tmp_path / "demo"), "--samples", "astronaut,coffee"]
        + ["--max-side", "128", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    rows = {(s["decoder"], s["setting"]): s for s in result["summary"] if s["decoder"] not in ("jpeg", "webp")}
    wanted = {("mse", "default")}
    for spec in DEMO_DECODERS[1:]:
        parsed = parse_decoder_spec(spec)
        ((knob, values),) = parsed.knobs
        wanted |= {(parsed.name, f"{knob}={v}") for v in values}
    assert set(rows) == wanted
    assert len({row["bytes"] for row in rows.values()}) == 1  # one bitstream for every decoder
    assert all(math.isfinite(row["st-lpips"]) for row in rows.values())  # ST-LPIPS offline, for every family
    mse = rows[("mse", "default")]
    # cdiff (the bundled flow at its default 2 steps) is perceptually better than mse
    assert rows[("cdiff", "steps=2")]["st-lpips"] < mse["st-lpips"]
    # idempotence re-encodes at least as faithfully as mse's own output
    assert rows[("idempotence", "zeta=0")]["reencode_mse_psnr"] >= mse["reencode_mse_psnr"]
    # multi-realism: more beta, lower ST-LPIPS (the realism end of the trade-off)
    betas = [rows[("multirealism", f"beta={b}")]["st-lpips"] for b in ("0", "0.64", "1.28", "2.56")]
    assert betas[-1] < betas[0]
    assert (tmp_path / "demo" / "report" / "report.html").is_file()
