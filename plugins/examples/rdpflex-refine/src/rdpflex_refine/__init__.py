"""rdpflex-refine: an example decoder plugin (decoder family ``refine``).

x_hat = clamp(x_mse + strength * R(x_mse) + unsharp * (x_mse - blur(x_mse)), 0, 1), where x_mse = g_s(y_hat)
is the codec's own reconstruction and R a small residual CNN trained on a frozen codec.

- :mod:`.options`  — the decode-time ``Options`` (pydantic only)
- :mod:`.settings` — the training settings (``decoder.settings`` of a recipe; pydantic only)
- :mod:`.hooks`    — the plugin module named by the entry point: cards, no torch
- :mod:`.decoder`  — :class:`~rdpflex_refine.decoder.RefineDecoder` and its component ``Refiner``
- :mod:`.training` — :class:`~rdpflex_refine.training.RefineTrainer` for ``stage: decoder``
"""

__version__ = "0.1.0"
