"""Derivatives of derivatives: closed forms, Hessians, Jacobians, grad's options.

Higher derivatives come from repeated ``grad(..., create_graph=True)``; each table
row is a function with its n-th derivative in closed form.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tapegrad import Value, grad, gradcheck, gradgradcheck, hessian, hvp, jacobian
from tapegrad.testing.reference import close
from tapegrad.testing.strategies import expressions

MAX_ORDER = 4


def _falling(k: float, n: int) -> float:
    """k (k - 1) ... (k - n + 1): the factor in d^n/dx^n x^k."""
    return math.prod(k - i for i in range(n))


def _tanh(x: float, n: int) -> float:
    t = math.tanh(x)
    d1 = 1 - t * t
    return [t, d1, -2 * t * d1, (6 * t * t - 2) * d1, (16 * t - 24 * t**3) * d1][n]


def _sigmoid(x: float, n: int) -> float:
    s = 1 / (1 + math.exp(-x))
    d1 = s * (1 - s)
    return [
        s,
        d1,
        d1 * (1 - 2 * s),
        d1 * (1 - 6 * s + 6 * s * s),
        d1 * (1 - 14 * s + 36 * s * s - 24 * s**3),
    ][n]


def _power(k: float) -> Callable[[float, int], float]:
    """d^n/dx^n x^k: 0 once n > k for an integer k (then x ** (k - n) is never needed)."""

    def derivative(x: float, n: int) -> float:
        factor = _falling(k, n)
        return factor * x ** (k - n) if factor else 0.0

    return derivative


# (source, f on a Value, d^n f/dx^n (x, n) in closed form, where x is drawn)
DERIVATIVES = [
    ("exp(x)", Value.exp, lambda x, n: math.exp(x), (-3.0, 3.0)),
    ("sin(x)", Value.sin, lambda x, n: math.sin(x + n * math.pi / 2), (-4.0, 4.0)),
    ("cos(x)", Value.cos, lambda x, n: math.cos(x + n * math.pi / 2), (-4.0, 4.0)),
    (
        "log(x)",
        Value.log,
        lambda x, n: math.log(x) if n == 0 else (-1) ** (n - 1) * math.factorial(n - 1) / x**n,
        (0.2, 5.0),
    ),
    ("tanh(x)", Value.tanh, _tanh, (-3.0, 3.0)),
    ("sigmoid(x)", Value.sigmoid, _sigmoid, (-4.0, 4.0)),
    ("sqrt(x)", Value.sqrt, _power(0.5), (0.2, 5.0)),
    ("x ** 2", lambda v: v**2, _power(2), (0.1, 3.0)),
    ("x ** 3", lambda v: v**3, _power(3), (0.1, 3.0)),
    ("x ** 4", lambda v: v**4, _power(4), (0.1, 3.0)),
    ("x ** 0.5", lambda v: v**0.5, _power(0.5), (0.2, 3.0)),
    ("x ** -1", lambda v: v**-1, _power(-1), (0.2, 3.0)),
    ("x ** 2.5", lambda v: v**2.5, _power(2.5), (0.2, 3.0)),
    ("1 / x", lambda v: 1 / v, _power(-1), (0.2, 3.0)),
    ("2 ** x", lambda v: 2**v, lambda x, n: 2**x * math.log(2) ** n, (-3.0, 3.0)),
    ("x * x * x", lambda v: v * v * v, _power(3), (-3.0, 3.0)),
    ("relu(x) * x, x > 0", lambda v: v.relu() * v, _power(2), (0.1, 3.0)),
    ("abs(x) * x, x < 0", lambda v: abs(v) * v, lambda x, n: -_power(2)(x, n), (-3.0, -0.1)),
]


def _derivatives(f: Callable[[Value], Value], x: float, order: int) -> list[float]:
    """f(x), f'(x), ..., by repeated grad(create_graph=True); the last one by backward()."""
    v = Value(x)
    y = f(v)
    found = [y.data]
    for n in range(1, order + 1):
        if not y.requires_grad:  # a constant: every further derivative is 0
            found.append(0.0)
            continue
        if n == order:
            v.zero_grad()
            y.backward()
            (last,) = grad(y, v)
            assert last == v.grad, "backward() and grad() on a gradient graph disagree"
            found.append(last)
        else:
            (y,) = grad(y, v, create_graph=True)
            found.append(y.data)
    return found


@pytest.mark.parametrize(
    "source, f, closed_form, domain", DERIVATIVES, ids=[d[0] for d in DERIVATIVES]
)
@given(data=st.data())
def test_derivatives_up_to_fourth_order(source, f, closed_form, domain, data):
    x = data.draw(st.floats(*domain))
    found = _derivatives(f, x, MAX_ORDER)
    for n, d in enumerate(found):
        expected = closed_form(x, n)
        assert math.isclose(d, expected, rel_tol=1e-9, abs_tol=1e-9), (
            f"order {n}: {d} != {expected}"
        )


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("x", [0.0, -1.5, 2.0])
def test_integer_power_derivatives_everywhere(k: int, x: float):
    """d^n/dx^n x**k for an integer k is k!/(k-n)! x**(k-n), and 0 once n > k, at every
    x: 0 ** (k - n) with k - n < 0 is never needed (it is multiplied by 0)."""
    found = _derivatives(lambda v: v**k, x, MAX_ORDER)
    expected = [_power(k)(x, n) for n in range(MAX_ORDER + 1)]
    assert found == pytest.approx(expected, rel=1e-12, abs=1e-12)


# --- Hessians ---------------------------------------------------------------------


def _f1(xs):
    x, y, z = xs
    return x**2 * y + 3 * x * y**3 - z**4 + x * z


def _h1(x, y, z):
    return [[2 * y, 2 * x + 9 * y * y, 1], [2 * x + 9 * y * y, 18 * x * y, 0], [1, 0, -12 * z * z]]


# (source, f on a list of Values, number of variables, Hessian in closed form)
POLYNOMIALS = [
    ("x^2 y + 3 x y^3 - z^4 + x z", _f1, 3, _h1),
    (
        "(x - y)^2 + x y y",
        lambda xs: (xs[0] - xs[1]) * (xs[0] - xs[1]) + xs[0] * xs[1] * xs[1],
        2,
        lambda x, y: [[2, -2 + 2 * y], [-2 + 2 * y, 2 + 2 * x]],
    ),
    ("5 x^3 - 2 x + 7", lambda xs: 5 * xs[0] ** 3 - 2 * xs[0] + 7, 1, lambda x: [[30 * x]]),
    (
        "dot([x, y], [y, x], x * x)",
        lambda xs: Value.dot(xs, xs[::-1], xs[0] * xs[0]),
        2,
        lambda x, y: [[2, 2], [2, 0]],
    ),
    (
        "sum of squares",
        lambda xs: Value.sum(x**2 for x in xs),
        4,
        lambda *p: [[2.0 * (i == j) for j in range(4)] for i in range(4)],
    ),
    ("3 x - y + 2 (linear)", lambda xs: 3 * xs[0] - xs[1] + 2, 2, lambda x, y: [[0, 0], [0, 0]]),
]


@pytest.mark.parametrize("source, f, n, closed_form", POLYNOMIALS, ids=[p[0] for p in POLYNOMIALS])
@given(data=st.data())
def test_hessian_of_polynomial(source, f, n, closed_form, data):
    point = data.draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n))
    H = hessian(f, point)
    expected = closed_form(*point)
    for row, row_expected in zip(H, expected):
        assert row == pytest.approx(row_expected, rel=1e-12, abs=1e-12)
    assert gradgradcheck(f, point)


def _clear_of_kinks(expr, point) -> None:
    xs = [Value(x) for x in point]
    y = expr.values(xs)  # fixes where operands are squashed, at this point
    assume(y.requires_grad and expr.nearest_kink > 1e-2)


@given(expressions())
def test_gradgradcheck_passes(case):
    expr, point = case
    _clear_of_kinks(expr, point)
    assert gradgradcheck(expr.values, point)


@given(expressions())
def test_hessian_is_symmetric(case):
    expr, point = case
    _clear_of_kinks(expr, point)
    H = hessian(expr.values, point)
    for i in range(len(point)):
        for j in range(i):
            assert close(H[i][j], H[j][i], scale=max(map(abs, H[i] + H[j]), default=1), rel=1e-9)


@given(expressions(), st.lists(st.floats(-2, 2), min_size=4, max_size=4))
def test_hvp_is_hessian_times_vector(case, vector):
    expr, point = case
    _clear_of_kinks(expr, point)
    vector = vector[: len(point)]
    H = hessian(expr.values, point)
    product = [math.fsum(h * v for h, v in zip(row, vector)) for row in H]
    scale = max([1.0, *(abs(h) for row in H for h in row)])
    assert hvp(expr.values, point, vector) == pytest.approx(product, rel=1e-9, abs=1e-12 * scale)


# --- Jacobians and grad's options -------------------------------------------------


@given(x=st.floats(-3, 3), y=st.floats(-3, 3))
def test_jacobian_of_vector_function(x, y):
    def f(xs):
        a, b = xs
        return [a * b, a.sin(), b**2 + a, Value(7.0, requires_grad=False), b]

    J = jacobian(f, [x, y])
    assert [[y, x], [math.cos(x), 0.0], [1.0, 2 * y], [0.0, 0.0], [0.0, 1.0]] == J
    assert gradcheck(f, [x, y])


def test_jacobian_of_scalar_function_is_one_row():
    assert jacobian(lambda xs: xs[0] * xs[1], [2.0, 5.0]) == [[5.0, 2.0]]


@given(a=st.floats(-3, 3), b=st.floats(-3, 3), x=st.floats(-3, 3), y=st.floats(-3, 3))
def test_grad_outputs_weight_each_output(a, b, x, y):
    v, w = Value(x), Value(y)
    outputs = [v * w, v.sin()]
    weighted = grad(outputs, [v, w], grad_outputs=[a, b])
    assert weighted == pytest.approx([a * y + b * math.cos(x), a * x], rel=1e-12, abs=1e-12)
    assert grad(outputs, [v, w]) == pytest.approx([y + math.cos(x), x], rel=1e-12, abs=1e-12)
    assert grad(outputs[0], [v, w], grad_outputs=a) == pytest.approx([a * y, a * x])


def test_grad_outputs_may_be_values_that_are_differentiated():
    x, seed = Value(3.0), Value(2.0)
    (g,) = grad(x * x, x, grad_outputs=[seed], create_graph=True)  # seed * 2x
    assert g.data == 12.0
    assert grad(g, [x, seed]) == (4.0, 6.0)


def test_same_output_twice_counts_twice():
    x = Value(3.0)
    y = x * x
    assert grad([y, y], x) == (12.0,)


def test_gradient_with_respect_to_itself_and_an_intermediate():
    x, y = Value(2.0), Value(0.5)
    a = x * y
    z = a.exp()
    assert grad(x, x) == (1.0,)
    assert grad(z, [a, x]) == (math.exp(1.0), math.exp(1.0) * 0.5)


def test_unused_inputs_are_refused_or_get_none_or_zero_as_in_pytorch():
    # torch.autograd.grad(x * 3, [x, unused]) raises "The differentiated Tensor at
    # index 1 appears to not have been used in the graph"; allow_unused=True gives
    # (3., None), materialize_grads=True (3., 0.).
    x, unused = Value(2.0), Value(5.0, label="u")
    unused_message = (
        r"grad: input 1 \(Value\(data=5, grad=None, label='u'\)\) does not appear in the "
        r"graph of the outputs, so it has no gradient; pass allow_unused=True"
    )
    with pytest.raises(RuntimeError, match=unused_message):
        grad(x * 3, [x, unused])
    with pytest.raises(RuntimeError, match=r"grad: input 1 .* requires no gradient"):
        grad(x * 3, [x, Value(5.0, requires_grad=False)])
    assert grad(x * 3, [x, unused], allow_unused=True) == (3.0, None)
    assert grad(x * 3, [x, unused], materialize_grads=True) == (3.0, 0.0)
    assert grad(x * 3, [x, unused], allow_unused=True, materialize_grads=True) == (3.0, 0.0)
    assert grad(x * 0, [x]) == (0.0,)  # used, with gradient 0: no error
    with pytest.raises(ValueError, match="allow_unused must be True or left out"):
        grad(x * 3, [x, unused], allow_unused=False, materialize_grads=True)
    g, zero = grad(x * x, [x, unused], create_graph=True, materialize_grads=True)
    assert (g.data, zero.data, zero.requires_grad) == (4.0, 0.0, False)
    assert grad(x * x, [unused, x], create_graph=True, allow_unused=True)[0] is None
    assert unused.grad is None and x.grad is None  # grad() leaves .grad alone
    assert hessian(lambda xs: xs[0] ** 3, [1.0, 2.0]) == [[6.0, 0.0], [0.0, 0.0]]
    assert hvp(lambda xs: xs[0] ** 3, [1.0, 2.0], [1.0, 1.0]) == [6.0, 0.0]
    assert jacobian(lambda xs: xs[0] * 2, [1.0, 2.0]) == [[2.0, 0.0]]


@pytest.mark.parametrize("create_graph", [False, True])
def test_grad_does_not_touch_dot_grad(create_graph: bool):
    x, y = Value(2.0), Value(3.0)
    a = x * y
    z = a.tanh() + x
    x.grad, y.grad, a.grad, z.grad = 0.25, -1.0, 7.0, 0.5
    grad(z, [x, y], create_graph=create_graph)
    assert (x.grad, y.grad, a.grad, z.grad) == (0.25, -1.0, 7.0, 0.5)
