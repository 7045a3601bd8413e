"""Tests of ``rdpflex.codecs``, one module per codec module."""

from __future__ import annotations

import torch

from rdpflex.codecs import TINY, Codec
from rdpflex.registry import build_codec


def tiny_codec(arch: str) -> Codec:
    """The tiny ``arch`` codec of ``TINY``, seeded (0), in eval mode, with its CDF tables built: ready to code."""
    torch.manual_seed(0)
    codec = build_codec(arch, **TINY[arch]).eval()
    codec.update(force=True)
    return codec
