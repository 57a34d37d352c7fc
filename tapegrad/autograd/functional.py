"""Derivatives of functions at a point: jacobian, hessian, Hessian-vector product.

Each takes ``f``, a function from a list of Values to a Value (or, for ``jacobian``,
to a list of Values), and the point as a list of numbers, and returns plain floats.
``gradient_and_hessian`` and ``hessian_wrt`` take instead a loss already computed from
given Values (a model's parameters). Second derivatives come from differentiating
the gradient graph that ``grad(..., create_graph=True)`` records.

Each records the graphs it needs even inside ``no_grad()``, as PyTorch's
``torch.autograd.functional`` does: ``f`` runs with recording on, and the caller's
mode is back when the function returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .engine import grad
from .mode import enable_grad
from .value import Value

Function = Callable[[list[Value]], Value]


def _leaves(point: Sequence[float], name: str, what: str = "the point") -> list[Value]:
    """One leaf per number of ``point``; a TypeError naming ``name`` for anything else.
    Text is refused whole: bytes would iterate as small integers (b"3" as 51)."""
    if isinstance(point, (str, bytes, bytearray)):
        raise TypeError(
            f"{name}: {what} must be a sequence of numbers, got {type(point).__name__} {point!r}"
        )
    try:
        return [Value(x, label=f"x{i}") for i, x in enumerate(point)]
    except TypeError as error:
        raise TypeError(f"{name}: {what} must be a sequence of numbers ({error})") from None


def _scalar(y: object, name: str) -> Value:
    if not isinstance(y, Value):
        raise TypeError(f"{name}: f must return a Value, got {type(y).__name__} {y!r}")
    return y


def _gradient_or_zeros(y: Value, xs: list[Value]) -> list[float]:
    """The gradient of y, 0 for an input y does not depend on, or zeros when y is a
    constant (f was linear in that place)."""
    if not y.requires_grad:
        return [0.0] * len(xs)
    return list(grad(y, xs, materialize_grads=True))


@enable_grad()
def jacobian(
    f: Callable[[list[Value]], Value | Sequence[Value]], point: Sequence[float]
) -> list[list[float]]:
    """``J[i][j]`` = d f_i / d x_j at ``point``; a scalar f gives a single row."""
    xs = _leaves(point, "jacobian")
    ys = f(xs)
    ys = [ys] if isinstance(ys, Value) else list(ys)
    return [_gradient_or_zeros(_scalar(y, "jacobian"), xs) for y in ys]


@enable_grad()
def hessian(f: Function, point: Sequence[float]) -> list[list[float]]:
    """``H[i][j]`` = d^2 f / (d x_i d x_j) at ``point``, exact (no finite differences)."""
    xs = _leaves(point, "hessian")
    return hessian_wrt(_scalar(f(xs), "hessian"), xs)


@enable_grad()
def gradient_and_hessian(
    loss: Value, params: Sequence[Value]
) -> tuple[list[float], list[list[float]]]:
    """g_i = d loss / d p_i and ``H[i][j]`` = d^2 loss / (d p_i d p_j), exact, for a loss
    already computed from the Values ``params`` (a model's parameters, say)."""
    loss = _scalar(loss, "gradient_and_hessian")
    params = list(params)
    if not loss.requires_grad:
        return [0.0] * len(params), [[0.0] * len(params) for _ in params]
    first = grad(loss, params, create_graph=True, materialize_grads=True)
    return [float(g) for g in first], [_gradient_or_zeros(g, params) for g in first]


def hessian_wrt(loss: Value, params: Sequence[Value]) -> list[list[float]]:
    """``H[i][j]`` = d^2 loss / (d p_i d p_j) for a loss already computed from the Values
    ``params``: the Hessian of a model's loss in one line,
    ``hessian_wrt(F.mse_loss([model(x) for x in X], y), model.parameters())``."""
    return gradient_and_hessian(loss, params)[1]


@enable_grad()
def hvp(f: Function, point: Sequence[float], vector: Sequence[float]) -> list[float]:
    """The Hessian of f at ``point`` times ``vector``, without forming the Hessian."""
    xs = _leaves(point, "hvp")
    v = [x.data for x in _leaves(vector, "hvp", "the vector")]
    if len(v) != len(xs):
        raise ValueError(f"hvp: vector has {len(v)} entries, point has {len(xs)}")
    y = _scalar(f(xs), "hvp")
    if not y.requires_grad:
        return [0.0] * len(xs)
    directional = Value.dot(grad(y, xs, create_graph=True, materialize_grads=True), v)
    return _gradient_or_zeros(directional, xs)
