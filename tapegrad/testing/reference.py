"""Reference implementations, independent of the engine, and helpers to use them.

``REFERENCES`` writes every entry of ``tapegrad.OPS`` again with ``math`` alone (the
project's tests fail when an op has none); ``CALLS`` says how the public Value API
reaches each op (by default, the Value method named like the op). ``reference`` and
``apply`` also take a user's primitive (``tapegrad.primitive``), whose own forward on
floats is then its reference. ``central_difference`` and ``close`` compare an exact
derivative with finite differences.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

from ..autograd.mathlib import FLOATS
from ..autograd.ops import OPS, Op
from ..autograd.primitive import Primitive
from ..autograd.value import Value, made_fallible


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _dot(*wxb: float) -> float:
    """sum_i w_i x_i over w_1..w_n, x_1..x_n, plus a bias b when there is one more."""
    n = len(wxb) // 2
    bias = wxb[2 * n :]
    return math.fsum([*(w * x for w, x in zip(wxb[:n], wxb[n : 2 * n])), *bias])


def _call_dot(*wxb: Value) -> Value:
    n = len(wxb) // 2
    if len(wxb) % 2:
        return Value.dot(wxb[:n], wxb[n : 2 * n], wxb[-1])
    return Value.dot(wxb[:n], wxb[n:])


REFERENCES: dict[str, Callable[..., float]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": math.pow,
    "powc": math.pow,
    "neg": lambda x: -x,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "tanh": math.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: max(x, 0.0),
    "leaky_relu": lambda x, slope: x if x > 0 else slope * x,
    "abs": math.fabs,
    "sin": math.sin,
    "cos": math.cos,
    "sum": lambda *xs: math.fsum(xs),
    "dot": _dot,
}
"""name -> f(*inputs[, arg]) on floats, written with ``math`` alone, without the engine."""

# key -> the public way to record that op: f(*values[, arg]). A binary op with a
# number fixed at position p has the key (name, p); x ** 2.0 records powc.
CALLS: dict[str | tuple[str, int], Callable[..., Value]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "powc": lambda x, k: x**k,
    "neg": lambda x: -x,
    "abs": abs,
    "sum": lambda *xs: Value.sum(xs),
    "dot": _call_dot,
    ("add", 0): lambda x, c: c + x,
    ("add", 1): lambda x, c: x + c,
    ("sub", 0): lambda x, c: c - x,
    ("sub", 1): lambda x, c: x - c,
    ("mul", 0): lambda x, c: c * x,
    ("mul", 1): lambda x, c: x * c,
    ("div", 0): lambda x, c: c / x,
    ("div", 1): lambda x, c: x / c,
    ("pow", 0): lambda x, c: c**x,
}
# Every other op is reached as the Value method of its name (x.exp(), x.leaky_relu(k)).
CALLS.update(
    {name: getattr(Value, name) for name in OPS if name not in CALLS and hasattr(Value, name)}
)


def key(op: Op) -> str | tuple[str, int]:
    """The op's key in REFERENCES-derived tables: its name, or (name, position)."""
    return op.name if op.base is None else (op.name, cast(int, op.constant_at))


def reference(op: Op) -> Callable[..., float]:
    """The reference for ``op``; for an op with a fixed number, the base op's with it;
    for a user's primitive, its forward on floats."""
    if isinstance(op, Primitive):
        return cast("Callable[..., float]", op.on_floats)  # set by Op.__post_init__
    if op.base is None:
        return REFERENCES[op.name]
    base = REFERENCES[op.base.name]
    if op.constant_at == 0:
        return lambda x, c: base(c, x)
    return lambda x, c: base(x, c)


def record(op: Op, inputs: Sequence[Value], arg: float | None = None) -> Value:
    """A node of ``op`` over ``inputs``, built the way value.py builds one (a constant
    when no input requires grad). For ops no operator reaches, such as a deliberately
    wrong test op."""
    extra = () if arg is None else (arg,)
    data = op.forward(FLOATS, *[x.data for x in inputs], *extra)
    if not any(x.requires_grad for x in inputs):
        return Value(data, requires_grad=False)
    if op.fallible:
        made_fallible()  # as the methods that make such nodes do (see value._fallible)
    v = Value(data)
    v._prev, v._op, v._arg = tuple(inputs), op, arg
    return v


def apply(op: Op, inputs: Sequence[Value], arg: float | None = None) -> Value:
    """``op`` applied to ``inputs`` through the public API where one reaches it (a
    user's primitive is called)."""
    if isinstance(op, Primitive):
        return op(*inputs)
    call = CALLS.get(key(op))
    if call is None:
        return record(op, inputs, arg)
    return call(*inputs) if arg is None else call(*inputs, arg)


def central_difference(
    f: Callable[..., float], point: Sequence[float], i: int, h: float = 1e-6
) -> float:
    """d f / d x_i at ``point`` by (f(x + h e_i) - f(x - h e_i)) / 2h."""
    up, down = list(point), list(point)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2.0 * h)


def close(analytic: float, numeric: float, scale: float = 1.0, rel: float = 1e-5) -> bool:
    """Analytic and finite-difference derivatives agree: relative, with an absolute
    floor proportional to the function's magnitude ``scale`` (its rounding noise)."""
    return math.isclose(analytic, numeric, rel_tol=rel, abs_tol=1e-6 * max(1.0, abs(scale)))
