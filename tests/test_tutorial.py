"""docs/plugins/tutorial.md is the example plugin: every file it shows equals plugins/examples/rdpflex-refine/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "plugins" / "tutorial.md"
PLUGIN = ROOT / "plugins" / "examples" / "rdpflex-refine"


def shown_files() -> dict[str, str]:
    blocks = re.findall(r"```\w+\n# file: (\S+)\n(.*?)```", TUTORIAL.read_text(), flags=re.S)
    return {path: text for path, text in blocks}


def test_every_file_of_the_example_plugin_is_shown_verbatim():
    shown = shown_files()
    files = {
        p.relative_to(PLUGIN).as_posix()
        for p in PLUGIN.rglob("*")
        if p.is_file()
        and p.suffix in (".py", ".toml", ".yaml")
        and "egg-info" not in p.as_posix()
        and "__pycache__" not in p.as_posix()
        and p.name != "__init__.py"
    }
    assert files == set(shown), f"tutorial shows {sorted(shown)}, plugin has {sorted(files)}"
    for path, text in shown.items():
        assert (PLUGIN / path).read_text() == text, f"{path} differs from the tutorial"


def test_the_outputs_the_tutorial_shows_are_real(tmp_path):
    text = TUTORIAL.read_text()

    def run(*a):
        return subprocess.run([sys.executable, "-m", "rdpflex.cli", *a], capture_output=True, text=True, timeout=300)

    refused = run(
        "decompress",
        str(ROOT / "tests" / "data" / "v1-astronaut-crop.rdp"),
        "-o",
        str(tmp_path / "out"),
        "--decoder",
        "refine",
        "--set",
        "strength=3",
    )
    err = refused.stderr.strip()
    assert refused.returncode == 2 and err.startswith("error: ") and "\n" not in err
    assert err in text and not (tmp_path / "out").exists()
    decoders = run("decoders").stdout
    shown = text.split("$ rdpflex decoders\n")[1].split("```")[0]
    for line in [ln for ln in shown.splitlines() if ln.startswith(("refine ", "               "))]:
        assert line in decoders, line
