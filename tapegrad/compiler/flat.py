"""Flat parameters: the trainable parameters of a compiled function as one vector.

``FlatParameters`` owns two float64 arrays, ``data`` and ``grad``, and the list of
Values they stand for; an optimizer steps it as one parameter (the ``data``/``grad``
protocol that ``tapegrad.optim`` recognises). ``Bridge`` maps between that vector
and a schedule's parameter layout.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from ..autograd.value import Value
from .schedule import Schedule

_DATA = attrgetter("data")
_GRAD = attrgetter("grad")


def data_of(values: Sequence[Value]) -> np.ndarray:
    """``.data`` of every Value, as a float64 array."""
    return np.fromiter(map(_DATA, values), np.float64, len(values))


def grads_of(values: Sequence[Value]) -> np.ndarray:
    """``.grad`` of every Value, as a float64 array (0 for a gradient not computed)."""
    grads = list(map(_GRAD, values))
    if None in grads:
        grads = [0.0 if g is None else g for g in grads]
    return np.array(grads, np.float64).reshape(len(values))


class FlatParameters:
    """The trainable parameters of a Compiled as one float64 vector, for fast training.

    ``flat = compiled.flat()`` copies every parameter that requires grad (in
    ``params`` order; ``flat.params`` lists them) into ``flat.data`` and starts
    ``flat.grad`` at their current gradients (0 for one not computed yet: the view's
    gradient is one array, never None). From then on ``compiled(*batch)`` reads
    the parameters from ``flat.data`` and adds its gradient into ``flat.grad``: no
    Value is read or written. Pass ``flat`` to an optimizer as its one parameter
    (``optim.SGD([flat], lr=0.05)``): its update rule then runs once on the arrays.

    The Values are stale while the view is active: ``sync()`` writes ``flat.data``
    (and, if asked, ``flat.grad``) back into them, for eager evaluation, saving or
    drawing; ``close()`` syncs and ends the view (so does leaving a ``with`` block).
    Parameters frozen when the view is made (``requires_grad`` False) are not in it: calls keep
    reading their Values. One frozen while the view is active (``requires_grad =
    False``) makes the next compiled call raise ``CompileError``: close the view,
    which leaves it frozen, and call again.

    The arrays are never changed in place: calls, ``zero_grad`` and assignments
    (``flat.data = ...``, as optimizers do) bind a new array, so an array kept
    elsewhere (SGD's first momentum buffer is the gradient itself) keeps its
    numbers, as a float would. Calls from several threads take turns to add their
    gradients, so every call's gradient is counted.
    """

    __slots__ = ("_active", "_adding", "_data", "_grad", "_name", "params")

    def __init__(self, params: Sequence[Value], name: str) -> None:
        self._name = name
        self.params = [p for p in params if p.requires_grad]
        self._data = data_of(self.params)
        self._grad = grads_of(self.params)
        self._active = True
        # grad <- grad + gradient reads and then binds: two threads doing it at once
        # (NumPy lets go of the interpreter lock while it adds) would lose one's sum.
        self._adding = threading.Lock()

    @property
    def data(self) -> np.ndarray:
        """The parameters' numbers, shape (n,); assigning stores a copy (or a number
        broadcast) as a new array."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = self._new(value, "data")

    @property
    def grad(self) -> np.ndarray:
        """The accumulated gradients, shape (n,); assigning stores a copy (or a number
        broadcast: ``grad = 0.0``) as a new array. The view's gradient is one array,
        never None: assigning None (what an optimizer's ``zero_grad()`` does) stores
        zeros."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        grad = self._new(0.0 if value is None else value, "grad")
        with self._adding:
            self._grad = grad

    def _new(self, value: Any, name: str) -> np.ndarray:
        array = np.empty(len(self.params))
        try:
            array[...] = value
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"FlatParameters: {name} must be {len(self.params)} numbers, got {error}"
            ) from None
        return array

    def accumulate(self, gradient: np.ndarray) -> None:
        """grad <- grad + gradient (a new array): what a compiled call does."""
        with self._adding:
            self._grad = self._grad + gradient

    @property
    def active(self) -> bool:
        """True until ``close()``: the compiled calls read and write these arrays."""
        return self._active

    def zero_grad(self, set_to_none: bool = True) -> None:
        """grad <- 0 (a new array), whatever ``set_to_none`` says: the view's gradient
        is one array, never None."""
        zeros = np.zeros(len(self.params))
        with self._adding:
            self._grad = zeros

    def sync(self, grad: bool = False) -> None:
        """Write ``data`` (and ``grad`` if asked) back into the Values; a Value frozen
        meanwhile gets its number and stays frozen (without a gradient)."""
        for p, x in zip(self.params, self._data.tolist()):
            p.data = x
        if grad:
            for p, g in zip(self.params, self._grad.tolist()):
                if p.requires_grad:
                    p.grad = g

    def reload(self) -> None:
        """Read the Values' numbers into ``data`` (after changing them by hand)."""
        self._data = data_of(self.params)

    def close(self) -> None:
        """Sync data and grad into the Values and end the view: calls use Values again."""
        self.sync(grad=True)
        self._active = False

    def __enter__(self) -> FlatParameters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        state = "active" if self._active else "closed"
        return f"FlatParameters({len(self.params)} parameters of {self._name}, {state})"


class Bridge:
    """Index arrays between a flat vector (in ``params`` order) and a schedule's layout."""

    def __init__(self, plan: Schedule, params: Sequence[Value]) -> None:
        where = {id(p): i for i, p in enumerate(params)}
        n = len(params)
        index = np.array([where.get(id(p), -1) for p in plan.layout], dtype=np.intp)
        self.frozen = [p for p, i in zip(plan.layout, index.tolist()) if i < 0]
        self.frozen_rows = np.flatnonzero(index < 0)
        self.from_flat = index  # layout row -> flat position (-1: a frozen Value)
        self.identity = np.array_equal(index, np.arange(n))
        # flat position -> layout row, or the extra zero row for a parameter the
        # program does not differentiate (frozen at tracing, or unused by fn)
        rows = np.full(n, len(index), dtype=np.intp)
        live = (index >= 0) & (plan.trainable != 0)
        rows[index[live]] = np.flatnonzero(live)
        self.to_flat = rows
        self.all_rows = self.identity and bool(live.all())

    def params(self, data: np.ndarray) -> np.ndarray:
        """The program's parameter slot, shape (rows, 1), from the flat ``data``."""
        if self.identity:
            return data.reshape(-1, 1)
        slot = data.take(self.from_flat)
        if self.frozen:
            slot[self.frozen_rows] = data_of(self.frozen)
        return slot.reshape(-1, 1)

    def gradient(self, grads: np.ndarray) -> np.ndarray:
        """The program's parameter gradients (rows, 1) in flat order."""
        column = grads[:, 0]
        if self.all_rows:
            return column
        return np.append(column, 0.0).take(self.to_flat)
