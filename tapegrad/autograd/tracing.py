"""Refusing to be traced: the engine's hook for code that compiled mode cannot replay.

``tapegrad.compile`` records a function once, on placeholder inputs, and replays the
recorded graph over a batch. Code that draws random numbers, or that mixes the
samples of a batch, cannot be replayed that way. Such code calls ``refuse_tracing``
with its own explanation: outside tracing the call does nothing, while tracing it
raises ``CompileError``. Layers use this module and never import the compiler.

A compiled program reads the parameters it was traced with. When a model replaces
one (``layer.b = Value(1.0)``), ``parameters_replaced`` counts it, and a compiled
function traced before the change traces again at its next call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .mode import MODE

# What compile is tracing: the kind of a Trace.
ONE_SAMPLE = "one sample"
WHOLE_BATCH = "whole batch"  # compile(..., sample_is_batch=True): fn takes a mini-batch


class Trace:
    """What compile is tracing in this thread, kept in ``MODE.tracing`` meanwhile.

    ``kind``: ONE_SAMPLE or WHOLE_BATCH. ``frozen``: the parameters that require no
    grad; this thread records the operations applied to them as if they required
    one (the program then reads their numbers at every call, instead of the numbers
    at tracing), while every other thread still sees them frozen.
    """

    __slots__ = ("frozen", "kind")

    def __init__(self, kind: str, frozen: frozenset[object]) -> None:
        self.kind, self.frozen = kind, frozen


def records_frozen(parents: Iterable[object]) -> bool:
    """Whether this thread is tracing and one of ``parents`` is a parameter frozen at
    tracing: the engine then records the operation (see ``Trace``)."""
    trace = MODE.tracing
    return isinstance(trace, Trace) and not trace.frozen.isdisjoint(parents)


class _Replacements:
    """How many times a Module attribute holding parameters was replaced."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


REPLACEMENTS = _Replacements()


def parameters_replaced() -> None:
    """Say that a model now reads other parameter Values (a Module attribute holding
    Values or Modules was replaced): compiled functions traced earlier trace again."""
    REPLACEMENTS.count += 1


class CompileError(ValueError):
    """A graph that compiled mode refuses, with the node (or layer) that makes it so."""


def refuse_tracing(message: str, *, couples_samples: bool = False) -> None:
    """Raise ``CompileError(message)`` if ``compile`` is tracing; else do nothing.

    ``couples_samples``: the caller mixes the samples of a mini-batch (BatchNorm1d in
    training). That is refused when compile traces one sample, and allowed when the
    traced sample is itself a whole mini-batch (``compile(..., sample_is_batch=True)``).
    """
    trace = MODE.tracing
    if trace and not (couples_samples and getattr(trace, "kind", None) == WHOLE_BATCH):
        raise CompileError(message)


@contextmanager
def tracing(kind: str, frozen: Iterable[object] = ()) -> Iterator[Trace]:
    """Mark the block as compile's tracing of ``kind`` (ONE_SAMPLE or WHOLE_BATCH),
    with the parameters that are ``frozen`` (see ``Trace``)."""
    if kind not in (ONE_SAMPLE, WHOLE_BATCH):
        raise ValueError(f"tracing: kind must be {ONE_SAMPLE!r} or {WHOLE_BATCH!r}, got {kind!r}")
    previous = MODE.tracing
    trace = MODE.tracing = Trace(kind, frozenset(frozen))
    try:
        yield trace
    finally:
        MODE.tracing = previous
