"""Registration of the ``multirealism`` decoder family (filled in by the multirealism issue)."""
