"""``check_grads``: derivatives of any order, forward and reverse mode, against central
differences along random directions and against each other (the shape of JAX's
``jax.test_util.check_grads``).

At order 1 the directional derivative of ``f`` along a random direction v, weighted by
a random cotangent u over its outputs, is computed three ways: forward mode
(u · jvp(f, x, v)), reverse mode (v · grad(f, x, grad_outputs=u)) and a fourth-order
central difference of u · f(x + t v) in t. At order k > 1 each mode's derivative, as a
function of x (u · jvp(f, x, w) for a fixed random w, or w · grad(..., create_graph=True)),
is checked again at order k - 1, in every mode: so a rule that is right on floats but
wrong on Values (a wrong second derivative) is caught.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Sequence
from typing import Any

from ..autograd.check import GradcheckError
from ..autograd.engine import grad
from ..autograd.forward import jvp
from ..autograd.mode import enable_grad
from ..autograd.value import Value

MODES = ("fwd", "rev")
_NAMES = {"fwd": "forward mode", "rev": "reverse mode"}


class GradientCheckError(GradcheckError):
    """A derivative disagrees with central differences, or forward mode with reverse.

    ``order`` (1 for first derivatives), ``mode`` ("fwd" or "rev", or "fwd/rev" when
    the two modes disagree), ``direction`` and ``point`` say where; ``computed`` and
    ``expected`` are the two numbers.
    """

    def __init__(
        self,
        message: str,
        *,
        order: int,
        mode: str,
        direction: list[float],
        point: list[float],
        computed: float,
        expected: float,
    ) -> None:
        super().__init__(message)
        self.order, self.mode, self.direction, self.point = order, mode, direction, point
        self.computed, self.expected = computed, expected


def check_grads(
    f: Callable[..., Any],
    args: Sequence[float],
    order: int = 2,
    modes: Sequence[str] = MODES,
    eps: float = 1e-3,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    *,
    seed: int = 0,
) -> None:
    """Check the derivatives of ``f`` at ``args`` up to ``order``, in forward and reverse
    mode; raise ``GradientCheckError`` (an AssertionError) at the first that is wrong.

    ``f(*xs)`` takes one Value per number of ``args`` and returns a Value or a list of
    Values. Each derivative is compared, along random directions (drawn from ``seed``),
    with central differences of step ``eps`` (the fourth-order stencil at x ± h v,
    x ± 2 h v, where h is eps times the largest |x_i|, at least 1), within
    atol + rtol * |numeric|, and forward mode with reverse mode. A ValueError says
    when f is not finite where the differences need it.
    The error names the order, the mode, the direction, the point and the two numbers.
    """
    point = _point(args)
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"check_grads: order must be a positive integer, got {order!r}")
    if isinstance(modes, str) or not isinstance(modes, Sequence):
        raise TypeError(
            f"check_grads: modes must be a sequence such as ('fwd', 'rev'), got {modes!r}"
        )
    if not modes or any(m not in MODES for m in modes):
        raise ValueError(f"check_grads: modes must be among 'fwd' and 'rev', got {modes!r}")
    for name, x, least in (("eps", eps, 0.0), ("atol", atol, 0.0), ("rtol", rtol, 0.0)):
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not least <= x < math.inf:
            raise ValueError(f"check_grads: {name} must be a number >= 0, got {x!r}")
    if eps == 0:
        raise ValueError("check_grads: eps must be a positive number, got 0")
    if not callable(f):
        raise TypeError(f"check_grads: f must be a function of Values, got {type(f).__name__}")
    checker = _Checker(point, order, tuple(dict.fromkeys(modes)), float(eps), atol, rtol, seed)
    with enable_grad():  # reverse mode needs f's graph, even inside no_grad()
        checker.check(f, 1, "")


def _point(args: object) -> list[float]:
    if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
        raise TypeError(
            f"check_grads: args must be a sequence of numbers (f is called as f(*args)), "
            f"got {type(args).__name__} {args!r}"
        )
    point = []
    for x in args:
        if isinstance(x, Value):
            x = x.data
        try:
            finite = not isinstance(x, bool) and isinstance(x, numbers.Real) and math.isfinite(x)
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            raise TypeError(
                f"check_grads: args must hold finite numbers, got {type(x).__name__} {x!r}"
            )
        point.append(float(x))
    if not point:
        raise ValueError("check_grads: args is empty; f needs at least one argument")
    return point


def _outputs(y: object) -> list[Value]:
    """f's result as a list of Values (a plain number is a constant)."""
    ys = list(y) if isinstance(y, (list, tuple)) else [y]
    out = []
    for v in ys:
        if isinstance(v, Value):
            out.append(v)
        elif isinstance(v, numbers.Real) and not isinstance(v, bool):
            out.append(Value(float(v), requires_grad=False))
        else:
            raise TypeError(
                f"check_grads: f must return a Value or a list of Values, got "
                f"{type(v).__name__} {v!r}"
            )
    return out


def _inner(u: Sequence[float], ys: Sequence[Any]) -> Any:
    """sum_i u_i * ys_i (numbers, or Values that record a graph)."""
    total: Any = 0.0
    for a, b in zip(u, ys):
        total = total + a * b
    return total


class _Checker:
    def __init__(
        self,
        point: list[float],
        order: int,
        modes: tuple[str, ...],
        eps: float,
        atol: float,
        rtol: float,
        seed: int,
    ) -> None:
        self.point, self.order, self.modes = point, order, modes
        self.eps, self.atol, self.rtol = eps, float(atol), float(rtol)
        self.rng = random.Random(seed)

    def _direction(self) -> list[float]:
        return [self.rng.gauss(0.0, 1.0) for _ in self.point]

    def _evaluate(self, f: Callable[..., Any], point: list[float]) -> list[float]:
        return [y.data for y in _outputs(f(*[Value(x) for x in point]))]

    def _along(self, f: Callable[..., Any], v: list[float], u: list[float]) -> float:
        """d/dt u · f(x + t v) at t = 0, by the fourth-order central stencil, with the
        step eps scaled by the point's largest coordinate (at least 1), so that x + t v
        differs from x in float64 wherever x is."""

        def at(t: float) -> float:
            moved = [x + t * d for x, d in zip(self.point, v)]
            total = math.fsum(a * b for a, b in zip(u, self._evaluate(f, moved)))
            if not math.isfinite(total):
                raise ValueError(
                    f"check_grads: f is not finite at ({', '.join(map(repr, moved))}), a point "
                    f"of the central differences around ({', '.join(map(repr, self.point))}); "
                    "they need finite values (a smaller eps, or a point farther from a pole)"
                )
            return total

        h = self.eps * max(1.0, *map(abs, self.point))
        return (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h)

    def _forward(self, f: Callable[..., Any], v: list[float], u: list[float]) -> float:
        _, slopes = jvp(lambda *xs: _outputs(f(*xs)), self.point, v)
        return math.fsum(a * b for a, b in zip(u, slopes))

    def _reverse(self, f: Callable[..., Any], v: list[float], u: list[float]) -> float:
        xs = [Value(x) for x in self.point]
        ys = _outputs(f(*xs))
        live = [(y, w) for y, w in zip(ys, u) if y.requires_grad]
        if not live:
            return 0.0
        gradient = grad([y for y, _ in live], xs, [w for _, w in live], materialize_grads=True)
        return math.fsum(a * b for a, b in zip(v, gradient))

    def _fail(
        self, level: int, mode: str, within: str, v: list[float], what: str, a: float, b: float
    ) -> GradientCheckError:
        where = f"order {level}, mode {mode}{within}"
        shown = ", ".join(f"{d:.6g}" for d in v)
        at = ", ".join(repr(x) for x in self.point)
        message = (
            f"check_grads: {where}: along direction [{shown}] at ({at}), {what} "
            f"(|difference| {abs(a - b):.3g} > atol {self.atol:g} + rtol {self.rtol:g} * {abs(b):.3g})"
        )
        return GradientCheckError(
            message,
            order=level,
            mode=mode,
            direction=v,
            point=list(self.point),
            computed=a,
            expected=b,
        )

    def _close(self, a: float, b: float) -> bool:
        return abs(a - b) <= self.atol + self.rtol * abs(b)  # NaN is never close

    def check(self, f: Callable[..., Any], level: int, within: str) -> None:
        """Check f's first derivatives, then (below ``order``) each mode's derivative
        function at the next level."""
        outputs = len(_outputs(f(*[Value(x) for x in self.point])))
        v = self._direction()
        u = [1.0] if outputs == 1 else [self.rng.gauss(0.0, 1.0) for _ in range(outputs)]
        numeric = self._along(f, v, u)
        found = {}
        for mode in self.modes:
            exact = self._forward(f, v, u) if mode == "fwd" else self._reverse(f, v, u)
            if not self._close(exact, numeric):
                what = f"{_NAMES[mode]} gives {exact!r}, central differences give {numeric!r}"
                raise self._fail(level, mode, within, v, what, exact, numeric)
            found[mode] = exact
        if len(found) == 2 and not self._close(found["fwd"], found["rev"]):
            what = f"forward mode gives {found['fwd']!r}, reverse mode gives {found['rev']!r}"
            raise self._fail(level, "fwd/rev", within, v, what, found["fwd"], found["rev"])
        if level == self.order:
            return
        for mode in self.modes:
            w = self._direction()
            shown = ", ".join(f"{d:.3g}" for d in w)
            derivative = _derivative(f, mode, w, u)
            self.check(
                derivative, level + 1, f" (of the {mode} derivative along [{shown}]{within})"
            )


def _derivative(
    f: Callable[..., Any], mode: str, w: list[float], u: list[float]
) -> Callable[..., Value]:
    """x -> u · (d f / d x) w as a function of Values, computed in ``mode`` so that it
    records its own graph (to be differentiated again)."""
    if mode == "fwd":

        def forward(*xs: Value) -> Value:
            _, slopes = jvp(lambda *zs: _outputs(f(*zs)), list(xs), w)
            return _as_value(_inner(u, slopes))

        return forward

    def reverse(*xs: Value) -> Value:
        ys = _outputs(f(*xs))
        live = [(y, c) for y, c in zip(ys, u) if y.requires_grad]
        if not live:
            return Value(0.0, requires_grad=False)
        gradient = grad(
            [y for y, _ in live],
            list(xs),
            [c for _, c in live],
            create_graph=True,
            materialize_grads=True,
        )
        return _as_value(_inner(w, gradient))

    return reverse


def _as_value(x: Any) -> Value:
    return x if isinstance(x, Value) else Value(float(x), requires_grad=False)
