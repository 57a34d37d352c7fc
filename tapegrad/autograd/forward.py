"""Forward mode: ``jvp``, the derivative of a function along a direction.

Built from the same table of rules as reverse mode: with a unit upstream gradient,
``op.grad(m, 1.0, out, *inputs)`` gives a node's partial derivatives, and a sweep over
the recorded graph in topological order (inputs first) carries each node's tangent,
dv = sum_i (d v / d p_i) dp_i, to the outputs. On floats the tangents are numbers; when
the primals are Values the same sweep runs on Values (the ``VALUES`` namespace) and the
tangents record their own graph, so they can be differentiated again, by ``grad`` or
by ``jvp`` itself, to any order.

Cost: ``f`` is run once (recording its graph, as for ``backward``), then the sweep
visits every node once, about the cost of one ``backward()``. One sweep gives the
derivative along one direction of the inputs, for every output at once; one backward
gives the gradient of one output with respect to every input. So a function of n
inputs and m outputs needs n sweeps for its whole Jacobian in forward mode and m
passes in reverse mode: reverse mode wins for a loss (m = 1), forward mode for few
inputs and many outputs, and for a Hessian-vector product as a jvp of the gradient.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, cast

from . import engine
from .mathlib import FLOATS, VALUES
from .mode import enable_grad
from .ops import Op
from .value import Value, _number


def jvp(
    f: Callable[..., Any],
    primals: Sequence[float | Value],
    tangents: Sequence[float | Value],
) -> tuple[Any, Any]:
    """``(f(*primals), d/dt f(primals + t * tangents) at t = 0)``, in forward mode.

    ``f`` takes one Value per primal and returns a Value or a list of Values (then both
    results are lists). With numbers as primals the results are floats; with Values
    among the primals (or tangents) they are Values that record their graph, so the
    directional derivative can be differentiated again (``jvp`` of a ``jvp`` is a
    second derivative). Exact, as ``grad``: no finite differences.
    """
    primals, tangents = _sequence(primals, "primals"), _sequence(tangents, "tangents")
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: {len(primals)} primals but {len(tangents)} tangents; give one tangent per primal"
        )
    on_values = any(isinstance(x, Value) for x in (*primals, *tangents))
    # A primal that is a constant Value records no graph: a new leaf of its number
    # stands for it (no derivative can flow through the constant anyway).
    inputs = [
        x if isinstance(x, Value) and x.requires_grad else Value(float(x), label=f"x{i}")
        for i, x in enumerate(primals)
    ]
    with enable_grad():  # the sweep walks the graph f records, even inside no_grad()
        out = f(*inputs)
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        for y in outputs:
            if not isinstance(y, (Value, numbers.Real)) or isinstance(y, bool):
                raise TypeError(
                    f"jvp: f must return a Value or a list of Values, got {type(y).__name__} {y!r}"
                )
        found = _sweep(outputs, inputs, tangents, on_values)
    if on_values:
        zero = Value(0.0, requires_grad=False)
        values: list = [
            y if isinstance(y, Value) else Value(y, requires_grad=False) for y in outputs
        ]
        slopes: list = [
            _as_value(found.get(y, zero)) if isinstance(y, Value) else zero for y in outputs
        ]
    else:
        values = [float(y) for y in outputs]
        slopes = [float(found.get(y, 0.0)) if isinstance(y, Value) else 0.0 for y in outputs]
    if isinstance(out, (list, tuple)):
        return values, slopes
    return values[0], slopes[0]


def _sequence(xs: object, name: str) -> list[float | Value]:
    """``xs`` as a list of Values and floats; a TypeError (OverflowError for a huge
    integer) naming jvp for anything else."""
    if isinstance(xs, (Value, numbers.Real)):
        raise TypeError(
            f"jvp: {name} must be a sequence (one entry per argument of f), got "
            f"{type(xs).__name__} {xs!r}; write [{xs!r}]"
        )
    if isinstance(xs, (str, bytes)) or not isinstance(xs, Sequence):
        raise TypeError(
            f"jvp: {name} must be a sequence of numbers, got {type(xs).__name__} {xs!r}"
        )
    out: list[float | Value] = []
    for x in xs:
        if not isinstance(x, (Value, numbers.Real)) or isinstance(x, bool):
            raise TypeError(
                f"jvp: {name} must hold numbers or Values, got {type(x).__name__} {x!r}"
            )
        out.append(x if isinstance(x, Value) else _number(x, f"jvp: {name}"))
    return out


def _as_value(x: float | Value) -> Value:
    return x if isinstance(x, Value) else Value(x, requires_grad=False)


def _sweep(outputs: list, inputs: list[Value], tangents: list, on_values: bool) -> dict[Value, Any]:
    """Every node's tangent, from the inputs' to the outputs', in topological order."""
    m = VALUES if on_values else FLOATS
    tangent: dict[Value, Any] = {}
    for x, t in zip(inputs, tangents):  # floats, or Values too when on_values
        tangent[x] = tangent[x] + t if x in tangent else t
    seeded = set(tangent)
    roots = [y for y in outputs if isinstance(y, Value)]
    with engine._PASS:
        order = engine._order(roots, reset_grads=False, check="jvp")
    for v in order:
        if v in seeded:  # an input computed from other Values: its tangent is given
            continue
        prev = v._prev
        if not any(p in tangent for p in prev):
            continue
        op = cast(Op, v._op)  # a node in the order was computed by one
        if on_values:
            args: list = [*prev, v._arg] if op.has_arg else list(prev)
            partials = op.grad(m, 1.0, v, *args)
        else:
            datas: list = [p._data for p in prev]
            if op.has_arg:
                datas.append(v._arg)
            try:
                partials = op.grad(m, 1.0, v._data, *datas)
            except (ArithmeticError, ValueError) as error:
                message = engine.backward_failure(v.op, [p._data for p in prev], error)
                raise type(error)(message.replace("backward", "jvp", 1)) from error
        total: Any = None
        for p, partial in zip(prev, partials):
            dp = tangent.get(p)
            if dp is not None:
                term = partial * dp
                total = term if total is None else total + term
        tangent[v] = total
    return tangent
