"""Resource limits fixed before any payload is read: the largest image rdpflex encodes or decodes.

A ``.rdp`` header may claim any size up to 65536x65536 with valid CRCs; decoding it would allocate
gigabytes before the entropy decoder noticed the streams are too short. Every image's padded size is
therefore checked against a pixel cap *before* entropy decoding (:func:`rdpflex.pipeline.latents`)
and before encoding (:func:`rdpflex.images.check_size`).

Default: ``DEFAULT_MAX_PIXELS`` = 2^26 (67.1 Mpx, e.g. 8192x8192), overridable with the
environment variable ``RDPFLEX_MAX_PIXELS`` or the ``max_pixels`` argument of the library calls.
"""

from __future__ import annotations

import os

from rdpflex.errors import RdpflexError

DEFAULT_MAX_PIXELS = 1 << 26
ENV_MAX_PIXELS = "RDPFLEX_MAX_PIXELS"


def max_pixels(override: int | None = None) -> int:
    """The pixel cap in force: ``override``, else ``$RDPFLEX_MAX_PIXELS``, else the default."""
    if override is not None:
        return int(override)
    raw = os.environ.get(ENV_MAX_PIXELS)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        raise RdpflexError(
            f"{ENV_MAX_PIXELS}={raw!r} is not an integer (pixels per image, default {DEFAULT_MAX_PIXELS})"
        ) from None
    if value < 1:
        raise RdpflexError(
            f"{ENV_MAX_PIXELS}={raw!r} must be a positive number of pixels (default {DEFAULT_MAX_PIXELS})"
        )
    return value


def pixel_cap_message(what: str, h: int, w: int, cap: int) -> str:
    """One line naming the size, the cap and how to raise it."""
    return (
        f"{what} is {w}x{h} = {h * w} pixels, above the limit of {cap} pixels per image "
        f"(set {ENV_MAX_PIXELS} to raise it if you have the memory)"
    )
