"""Fixtures of the metric tests: stand-in weights in a temporary TORCH_HOME, no network, no plugins."""

from __future__ import annotations

import socket

import pytest
import torch

from rdpflex.plugins import reset_plugins


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


@pytest.fixture
def one_thread():
    """Inception on 2 shared cores runs faster single-threaded (less oversubscription); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
