"""pluggy hook specifications of the ``rdpflex`` project (entry-point group ``rdpflex``).

A plugin is a module with functions marked ``@rdpflex.hookimpl``. Every hook receives a
``register`` callback; call it once per class or object you contribute.
"""

from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("rdpflex")
hookimpl = pluggy.HookimplMarker("rdpflex")


@hookspec
def register_decoders(register: Callable[[type], None]) -> None:
    """Register decoder families.

    :param register: call ``register(DecoderClass)``; the class follows
        :class:`rdpflex.decoders.Decoder` (``name``, ``Options``, ``decode`` ...).
    """


@hookspec
def register_codecs(register: Callable[[type], None]) -> None:
    """Register codec architectures.

    :param register: call ``register(CodecClass)``; a :class:`rdpflex.codecs.Codec` subclass with a unique ``arch``.
    """


@hookspec
def register_metrics(register: Callable[[object], None]) -> None:
    """Register evaluation metrics.

    :param register: call ``register(metric)``; an object following :class:`rdpflex.metrics.Metric`.
    """


@hookspec
def register_stages(register: Callable[[type], None]) -> None:
    """Register training stages (the ``stage:`` of a recipe).

    :param register: call ``register(StageClass)``; a class following :class:`rdpflex.train.stage.Stage`
        with a unique ``name`` and a pydantic ``Config`` validating its recipe section.
    """


@hookspec
def register_commands(cli: object) -> None:
    """Add commands to the ``rdpflex`` command line.

    :param cli: the ``click.Group`` of the ``rdpflex`` command; call ``cli.add_command(...)`` or decorate.
    """
