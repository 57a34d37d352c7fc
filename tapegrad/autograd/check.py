"""Gradient checks: backpropagation against central finite differences.

``gradcheck`` compares first derivatives, ``gradgradcheck`` second derivatives. Both
return True, or raise ``GradcheckError`` with a table of every entry that disagrees:
which output and input, the analytic and numeric values, and the error (or return
False, with PyTorch's ``raise_exception=False``).
``numeric_grad`` gives the finite-difference numbers themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .functional import _gradient_or_zeros, _leaves, hessian, jacobian
from .mode import enable_grad, no_grad
from .value import Value


class GradcheckError(AssertionError):
    """Analytic and numeric derivatives disagree beyond the tolerance."""


def _point(point: Sequence[float], name: str) -> list[float]:
    """The point as floats, each checked as ``Value`` checks a number: a string or bytes,
    as the point or in it, is a TypeError naming ``name``, never parsed."""
    return [x.data for x in _leaves(point, name)]


def _flag(raise_exception: object, name: str) -> None:
    if not isinstance(raise_exception, bool):
        raise TypeError(
            f"{name}: raise_exception must be True or False, got "
            f"{type(raise_exception).__name__} {raise_exception!r}"
        )


def _outputs(f: Callable, point: Sequence[float]) -> list[float]:
    with no_grad():
        ys = f([Value(x) for x in point])
    ys = [ys] if isinstance(ys, Value) else list(ys)
    return [float(y) for y in ys]


def _central_difference(
    g: Callable[[list[float]], list[float]], point: list[float], i: int, eps: float
) -> list[float]:
    """d g(x) / d x_i by (g(x + eps e_i) - g(x - eps e_i)) / (2 eps), for every output."""
    up, down = list(point), list(point)
    up[i] += eps
    down[i] -= eps
    return [(a - b) / (2.0 * eps) for a, b in zip(g(up), g(down))]


def _compare(
    what: str,
    analytic: list[list[float]],
    numeric: list[list[float]],
    eps: float,
    atol: float,
    rtol: float,
    raise_exception: bool,
) -> bool:
    bad = []
    for r, (row_a, row_n) in enumerate(zip(analytic, numeric)):
        for c, (a, n) in enumerate(zip(row_a, row_n)):
            error = abs(a - n)
            if not error <= atol + rtol * abs(n):  # written so that NaN fails
                bad.append((r, c, a, n, error))
    if not bad:
        return True
    if not raise_exception:
        return False
    total = sum(len(row) for row in analytic)
    lines = [
        f"{what} failed for {len(bad)} of {total} entries "
        f"(eps={eps:g}, atol={atol:g}, rtol={rtol:g}):",
        f"  {'row':>4} {'input':>6} {'analytic':>15} {'numeric':>15} {'abs error':>10}",
    ]
    lines += [
        f"  {r:>4} {'x' + str(c):>6} {a:>15.8g} {n:>15.8g} {e:>10.3g}" for r, c, a, n, e in bad
    ]
    raise GradcheckError("\n".join(lines))


def numeric_grad(
    f: Callable[[list[Value]], Value], point: Sequence[float], eps: float = 1e-6
) -> list[float]:
    """The gradient of ``f`` at ``point`` by central differences, as floats:

        d f / d x_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps),

    with an error of order eps^2 f'''(x) / 6 plus rounding of order 1e-16 |f| / eps.
    ``f`` maps a list of Values to one Value (it runs under ``no_grad``, no graph is
    kept), as for ``gradcheck``; compare with ``grad`` for the exact numbers.
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < math.inf:
        raise ValueError(f"numeric_grad: eps must be a positive number, got {eps!r}")
    point = _point(point, "numeric_grad")

    def value(p: list[float]) -> list[float]:
        ys = _outputs(f, p)
        if len(ys) != 1:
            raise ValueError(
                f"numeric_grad: f must return one Value, it returned {len(ys)}; "
                "for several outputs differentiate each (or use jacobian)"
            )
        return ys

    return [_central_difference(value, point, i, eps)[0] for i in range(len(point))]


def gradcheck(
    f: Callable[[list[Value]], Value | Sequence[Value]],
    point: Sequence[float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    raise_exception: bool = True,
) -> bool:
    """Check backpropagated first derivatives of ``f`` at ``point`` by finite differences.

    ``f`` maps a list of Values to a Value or a list of Values; each output's gradient
    (a row of the Jacobian) is compared with central differences
    (f(x + eps e_i) - f(x - eps e_i)) / 2 eps, entry by entry, within
    atol + rtol * |numeric|. True when they agree; else ``GradcheckError`` with a table
    of the entries that disagree, or False with ``raise_exception=False`` (as PyTorch's
    ``gradcheck``). ``tapegrad.testing.check_grads`` checks any order, in forward and
    reverse mode, along random directions.
    """
    _flag(raise_exception, "gradcheck")
    point = _point(point, "gradcheck")
    analytic = jacobian(f, point)
    columns = [
        _central_difference(lambda p: _outputs(f, p), point, i, eps) for i in range(len(point))
    ]
    numeric = [list(row) for row in zip(*columns)] if columns else [[] for _ in analytic]
    return _compare("gradcheck", analytic, numeric, eps, atol, rtol, raise_exception)


def gradgradcheck(
    f: Callable[[list[Value]], Value],
    point: Sequence[float],
    eps: float = 1e-5,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check the exact Hessian of ``f`` against central differences of its gradient:
    True, or ``GradcheckError`` (False with ``raise_exception=False``)."""
    _flag(raise_exception, "gradgradcheck")
    point = _point(point, "gradgradcheck")

    @enable_grad()  # the gradient needs f's graph, even inside no_grad()
    def gradient(p: list[float]) -> list[float]:
        xs = [Value(x) for x in p]
        return _gradient_or_zeros(f(xs), xs)

    analytic = hessian(f, point)
    numeric = [_central_difference(gradient, point, i, eps) for i in range(len(point))]
    return _compare("gradgradcheck", analytic, numeric, eps, atol, rtol, raise_exception)
