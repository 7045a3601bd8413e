"""``rdpflex bench startup``: wall time of command-line commands from a fresh process, and what they import.

Each command runs as ``python -m rdpflex.cli ARGS`` in a new process, the commands interleaved and
repeated, median wall time. One extra run under ``python -X importtime`` tells whether the command
imported torch and compressai and what those imports cost (cumulative microseconds of the first
``import torch`` / ``import compressai`` in CPython's own import-time log). Commands that need no model
(``--help``, ``plugins``, ``decoders``, ``recipes ...``) should not import either.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from rdpflex.errors import RdpflexError

#: (label, arguments) pairs
Commands = tuple[tuple[str, tuple[str, ...]], ...]

#: the commands measured; ``{image}``, ``{rdp}`` and ``{out}`` are replaced by files made for the run
COMMANDS: Commands = (
    ("rdpflex --help", ("--help",)),
    ("rdpflex plugins", ("plugins",)),
    ("rdpflex decoders", ("decoders",)),
    ("rdpflex recipes ls", ("recipes", "ls")),
    ("rdpflex recipes show quick/codec", ("recipes", "show", "quick/codec")),
    ("rdpflex recipes validate quick/codec", ("recipes", "validate", "quick/codec")),
    ("rdpflex compress one.png -o one.rdp", ("compress", "{image}", "-o", "{out}/one.rdp")),
    ("rdpflex decompress one.rdp -o out", ("decompress", "{rdp}", "-o", "{out}/decoded")),
)
HEAVY = ("torch", "compressai")


def parse_importtime(stderr: str) -> dict[str, float]:
    """Seconds of the top-level import of each of :data:`HEAVY` in a ``-X importtime`` log (absent: not imported).

    Lines read ``import time: <self us> | <cumulative us> | <indent><module>``; a package's own line
    comes after its submodules', with its cumulative time, so the first line naming it at any
    indentation is the one to read.
    """
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        if len(parts) != 3:
            continue
        name = parts[2].strip()
        if name in HEAVY and name not in found:
            try:
                found[name] = int(parts[1]) / 1e6
            except ValueError:
                continue
    return found


def _run(args: list[str], env: dict[str, str], importtime: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "rdpflex.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def bench_startup(repeats: int = 3, commands: Commands = COMMANDS) -> list[dict[str, Any]]:
    """One row per command: median and min wall seconds over ``repeats`` interleaved runs, and its heavy imports."""
    from PIL import Image

    from rdpflex.samples import sample_array

    env = {**os.environ, "TQDM_DISABLE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "one.png"
        Image.fromarray(sample_array("astronaut")[:256, :256]).save(image)
        rdp = Path(tmp) / "given.rdp"
        made = _run(["compress", str(image), "-o", str(rdp)], env)
        if made.returncode != 0:
            raise RdpflexError(f"bench startup: could not compress a sample image ({made.stderr.strip()[-200:]})")

        def argv(args: tuple[str, ...]) -> list[str]:
            return [a.format(image=image, rdp=rdp, out=tmp) for a in args]

        times: dict[str, list[float]] = {label: [] for label, _ in commands}
        for _ in range(repeats):
            for label, args in commands:
                t = time.perf_counter()
                proc = _run(argv(args), env)
                times[label].append(time.perf_counter() - t)
                if proc.returncode != 0:
                    raise RdpflexError(f"bench startup: `{label}` failed ({proc.stderr.strip()[-200:]})")
        rows = []
        for label, args in commands:
            imported = parse_importtime(_run(argv(args), env, importtime=True).stderr)
            rows.append(
                {
                    "command": label,
                    "median_s": median(times[label]),
                    "min_s": min(times[label]),
                    "imports_torch": "torch" in imported,
                    "torch_import_s": imported.get("torch"),
                    "imports_compressai": "compressai" in imported,
                    "compressai_import_s": imported.get("compressai"),
                }
            )
    return rows
