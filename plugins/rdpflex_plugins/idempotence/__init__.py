"""The ``idempotence`` decoder family: an unconditional diffusion prior inverted under a re-encoding constraint."""
