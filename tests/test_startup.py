"""The command line starts without the heavy stack where it needs no model (issue 13, part 6)."""

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from rdpflex.cli import LAZY_COMMANDS, cli, load_command

HEAVY = ("torch", "compressai", "diffusers", "accelerate")


def imported_after(*argv: str) -> set[str]:
    """Heavy modules present after running ``rdpflex ARGV`` in a fresh interpreter."""
    code = (
        "import sys; from rdpflex.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("heavy:")][-1]
    return {m for m in line.removeprefix("heavy:").split(",") if m}


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("plugins",),
        ("recipes", "ls"),
        ("recipes", "show", "quick/codec"),
        ("bench", "--help"),
        ("decoders",),
        ("decoders", "--json"),
        ("recipes", "validate", "quick/codec"),
        ("recipes", "validate", "quick/multirealism-joint"),
        ("recipes", "validate", "quick/cdiff-decoder"),
    ],
)
def test_commands_without_a_model_import_no_heavy_module(argv):
    assert imported_after(*argv) == set()


def test_lazy_short_help_matches_the_command():
    for name, (_, short) in LAZY_COMMANDS.items():
        assert load_command(name).get_short_help_str(1000) == short, name


def test_help_lists_every_command():
    from click.testing import CliRunner

    out = CliRunner().invoke(cli, ["--help"]).output
    for name in [*LAZY_COMMANDS, "compress", "decompress", "decoders", "plugins", "import-compressai"]:
        assert f"  {name} " in out


def test_own_plugins_add_no_commands():
    """`rdpflex --help` skips rdpflex's own plugin modules when collecting plugin commands: they must add none."""
    from rdpflex.plugins import OWN_DISTRIBUTION

    own = [ep for ep in entry_points(group="rdpflex") if ep.dist and ep.dist.name == OWN_DISTRIBUTION]
    assert own
    for ep in own:
        assert not hasattr(ep.load(), "register_commands"), ep.name


def test_plugins_command_lists_without_loading(monkeypatch):
    import json

    from click.testing import CliRunner

    monkeypatch.setenv("RDPFLEX_BLOCK_PLUGINS", "multirealism")
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    by_name = {r["name"]: r for r in rows}
    assert by_name["mse"]["builtin"] and not by_name["mse"]["blocked"]
    assert by_name["multirealism"]["blocked"]


def test_plugin_commands_still_load(tmp_path):
    (tmp_path / "cmd_plugin.py").write_text(
        "import click\nfrom rdpflex.hookspecs import hookimpl\n\n@hookimpl\ndef register_commands(cli):\n"
        "    @cli.command('hello')\n    def hello():\n        'Say hello.'\n        click.echo('hello from a plugin')\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path), "RDPFLEX_PLUGIN_MODULES": "cmd_plugin"}

    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "rdpflex.cli", *a], capture_output=True, text=True, env=env, timeout=120
        )

    assert run("hello").stdout.strip() == "hello from a plugin"
    assert "Say hello." in run("--help").stdout


def test_a_builtin_command_that_fails_to_import_is_an_error(monkeypatch, capsys):
    """Not dropped silently: running it fails, naming the command and the import error."""
    from rdpflex.cli import main

    monkeypatch.setitem(LAZY_COMMANDS, "broken", ("rdpflex.no_such_module:command", "Broken."))
    with pytest.raises(SystemExit) as exc:
        main(["broken"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "built-in command 'broken' cannot be loaded" in err and "rdpflex.no_such_module" in err
