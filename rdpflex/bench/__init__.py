"""``rdpflex bench``: rdpflex's performance record, measured side by side with its peers in one run.

- :mod:`.codec` — encode/decode time and file size against CompressAI's ``compress``/``decompress`` of
  the same model (``rdpflex bench codec``);
- :mod:`.decoders` — every decoder's ms per megapixel as a ratio to ``mse``, batch scaling, peak memory
  (``rdpflex bench decoders``);
- :mod:`.train` — optimiser steps per second of each training stage, 1 and 2 processes (``rdpflex bench train``);
- :mod:`.common` — interleaved timing, machine description, tables and JSON.

Times are medians of repeats measured alternately (A, B, A, B...) so that load drifts hit every
contender alike; the ratios carry over between machines, the absolute figures only describe this one.
"""
