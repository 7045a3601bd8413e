"""The ``idempotence`` decoder family: an unconditional diffusion prior inverted under a re-encoding constraint.

:mod:`.hooks` is the plugin module (cards, no torch); :mod:`.plugin` the decoder, :mod:`.training`
the ``prior`` stage, both imported on first use.
"""
