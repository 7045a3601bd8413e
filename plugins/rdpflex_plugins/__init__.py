"""rdpflex's built-in decoder families, registered through the ``rdpflex`` entry-point group exactly
like third-party plugins (see ``pyproject.toml``)."""
