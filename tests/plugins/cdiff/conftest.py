"""Fixtures of the cdiff tests: the tiny test codec, a tiny untrained cdiff decoder, latents from a file."""

import pytest

from rdpflex.latent import Latent
from rdpflex.system import System
from rdpflex_plugins.cdiff import CDiffDecoder

from .cdiff_helpers import random_latents, tiny_cdiff


@pytest.fixture(scope="module")
def system() -> System:
    return System.tiny("msh", seed=0)


@pytest.fixture(scope="module")
def decoder(system) -> CDiffDecoder:
    return tiny_cdiff(system.codec.latent_channels)


@pytest.fixture(scope="module")
def lats(system) -> list[Latent]:
    return random_latents(system)
