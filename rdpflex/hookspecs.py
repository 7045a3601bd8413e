"""pluggy hook specifications of the ``rdpflex`` project (entry-point group ``rdpflex``).

A plugin is a module with functions marked ``@hookimpl`` (``from rdpflex.hookspecs import hookimpl``),
named in the entry-point group ``rdpflex`` of its distribution. Every ``register_*`` hook receives a
``register`` callback; call it once per class, card or object you contribute. A decoder family,
stage or trainer may be registered as a *card* (:mod:`rdpflex.cards`): its metadata plus the
import path of its implementation, so that listing and validating never import torch.

docs/plugins/hooks.md is the reference of these hooks; a test keeps it in step with this module.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("rdpflex")
hookimpl = pluggy.HookimplMarker("rdpflex")


@hookspec
def register_decoders(register: Callable[[type], None]) -> None:
    """Register decoder families.

    :param register: call ``register(DecoderClass)`` — a class following :class:`rdpflex.decoders.Decoder`
        (``name``, ``Options``, ``decode`` ...) — or ``register(DecoderCard(...))``
        (:class:`rdpflex.cards.DecoderCard`: name, description, ``Options``, capabilities, sweep and the
        ``"module:Class"`` imported on first use). Names are unique across plugins.
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

    :param register: call ``register(StageClass)`` — a class following :class:`rdpflex.train.stage.Stage`
        with a unique ``name`` and a pydantic ``Config`` validating its recipe section — or
        ``register(StageCard(...))`` (:class:`rdpflex.cards.StageCard`).
    """


@hookspec
def register_trainers(register: Callable[[object], None]) -> None:
    """Register trainers of the generic ``decoder`` stage (``stage: decoder`` with ``decoder.family: NAME``).

    :param register: call ``register(TrainerCard(family=..., implementation="module:Class", Config=...))``
        (:class:`rdpflex.cards.TrainerCard`) or ``register(TrainerClass)`` with ``family`` and ``Config``
        class attributes. ``Config`` validates the recipe's ``decoder.settings``; the class follows
        :class:`rdpflex.train.decoder_stage.Trainer`. Keeping it apart from the decoder class keeps the
        decoder importable without the training stack.
    """


@hookspec
def register_commands(cli: object) -> None:
    """Add commands to the ``rdpflex`` command line.

    :param cli: the ``click.Group`` of the ``rdpflex`` command; call ``cli.add_command(...)`` or decorate.
    """
