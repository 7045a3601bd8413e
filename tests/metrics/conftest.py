"""Fixtures of the metric tests: stand-in weights in a temporary TORCH_HOME, no network, no plugins."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

from rdpflex.plugins import reset_plugins

WEIGHT_ENV = ("RDPFLEX_INCEPTION_WEIGHTS", "RDPFLEX_ALEXNET_WEIGHTS")


class NetworkAttempt(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every metric test runs with sockets and torch.hub downloads disabled; attempts are recorded."""
    attempts: list[str] = []

    def refuse(what):
        def _refuse(*args, **kwargs):
            attempts.append(f"{what}{args[:2]}")
            raise NetworkAttempt(f"network access attempted: {what}")

        return _refuse

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse("torch.hub.download_url_to_file"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse("torch.hub.load_state_dict_from_url"))
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    monkeypatch.setattr(tfi, "load_state_dict_from_url", refuse("torch_fidelity load_state_dict_from_url"))
    yield attempts
    assert not attempts, f"network access attempted: {attempts}"


@pytest.fixture(autouse=True)
def isolated_plugins(monkeypatch):
    """Load no entry-point plugins (other plugins' state must not affect these tests)."""
    monkeypatch.setenv("RDPFLEX_PLUGINS", "")
    monkeypatch.delenv("RDPFLEX_PLUGIN_MODULES", raising=False)
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture(scope="session")
def stand_in_dir(tmp_path_factory) -> Path:
    """A TORCH_HOME with stand-in weights for both metric networks (written once per session)."""
    from rdpflex.metrics.stand_in import stand_in_torch_home

    home = tmp_path_factory.mktemp("torch_home")
    stand_in_torch_home(home, seed=0)
    return home


@pytest.fixture
def stand_in_home(stand_in_dir, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(stand_in_dir))
    for var in WEIGHT_ENV:
        monkeypatch.delenv(var, raising=False)
    return stand_in_dir


@pytest.fixture
def empty_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "empty_torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    for var in WEIGHT_ENV:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def one_thread():
    """Inception on 2 shared cores runs faster single-threaded (less oversubscription); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
