"""rdpflex: generative learned image compression — one bitstream, swappable decoders.

::

    images ─g_a─► y ─entropy model─► .rdp ─entropy decode─► Latent ─► decoder plugin ─► images

Public API (stable): :class:`System`, :func:`compress_images`, :func:`decompress_file`,
:class:`Latent`, :class:`Decoder`, :func:`get_decoder_class`, :class:`RdpflexError`.
"""

__version__ = "0.1.0"

from rdpflex.errors import BitstreamError, RdpflexError

__all__ = ["__version__", "RdpflexError", "BitstreamError"]
