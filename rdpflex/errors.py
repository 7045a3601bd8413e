"""User-facing errors. Each carries a one-line message naming the problem and the valid choices.

The CLI prints ``error: <message>`` and exits non-zero for any :class:`RdpflexError`; other
exceptions are bugs and are shown with a traceback only under ``--debug``.
"""


class RdpflexError(Exception):
    """Base class of every error caused by bad input or a missing resource."""

    exit_code = 2


class BitstreamError(RdpflexError):
    """A ``.rdp`` file is truncated, corrupted, foreign or of an unsupported version."""


class SystemError_(RdpflexError):
    """A system directory is missing, incomplete or inconsistent."""


class FingerprintMismatchError(RdpflexError):
    """A bitstream or decoder was produced by another codec than the one loaded."""


class UnknownPluginError(RdpflexError):
    """A decoder, codec, metric or stage name that no installed plugin registers."""


class OptionsError(RdpflexError):
    """Decode-time options (``--set KEY=VALUE``) that fail the decoder's ``Options`` model."""


class ImageError(RdpflexError):
    """An input image that cannot be read or is unusable (too small, bad mode)."""


class WeightsMissingError(RdpflexError):
    """Pretrained weights that are needed but not present locally (no downloads here)."""


class RecipeError(RdpflexError):
    """A training recipe that does not validate; the message lists every failing field."""


class EntropyMismatchError(BitstreamError):
    """The entropy decoder did not reproduce the encoder's symbols (entropy parameters computed differently)."""


class ForeignFileError(FingerprintMismatchError, BitstreamError):
    """A ``.rdp`` file written by another codec than the system's: both a bitstream and a fingerprint error."""


class DamagedImagesError(BitstreamError):
    """``keep_going``: the intact images of a file were decoded, these were not; ``lines`` names each, one line per
    image (the command line prints them as ``error: ...`` lines and exits 2)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        super().__init__(f"{len(self.lines)} damaged image(s) not decoded: " + " | ".join(self.lines))
