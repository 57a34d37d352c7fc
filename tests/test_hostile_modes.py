"""Recording modes around every functional entry point.

Inside ``no_grad()``, ``detect_anomaly()`` or both, each entry point gives what it gives
outside them (as PyTorch's functional API, it records the graphs it needs), and the
caller's modes are back when it returns or raises.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import (
    Value,
    detect_anomaly,
    grad,
    gradcheck,
    gradgradcheck,
    gradient_and_hessian,
    hessian,
    hessian_wrt,
    hvp,
    jacobian,
    jvp,
    no_grad,
    numeric_grad,
)
from tapegrad.autograd.mode import MODE
from tapegrad.optim.newton import largest_stable_lr
from tapegrad.testing import check_grads


def f(xs):
    a, b = xs
    return a * a * b + a.sin() + b.exp() * 0.5


def _built_outside(point):
    xs = [Value(x) for x in point]
    return xs, f(xs)


def _on_graph(use):
    """An entry point that takes a graph: built outside the mode, used inside it."""

    def prepare(point):
        xs, y = _built_outside(point)
        return lambda: use(xs, y)

    return prepare


def _on_f(use):
    """An entry point that takes f and a point: everything happens inside the mode."""
    return lambda point: lambda: use(point)


# Each prepares (outside the mode) a call to make inside it.
ENTRY_POINTS = {
    "grad": _on_graph(lambda xs, y: list(grad(y, xs))),
    "grad(create_graph)": _on_graph(
        lambda xs, y: [list(grad(g, xs)) for g in grad(y, xs, create_graph=True)]
    ),
    "gradient_and_hessian": _on_graph(lambda xs, y: gradient_and_hessian(y, xs)),
    "hessian_wrt": _on_graph(lambda xs, y: hessian_wrt(y, xs)),
    "jacobian": _on_f(lambda p: jacobian(f, p)),
    "hessian": _on_f(lambda p: hessian(f, p)),
    "hvp": _on_f(lambda p: hvp(f, p, [1.0, -2.0])),
    "gradcheck": _on_f(lambda p: gradcheck(f, p)),
    "gradgradcheck": _on_f(lambda p: gradgradcheck(f, p)),
    "numeric_grad": _on_f(lambda p: numeric_grad(f, p)),
    "jvp": _on_f(lambda p: jvp(lambda a, b: f([a, b]), p, [1.0, 0.5])),
    "check_grads": _on_f(lambda p: check_grads(lambda a, b: f([a, b]), p, order=2)),
    "largest_stable_lr": _on_f(
        lambda p: largest_stable_lr(lambda xs: xs[0] * xs[0] + 3.0 * xs[1] * xs[1], p)
    ),
}
MODES = {
    "no_grad": no_grad,
    "detect_anomaly": detect_anomaly,
    "both": lambda: _both(),
}


@contextlib.contextmanager
def _both():
    with no_grad(), detect_anomaly():
        yield


points = st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=2)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@settings(max_examples=3)
@given(point=points)
def test_an_entry_point_gives_the_same_inside_a_mode(entry, mode, point):
    prepare = ENTRY_POINTS[entry]
    outside = prepare(point)()
    call = prepare(point)
    before = (MODE.grad_enabled, MODE.anomaly)
    with MODES[mode]():
        inside_modes = (MODE.grad_enabled, MODE.anomaly)
        inside = call()
        assert (MODE.grad_enabled, MODE.anomaly) == inside_modes
        assert (Value(1.0) * 2.0).requires_grad is inside_modes[0]
    assert inside == outside
    assert (MODE.grad_enabled, MODE.anomaly) == before


def test_create_graph_under_no_grad_records_the_gradient_graph():
    xs, y = _built_outside([1.5, -0.5])
    with no_grad():
        first = grad(y, xs, create_graph=True)
        assert all(g.requires_grad for g in first)
    assert [list(grad(g, xs)) for g in first] == hessian(f, [1.5, -0.5])


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("entry", ["jacobian", "hessian", "hvp", "gradcheck", "numeric_grad"])
def test_the_callers_modes_are_back_after_f_raises(entry, mode):
    def bad(xs):
        raise KeyError("from f")

    calls = {
        "jacobian": lambda: jacobian(bad, [1.0]),
        "hessian": lambda: hessian(bad, [1.0]),
        "hvp": lambda: hvp(bad, [1.0], [1.0]),
        "gradcheck": lambda: gradcheck(bad, [1.0]),
        "numeric_grad": lambda: numeric_grad(bad, [1.0]),
    }
    with MODES[mode]():
        inside = (MODE.grad_enabled, MODE.anomaly)
        with pytest.raises(KeyError, match="from f"):
            calls[entry]()
        assert (MODE.grad_enabled, MODE.anomaly) == inside
    assert (MODE.grad_enabled, MODE.anomaly) == (True, False)
