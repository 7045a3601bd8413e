"""Systems by reference (rdpflex.hub): local directories, bundled systems, Hugging Face repo ids from a local cache.

No test touches the network: tests/conftest.py sets ``HF_HUB_OFFLINE=1`` and every repo here lives in a
Hugging Face cache laid out under ``tmp_path`` (``models--OWNER--NAME/snapshots/<rev>/`` + ``refs/main``),
filled from the bundled demo system or from what :meth:`System.push_to_hub` uploaded to a fake Hub API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rdpflex.errors import RdpflexError
from rdpflex.hub import ALLOW_PATTERNS, bundled_systems, is_repo_id, resolve_system_dir
from rdpflex.system import BUNDLED_DEMO_SYSTEM, System

REPO = "rdpflex-test/demo-system"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def cache_repo(cache: Path, repo_id: str, folder: Path, revision: str = REVISION) -> Path:
    """Lay ``folder`` out as the cached snapshot of the model repo ``repo_id`` (huggingface_hub's cache layout)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def cli(*args, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rdpflex.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.parametrize(
    "ref, ok",
    [("owner/name", True), ("Owner-1/name.v2_b", True), ("name", False), ("runs/a/system", False),
     ("/abs/path", False), ("./rel/x", False), ("a--b/c", False), ("a/../b", False), ("rdpflex:demo-system", False)],
)  # fmt: skip
def test_repo_id_syntax(ref, ok):
    assert is_repo_id(ref) is ok


def test_a_local_directory_wins_over_a_repo_id(tmp_path, monkeypatch, tiny_system_dir):
    local = tmp_path / "owner" / "name"
    shutil.copytree(tiny_system_dir, local)
    monkeypatch.chdir(tmp_path)
    assert resolve_system_dir("owner/name", cache_dir=tmp_path / "empty-cache") == Path("owner/name")
    assert System.load("owner/name").fingerprint == System.load(tiny_system_dir).fingerprint


def test_bundled_systems_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "rdpflex:demo-system" in bundled_systems()
    assert System.load("rdpflex:demo-system").root == BUNDLED_DEMO_SYSTEM
    with pytest.raises(RdpflexError, match=r"no bundled system 'rdpflex:nope'; bundled: rdpflex:demo-system"):
        System.load("rdpflex:nope")


def test_a_cached_repo_loads_offline_with_every_decoder(tmp_path):
    cache = tmp_path / "hub"
    cache_repo(cache, REPO, BUNDLED_DEMO_SYSTEM)
    system = System.from_pretrained(REPO, cache_dir=cache)
    demo = System.load(BUNDLED_DEMO_SYSTEM)
    assert system.root.is_relative_to(cache) and system.fingerprint == demo.fingerprint
    assert system.trained_decoders() == demo.trained_decoders()
    for name in system.trained_decoders():  # each through the same safetensors-only loading as a local system
        assert type(system.decoder(name)).__name__ == type(demo.decoder(name)).__name__


def test_a_missing_repo_fails_offline_in_one_line_naming_repo_and_cache(tmp_path):
    cache = tmp_path / "hub"
    with pytest.raises(RdpflexError) as exc:
        System.from_pretrained("nobody/no-such-system", cache_dir=cache)
    msg = str(exc.value)
    assert "\n" not in msg and "nobody/no-such-system" in msg and str(cache) in msg and "HF_HUB_OFFLINE=1" in msg


def test_the_cli_takes_a_repo_id_for_system(tmp_path, image_paths):
    """compress and decompress with --system OWNER/NAME from a cache named by HF_HUB_CACHE, offline."""
    cache = tmp_path / "hub"
    cache_repo(cache, REPO, BUNDLED_DEMO_SYSTEM)
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    r = cli("compress", image_paths[0], "-o", tmp_path / "a.rdp", "--system", REPO, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("decompress", tmp_path / "a.rdp", "-o", tmp_path / "out", "--system", REPO, "--decoder",
            "multirealism", env=env, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / f"{image_paths[0].stem}.png").is_file()
    r = cli("compress", image_paths[0], "-o", tmp_path / "b.rdp", "--system", "nobody/missing", env=env, cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    [line] = r.stderr.strip().splitlines()
    assert "nobody/missing" in line and str(cache) in line
    assert not (tmp_path / "b.rdp").exists()


class FakeHub:
    """Stands in for huggingface_hub.HfApi: keeps what would be uploaded, per repo."""

    def __init__(self, store: Path) -> None:
        self.store, self.calls = store, []

    def create_repo(self, repo_id, *, private=None, exist_ok=False):
        self.calls.append(("create_repo", repo_id, private, exist_ok))

    def upload_folder(self, *, repo_id, folder_path, commit_message=None, allow_patterns=None):
        self.calls.append(("upload_folder", repo_id, commit_message, allow_patterns))
        dest = self.store / repo_id
        shutil.copytree(folder_path, dest)
        return f"https://huggingface.co/{repo_id}/commit/fake"


def test_push_to_hub_uploads_weights_configs_and_card_that_load_back(tmp_path):
    hub = FakeHub(tmp_path / "uploaded")
    system = System.load(BUNDLED_DEMO_SYSTEM)
    assert system.push_to_hub("me/demo", api=hub, private=True) == "https://huggingface.co/me/demo/commit/fake"
    assert hub.calls[0] == ("create_repo", "me/demo", True, True)
    assert hub.calls[1][1] == "me/demo" and hub.calls[1][3] == ALLOW_PATTERNS
    assert system.root == BUNDLED_DEMO_SYSTEM  # the temporary copy does not stick
    folder = hub.store / "me" / "demo"
    card = (folder / "README.md").read_text()
    meta = front_matter(card)
    assert meta["library_name"] == "rdpflex" and "rdpflex" in meta["tags"] and meta["license"] == "apache-2.0"
    assert 'System.from_pretrained("me/demo")' in card and system.fingerprint in card
    # what was pushed, pulled back through a cache, is the same system
    cache_repo(tmp_path / "hub", "me/demo", folder)
    pulled = System.from_pretrained("me/demo", cache_dir=tmp_path / "hub")
    assert pulled.fingerprint == system.fingerprint and pulled.trained_decoders() == system.trained_decoders()


def test_push_to_hub_refuses_a_malformed_repo_id(tmp_path):
    hub = FakeHub(tmp_path)
    with pytest.raises(RdpflexError, match="not a Hugging Face repo id; expected OWNER/NAME"):
        System.tiny().push_to_hub("no-owner", api=hub)
    assert hub.calls == []
