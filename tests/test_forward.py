"""Forward mode (``tapegrad.jvp``): against reverse mode (exact, to rounding), against
finite differences over random expressions, to higher order through Values."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tapegrad import Value, grad, hessian, jvp, no_grad
from tapegrad.testing.reference import central_difference, close
from tapegrad.testing.strategies import expressions

KINK_CLEARANCE = 1e-2


def f(a, b):
    return (a * b).sin() + a.exp() / b - b**2.5


def test_value_and_slope_match_reverse_mode():
    value, slope = jvp(f, [0.3, 1.7], [0.25, -2.0])
    a, b = Value(0.3), Value(1.7)
    y = f(a, b)
    ga, gb = grad(y, [a, b])
    assert value == y.data
    assert slope == pytest.approx(0.25 * ga - 2.0 * gb, rel=1e-15)
    assert isinstance(value, float) and isinstance(slope, float)


def test_several_outputs_and_constants():
    values, slopes = jvp(lambda x: [x * x, x.exp(), 3.0], [2.0], [1.0])
    assert values == [4.0, math.exp(2.0), 3.0]
    assert slopes == [4.0, math.exp(2.0), 0.0]
    assert jvp(lambda x: Value(1.0, requires_grad=False), [2.0], [1.0]) == (1.0, 0.0)


def test_every_kind_of_node():
    # dot with a bias, sum, a number on either side, powers, leaky_relu's parameter
    def g(x, y):
        d = Value.dot([x, y, 2.0], [y, x.tanh(), x], 0.5)
        return Value.sum([d, 2.0**x, y**3, (1.0 - x) / y, x.leaky_relu(0.1), x**y])

    point, direction = [0.4, 1.3], [0.7, -0.2]
    _, slope = jvp(g, point, direction)
    xs = [Value(v) for v in point]
    gradient = grad(g(*xs), xs)
    assert slope == pytest.approx(sum(d * gi for d, gi in zip(direction, gradient)), rel=1e-14)


def test_higher_order_through_values():
    def second(x):  # d/dx of (x sin x), as a function of a Value
        return jvp(lambda t: t.sin() * t, [x], [1.0])[1]

    assert isinstance(jvp(second, [Value(0.3)], [1.0])[1], Value)
    _, d2 = jvp(second, [0.3], [1.0])
    assert d2 == pytest.approx(2 * math.cos(0.3) - 0.3 * math.sin(0.3), rel=1e-15)
    third = lambda x: jvp(second, [x], [1.0])[1]
    _, d3 = jvp(third, [0.3], [1.0])
    assert d3 == pytest.approx(-3 * math.sin(0.3) - 0.3 * math.cos(0.3), rel=1e-14)
    # forward over reverse: the Hessian times a direction
    point = [0.5, 1.2]
    H = hessian(lambda v: f(v[0], v[1]), point)
    hv = jvp(lambda a, b: list(grad(f(a, b), [a, b], create_graph=True)), point, [1.0, 2.0])[1]
    assert hv == [pytest.approx(r[0] + 2.0 * r[1], rel=1e-14) for r in H]


def test_values_as_primals_keep_the_graph():
    x = Value(0.8)
    value, slope = jvp(lambda t: t.exp() * t, [x], [1.0])
    assert value.data == math.exp(0.8) * 0.8
    (d2,) = grad(slope, [x])
    assert d2 == pytest.approx(math.exp(0.8) * (0.8 + 2.0), rel=1e-15)
    constant = Value(0.8, requires_grad=False)  # a leaf of its number stands for it
    assert jvp(lambda t: t * t, [constant], [1.0])[1].data == 1.6


def test_works_inside_no_grad():
    with no_grad():
        assert jvp(lambda x: x * x, [3.0], [1.0]) == (9.0, 6.0)


def test_domain_errors_name_the_node():
    with pytest.raises(ZeroDivisionError, match=r"jvp through sqrt\(0.0\) failed"):
        jvp(lambda x: x.sqrt(), [0.0], [1.0])


@pytest.mark.parametrize(
    ("primals", "tangents", "error", "message"),
    [
        (2.0, [1.0], TypeError, r"jvp: primals must be a sequence .* got float 2.0; write \[2.0\]"),
        ([2.0], [1.0, 0.0], ValueError, "jvp: 1 primals but 2 tangents"),
        (["2"], [1.0], TypeError, "jvp: primals must hold numbers or Values, got str '2'"),
        ([2.0], [None], TypeError, "jvp: tangents must hold numbers or Values, got NoneType"),
        ("ab", [1.0], TypeError, "jvp: primals must be a sequence of numbers, got str"),
    ],
)
def test_bad_arguments(primals, tangents, error, message):
    with pytest.raises(error, match=message):
        jvp(lambda x: x, primals, tangents)


def test_f_must_return_values():
    with pytest.raises(TypeError, match="jvp: f must return a Value or a list of Values, got str"):
        jvp(lambda x: "y", [1.0], [1.0])


@given(expressions(), st.data())
def test_random_expressions_against_finite_differences(case, data):
    expr, point = case
    xs = [Value(x) for x in point]
    y = expr.values(xs)
    assume(y.requires_grad and expr.nearest_kink > KINK_CLEARANCE)
    direction = data.draw(st.lists(st.floats(-1.0, 1.0), min_size=len(point), max_size=len(point)))
    value, slope = jvp(expr, point, direction)
    assert value == y.data
    exact = math.fsum(d * g for d, g in zip(direction, grad(y, xs, materialize_grads=True)))
    assert math.isclose(slope, exact, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(y.data)))
    along = lambda t: expr.floats(*[p + t * d for p, d in zip(point, direction)])
    assert close(slope, central_difference(along, [0.0], 0), scale=y.data, rel=1e-4)
