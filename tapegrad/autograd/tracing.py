"""The engine's hooks for compiled mode: refusing to be traced, and saying what changed.

``tapegrad.compile`` records a function once, on placeholder inputs, and replays the
recorded graph over a batch. Code that draws random numbers, or that mixes the
samples of a batch, cannot be replayed that way. Such code calls ``refuse_tracing``
with its own explanation: outside tracing the call does nothing, while tracing it
raises ``CompileError``. Layers use this module and never import the compiler.

A compiled program reads the parameters it was traced with, and replays what the
modules it called did then. A compiled function ``watch``es those Values and
Modules; when a model replaces one of its attributes (``layer.b = Value(1.0)``),
switches a module between training and eval, or a Value is frozen or unfrozen,
``changed`` marks the watches that hold one of them, and those compiled functions,
and only those, trace again at their next call.
"""

from __future__ import annotations

import threading
import weakref
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
    at tracing), while every other thread still sees them frozen. ``modules``: the
    modules called so far (see ``module_called``). ``again``: fn is being traced
    again on the same sample (see ``tracing_again``).
    """

    __slots__ = ("again", "frozen", "kind", "modules")

    def __init__(self, kind: str, frozen: frozenset[object]) -> None:
        self.kind, self.frozen = kind, frozen
        self.modules: dict[int, object] = {}
        self.again = False


def tracing_again() -> bool:
    """Whether this thread is tracing fn again on the same sample (for another label
    value, or to check that fn is deterministic). A layer with a side effect
    (BatchNorm1d's running statistics) skips it then: tracing has it once, as one
    eager call would."""
    trace = MODE.tracing
    return isinstance(trace, Trace) and trace.again


def records_frozen(parents: Iterable[object]) -> bool:
    """Whether this thread is tracing and one of ``parents`` is a parameter frozen at
    tracing: the engine then records the operation (see ``Trace``)."""
    trace = MODE.tracing
    return isinstance(trace, Trace) and not trace.frozen.isdisjoint(parents)


def module_called(module: object) -> None:
    """Note ``module`` as called by the function being traced (nothing when this
    thread is not tracing): the compiled function then watches it."""
    trace = MODE.tracing
    if isinstance(trace, Trace):
        trace.modules.setdefault(id(module), module)


class Watch:
    """The Values and Modules one compiled program depends on (held, so that their
    ids stay theirs); ``stale`` turns True when ``changed`` names one of them."""

    __slots__ = ("__weakref__", "_held", "_ids", "stale")

    def __init__(self, objects: Iterable[object]) -> None:
        self._held = tuple(objects)
        self._ids = frozenset(map(id, self._held))
        self.stale = False


_watches: weakref.WeakSet[Watch] = weakref.WeakSet()  # of the live compiled functions
_watches_lock = threading.Lock()


def watch(objects: Iterable[object]) -> Watch:
    """A new ``Watch`` of ``objects``, marked by ``changed`` for as long as it lives."""
    new = Watch(objects)
    with _watches_lock:
        _watches.add(new)
    return new


def watching() -> bool:
    """Whether some compiled function is watching (else ``changed`` has no one to tell)."""
    return bool(_watches)


def changed(objects: Iterable[object]) -> None:
    """Say that ``objects`` (Values, Modules) changed in a way a compiled program cannot
    see: a Module attribute holding parameters or modules replaced, a module switched
    between training and eval, a Value frozen or unfrozen. The watches holding one of
    them turn stale, so those compiled functions trace again at their next call."""
    with _watches_lock:
        watches = list(_watches)
    if watches:
        ids = set(map(id, objects))
        for w in watches:
            if not w._ids.isdisjoint(ids):
                w.stale = True


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
