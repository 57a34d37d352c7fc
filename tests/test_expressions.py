"""Random expressions over the whole op table: gradients against finite differences.

Trees and DAGs (the same Value used several times) of 1-4 variables come from
``tapegrad.testing.strategies.expressions``; the function they compute is also evaluated with the
``math`` references, whose central differences the gradients are compared with.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tapegrad import Value, grad, gradcheck, topological_order
from tapegrad.testing.reference import central_difference, close
from tapegrad.testing.strategies import expressions

KINK_CLEARANCE = 1e-2  # finite differences must not straddle a kink of relu, abs, ...


def _build(expr, point):
    xs = [Value(x, label=f"x{i}") for i, x in enumerate(point)]
    y = expr.values(xs)
    assume(y.requires_grad and expr.nearest_kink > KINK_CLEARANCE)
    return xs, y


@given(expressions())
def test_forward_matches_the_references(case):
    expr, point = case
    _, y = _build(expr, point)
    assert math.isclose(y.data, expr.floats(*point), rel_tol=1e-9, abs_tol=1e-9)


@given(expressions())
def test_gradients_match_finite_differences(case):
    expr, point = case
    xs, y = _build(expr, point)
    y.backward()
    # The same rules, but a Value used several times sums its gradients in an order that
    # may differ between the two paths (dot's accumulator goes pair by pair): rounding.
    for x, g in zip(xs, grad(y, xs, allow_unused=True)):
        if g is None:  # an input y does not use: neither path reaches it
            assert x.grad is None, "backward() != grad()"
            continue
        assert math.isclose(x.grad, g, rel_tol=1e-13, abs_tol=1e-12), "backward() != grad()"
    for i, x in enumerate(xs):
        numeric = central_difference(expr.floats, point, i)
        if x.grad is None:  # y does not use x: its derivative is 0
            assert numeric == 0.0
            continue
        assert close(x.grad, numeric, scale=y.data, rel=1e-4), f"d/dx{i}: {x.grad} vs {numeric}"


@given(expressions())
def test_gradcheck_passes(case):
    expr, point = case
    _build(expr, point)  # fixes where operands are squashed, at this point
    assert gradcheck(expr.values, point)


@given(expressions(shapes=("dag",)))
def test_every_node_is_visited_once(case):
    expr, point = case
    _, y = _build(expr, point)
    order = topological_order(y)
    assert len(order) == len(set(map(id, order)))
    position = {id(v): i for i, v in enumerate(order)}
    for v in order:
        assert all(position[id(p)] < position[id(v)] for p in v.parents if p.parents)


def _doubled(x: Value, times: int) -> Value:
    y = x
    for _ in range(times):
        y = y + y  # 2**times paths from y back to x
    return y


def _diamond(x: Value) -> Value:
    a = x.exp()
    return a * a.sin() + a


def _reused(x: Value) -> Value:
    a = x + 1
    return a * a + a


# (source, f(x), f(x) in closed form, f'(x) in closed form)
SHARED = [
    ("x * x", lambda x: x * x, lambda x: x * x, lambda x: 2 * x),
    ("a = x + 1; a * a + a", _reused, lambda x: (x + 1) ** 2 + x + 1, lambda x: 2 * x + 3),
    ("x - x", lambda x: x - x, lambda x: 0.0, lambda x: 0.0),
    ("x / x", lambda x: x / x, lambda x: 1.0, lambda x: 0.0),
    ("x ** x", lambda x: x**x, lambda x: x**x, lambda x: x**x * (math.log(x) + 1)),
    ("sum([x, x, x])", lambda x: Value.sum([x, x, x]), lambda x: 3 * x, lambda x: 3.0),
    (
        "dot([x, x], [x, 2], x)",
        lambda x: Value.dot([x, x], [x, 2.0], x),
        lambda x: x * x + 3 * x,
        lambda x: 2 * x + 3,
    ),
    (
        "a = exp(x); a * sin(a) + a",
        _diamond,
        lambda x: math.exp(x) * math.sin(math.exp(x)) + math.exp(x),
        lambda x: math.exp(x) * (math.sin(math.exp(x)) + math.exp(x) * math.cos(math.exp(x)) + 1),
    ),
    (
        "y = y + y, 200 times",
        lambda x: _doubled(x, 200),
        lambda x: 2.0**200 * x,
        lambda x: 2.0**200,
    ),
]


@pytest.mark.parametrize("source, f, value, derivative", SHARED, ids=[s[0] for s in SHARED])
@given(x=st.floats(0.2, 2.0))
def test_shared_subexpression(source, f, value, derivative, x):
    v = Value(x)
    y = f(v)
    assert math.isclose(y.data, value(x), rel_tol=1e-12, abs_tol=1e-12)
    y.backward()
    assert math.isclose(v.grad, derivative(x), rel_tol=1e-12, abs_tol=1e-12)
    (g,) = grad(y, v)
    assert math.isclose(g, v.grad, rel_tol=1e-13)
