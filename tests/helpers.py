"""Small helpers that several test files share."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from tapegrad import Value, primitive

TOL = 1e-12  # compiled mode must equal eager mode to this, relative and absolute


def assert_close(actual, expected) -> None:
    """Element-wise equal to ``TOL``."""
    np.testing.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol=TOL, atol=TOL
    )


def live_values() -> int:
    """How many Value objects exist now."""
    return sum(isinstance(o, Value) for o in gc.get_objects())  # anomaly mode's nodes too


@contextmanager
def collector_off() -> Iterator[None]:
    """The cyclic collector collected once, then paused for the block: whatever is
    freed inside was freed by reference counting alone."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def micrograd_example() -> Value:
    """micrograd's example: a = 2, b = -3, e = a b, d = e + a, L = d tanh(d) (a is used
    twice, and the edges a -> d and d -> L skip a column)."""
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    e = a * b
    e.label = "e"
    d = e + a
    d.label = "d"
    L = d * d.tanh()
    L.label = "L"
    return L


# A user primitive, as the guide writes it: log(1 + e^x), derivative sigmoid(x).
softplus = primitive(
    "softplus",
    forward=lambda m, x: m.log(1.0 + m.exp(x)),
    grad=lambda m, g, out, x: (g * m.sigmoid(x),),
)
