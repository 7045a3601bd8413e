"""``rdpflex plugins new NAME``: the written plugin installs nothing yet already registers, decodes, passes its
conformance suite and ruff; bad names, taken names and non-empty directories are one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from rdpflex.cli import cli, main
from rdpflex.plugin_template import placeholders, write_plugin

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"
#: what `plugins new sharpen` writes, relative to its output directory
SHARPEN_FILES = {
    "pyproject.toml",
    "README.md",
    "src/rdpflex_sharpen/__init__.py",
    "src/rdpflex_sharpen/options.py",
    "src/rdpflex_sharpen/hooks.py",
    "src/rdpflex_sharpen/decoder.py",
    "tests/test_sharpen.py",
}


def plugin_env(*outs: Path) -> dict[str, str]:
    """The environment that loads the written plugins without installing them."""
    packages = [next((out / "src").iterdir()).name for out in outs]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(out / "src") for out in outs),
        "RDPFLEX_PLUGIN_MODULES": ",".join(f"{p}.hooks" for p in packages),
    }


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def sharpen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("new") / "rdpflex-sharpen"
    written = write_plugin("sharpen", out)
    assert {p.relative_to(out).as_posix() for p in written} == SHARPEN_FILES
    return out


def test_the_written_plugins_pass_their_conformance_suites(sharpen, tmp_path):
    dashed = tmp_path / "rdpflex-soft-edge"
    write_plugin("soft-edge", dashed)
    decoder = (dashed / "src" / "rdpflex_soft_edge" / "decoder.py").read_text()  # dashes become underscores
    assert "class SoftEdgeDecoder(DecoderBase, card=DECODER)" in decoder
    r = run(
        ["-m", "pytest", str(sharpen / "tests"), str(dashed / "tests"), "-q", "-p", "no:cacheprovider"],
        plugin_env(sharpen, dashed),
        tmp_path,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "18 passed" in r.stdout  # per plugin: the 8 conformance checks and its own (amount=0 is the mse image)


def test_the_written_plugin_is_listed_and_decodes(sharpen, tmp_path, tiny_system_dir, image_paths):
    from rdpflex.bitstream import write_rdp
    from rdpflex.pipeline import compress_images, decode_images, to_uint8

    env = plugin_env(sharpen)
    r = run(["-m", "rdpflex.cli", "decoders", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    [card] = [d for d in json.loads(r.stdout) if d["name"] == "sharpen"]
    assert not card["needs_weights"] and card["sweep"] == {"amount": [0.0, 0.5, 1.0]}
    assert set(card["options"]["properties"]) == {"amount", "radius"}
    rows = {
        row["name"]: row for row in json.loads(run(["-m", "rdpflex.cli", "plugins", "--json"], env, tmp_path).stdout)
    }
    assert rows["rdpflex_sharpen.hooks"]["registers"] == {"register_decoders": ["sharpen"]}

    rdp = tmp_path / "set.rdp"
    write_rdp(rdp, compress_images(image_paths, tiny_system_dir).rdp)
    args = ["decompress", str(rdp), "-o", str(tmp_path / "out"), "--system", str(tiny_system_dir)]
    r = run(["-m", "rdpflex.cli", *args, "--decoder", "sharpen", "--set", "amount=0.5"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    mse = dict(decode_images(rdp, tiny_system_dir))
    pngs = {p.stem: np.asarray(Image.open(tmp_path / "out" / p.name)) for p in image_paths}
    assert all(pngs[p.stem].shape == np.asarray(Image.open(p)).shape for p in image_paths)
    assert any(not np.array_equal(png, to_uint8(mse[stem])) for stem, png in pngs.items())  # sharpened


def test_the_written_files_pass_ruff(sharpen):
    for cmd in (["check"], ["format", "--check"]):
        r = subprocess.run([str(RUFF), *cmd, "."], cwd=sharpen, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize(
    "name, message",
    [
        ("my filter", "'my filter' is not a valid decoder name: use letters, digits, '-' and '_'"),
        ("a:b", "'a:b' is not a valid decoder name"),
        ("", "'' is not a valid decoder name"),
        ("my.filter", "decoder name 'my.filter' gives no Python package name"),
        ("mse", "decoder 'mse' is already registered (by rdpflex_plugins.mse.decoder); pick a name other than: "),
        ("multirealism", "decoder 'multirealism' is already registered"),
    ],
)
def test_bad_or_taken_names_are_one_line_errors(name, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plugins", "new", name, "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith(f"error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_a_non_empty_output_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "rdpflex-sharpen"
    out.mkdir()
    assert len(write_plugin("sharpen", out)) == len(SHARPEN_FILES)  # an empty directory is fine
    (out / "README.md").write_text("mine")
    with pytest.raises(SystemExit) as exc:
        main(["plugins", "new", "sharpen", "-o", str(out)])
    err = capsys.readouterr().err
    assert (
        exc.value.code == 2
        and err == f"error: output directory {out} exists and is not empty: choose another --output, or pass --force\n"
    )
    assert (out / "README.md").read_text() == "mine"
    (out / "notes.txt").write_text("kept")
    r = CliRunner().invoke(cli, ["plugins", "new", "sharpen", "-o", str(out), "--force"])
    assert r.exit_code == 0, r.output
    assert (out / "README.md").read_text() != "mine" and (out / "notes.txt").read_text() == "kept"


def test_default_output_and_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["plugins", "new", "sharpen"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rdpflex-sharpen" / "src" / "rdpflex_sharpen" / "hooks.py").is_file()
    assert "pip install -e rdpflex-sharpen" in r.output
    assert placeholders("my-filter_2") | {"rdpflex_version": ""} == {
        "name": "my-filter_2",
        "distribution": "rdpflex-my-filter_2",
        "package": "rdpflex_my_filter_2",
        "module": "my_filter_2",
        "Class": "MyFilter2",
        "rdpflex_version": "",
    }
    assert placeholders("4k")["Class"] == "Rdpflex4k"


def test_the_light_modules_import_no_torch(sharpen, tmp_path):
    code = "import sys, rdpflex_sharpen.hooks; print(sorted(m for m in ('torch', 'compressai') if m in sys.modules))"
    r = run(["-c", code], plugin_env(sharpen), tmp_path)
    assert (r.returncode, r.stdout) == (0, "[]\n"), r.stderr


def test_plugins_without_a_subcommand_still_lists():
    r = CliRunner().invoke(cli, ["plugins"])
    assert r.exit_code == 0 and any(line.startswith("mse ") for line in r.output.splitlines()), r.output
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    assert {"mse", "multirealism"} <= {row["name"] for row in rows}
    assert "new" in CliRunner().invoke(cli, ["plugins", "--help"]).output
