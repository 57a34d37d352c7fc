"""Derivatives of functions at a point: jacobian, hessian, Hessian-vector product.

Each takes ``f``, a function from a list of Values to a Value (or, for ``jacobian``,
to a list of Values), and the point as a list of numbers, and returns plain floats.
Second derivatives come from differentiating the gradient graph that
``grad(..., create_graph=True)`` records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .engine import grad
from .value import Value

Function = Callable[[list[Value]], Value]


def _leaves(point: Sequence[float], name: str) -> list[Value]:
    try:
        return [Value(x, label=f"x{i}") for i, x in enumerate(point)]
    except TypeError as error:
        raise TypeError(f"{name}: the point must be a sequence of numbers ({error})") from None


def _scalar(y: object, name: str) -> Value:
    if not isinstance(y, Value):
        raise TypeError(f"{name}: f must return a Value, got {type(y).__name__} {y!r}")
    return y


def _gradient_or_zeros(y: Value, xs: list[Value]) -> list[float]:
    """The gradient of y, or zeros when y is a constant (f was linear in that place)."""
    if y.grad is None:
        return [0.0] * len(xs)
    return list(grad(y, xs))


def jacobian(f: Callable[[list[Value]], Value | Sequence[Value]], point: Sequence[float]) -> list[list[float]]:
    """J[i][j] = d f_i / d x_j at ``point``; a scalar f gives a single row."""
    xs = _leaves(point, "jacobian")
    ys = f(xs)
    ys = [ys] if isinstance(ys, Value) else list(ys)
    return [_gradient_or_zeros(_scalar(y, "jacobian"), xs) for y in ys]


def hessian(f: Function, point: Sequence[float]) -> list[list[float]]:
    """H[i][j] = d^2 f / (d x_i d x_j) at ``point``, exact (no finite differences)."""
    xs = _leaves(point, "hessian")
    y = _scalar(f(xs), "hessian")
    if y.grad is None:
        return [[0.0] * len(xs) for _ in xs]
    return [_gradient_or_zeros(g, xs) for g in grad(y, xs, create_graph=True)]


def hvp(f: Function, point: Sequence[float], vector: Sequence[float]) -> list[float]:
    """The Hessian of f at ``point`` times ``vector``, without forming the Hessian."""
    if len(vector) != len(point):
        raise ValueError(f"hvp: vector has {len(vector)} entries, point has {len(point)}")
    xs = _leaves(point, "hvp")
    y = _scalar(f(xs), "hvp")
    if y.grad is None:
        return [0.0] * len(xs)
    directional = Value.dot(grad(y, xs, create_graph=True), [float(v) for v in vector])
    return _gradient_or_zeros(directional, xs)
