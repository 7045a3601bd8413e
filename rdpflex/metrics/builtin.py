"""The built-in metrics as a pluggy hook module.

:func:`rdpflex.metrics.all_metrics` already includes the built-ins without this module, so it is
optional; it exists so that an entry point (``[project.entry-points.rdpflex] metrics =
"rdpflex.metrics.builtin"``) can register them exactly like third-party metrics. Registering the
shared built-in objects twice is harmless: :func:`~rdpflex.metrics.all_metrics` only rejects a
*different* object under a built-in name.
"""

from __future__ import annotations

from rdpflex.hookspecs import hookimpl
from rdpflex.metrics.registry import builtin_metrics


@hookimpl
def register_metrics(register):
    for metric in builtin_metrics().values():
        register(metric)
