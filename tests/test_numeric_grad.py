"""numeric_grad (central differences as numbers) and the Hessian of a model's loss
(hessian_wrt / gradient_and_hessian), against closed forms."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from tapegrad import (
    GradcheckError,
    Value,
    gradcheck,
    gradgradcheck,
    gradient_and_hessian,
    hessian_wrt,
    nn,
    no_grad,
    numeric_grad,
)
from tapegrad.nn import functional as F


def test_numeric_grad_matches_the_closed_form():
    # f = x e^y: df/dx = e^y, df/dy = x e^y
    g = numeric_grad(lambda v: v[0] * v[1].exp(), [2.0, 0.5])
    assert g == pytest.approx([math.exp(0.5), 2 * math.exp(0.5)], abs=1e-8)


def test_numeric_grad_has_the_central_difference_error():
    # ((1 + h)^3 - (1 - h)^3) / 2h = 3 + h^2 exactly: the eps^2 f''' / 6 term
    for eps in (1e-2, 1e-3):
        (g,) = numeric_grad(lambda v: v[0] ** 3, [1.0], eps=eps)
        assert g == pytest.approx(3 + eps**2, abs=1e-9)


def test_numeric_grad_agrees_with_gradcheck_on_the_same_function():
    f = lambda v: (v[0] * v[1]).tanh() + v[1].log()
    assert gradcheck(f, [0.3, 1.7])
    assert numeric_grad(f, [0.3, 1.7]) == pytest.approx(
        [1.7 / math.cosh(0.51) ** 2, 0.3 / math.cosh(0.51) ** 2 + 1 / 1.7], abs=1e-8
    )


@pytest.mark.parametrize(
    "f, point, eps, error, message",
    [
        (lambda v: v[0], [1.0], 0.0, ValueError, "eps must be a positive number, got 0.0"),
        (lambda v: v[0], [1.0], -1e-3, ValueError, "eps must be a positive number"),
        (lambda v: v[0], [1.0], "small", ValueError, "eps must be a positive number"),
        (lambda v: v[0], ["a"], 1e-6, TypeError, "the point must be a sequence of numbers"),
        (lambda v: [v[0], v[0]], [1.0], 1e-6, ValueError, "f must return one Value, it returned 2"),
    ],
)
def test_numeric_grad_refuses_bad_input(f, point, eps, error, message):
    with pytest.raises(error, match=message):
        numeric_grad(f, point, eps=eps)


# A string is never parsed as a number (the README's promise): neither an entry of the
# point nor the point itself (b"3" would iterate as the number 51).
@pytest.mark.parametrize(
    "point, shown",
    [
        (["3"], "got str '3'"),
        ([b"3"], "got bytes b'3'"),
        ([1.0, "2.5"], "got str '2.5'"),
        ("3", "got str '3'"),
        (b"3", "got bytes b'3'"),
    ],
    ids=["str", "bytes", "second entry", "str point", "bytes point"],
)
@pytest.mark.parametrize("check", [numeric_grad, gradcheck, gradgradcheck])
def test_the_checks_never_parse_a_string_as_a_number(check, point, shown):
    calls = []

    def f(v):
        calls.append(v)
        return v[0] * v[0]

    with pytest.raises(
        TypeError, match=rf"{check.__name__}: the point must be .*{re.escape(shown)}"
    ):
        check(f, point)
    assert calls == []


def _linear_regression():
    model = nn.Neuron(2, "linear", seed=0)
    X, y = [[1.0, 2.0], [0.5, -1.0]], [1.0, 0.0]
    return model, X, y


def test_hessian_of_a_model_loss_is_the_closed_form():
    # mean squared error of w.x + b: H = (2/n) sum_i (x_i, 1)(x_i, 1)^T, whatever w and b
    model, X, y = _linear_regression()
    H = hessian_wrt(F.mse_loss([model(x) for x in X], y), model.parameters())
    assert H == [[1.25, 1.5, 1.5], [1.5, 5.0, 1.0], [1.5, 1.0, 2.0]]


def test_gradient_and_hessian_of_a_nonlinear_model_are_the_closed_form():
    # L = (tanh(z) - t)^2, z = w.x + b, u = (x, 1): with s = tanh z, s' = 1 - s^2,
    # grad = 2 (s - t) s' u and H = 2 (s'^2 - 2 s s' (s - t)) u u^T
    model = nn.Neuron(2, "tanh", seed=1)
    x, target = [0.4, -0.7], 0.3
    w0, w1, b = (p.data for p in model.parameters())
    s = math.tanh(w0 * x[0] + w1 * x[1] + b)
    ds = 1 - s * s
    u = [x[0], x[1], 1.0]
    g, H = gradient_and_hessian(F.mse_loss([model(x)], [target]), model.parameters())
    curvature = 2 * (ds * ds - 2 * s * ds * (s - target))
    np.testing.assert_allclose(g, [2 * (s - target) * ds * ui for ui in u], rtol=1e-14)
    np.testing.assert_allclose(H, [[curvature * ui * uj for uj in u] for ui in u], rtol=1e-13)


def test_hessian_wrt_works_inside_no_grad_and_for_a_constant():
    model, X, y = _linear_regression()
    loss = F.mse_loss([model(x) for x in X], y)
    with no_grad():
        assert hessian_wrt(loss, model.parameters())[1] == [1.5, 5.0, 1.0]
    assert hessian_wrt(Value(2.0, requires_grad=False), model.parameters()) == [[0.0] * 3] * 3


def test_hessian_wrt_refuses_a_non_value_loss():
    with pytest.raises(TypeError, match="gradient_and_hessian: f must return a Value, got float"):
        hessian_wrt(1.0, [Value(1.0)])


def _cut(v):
    return v[0] * Value(v[0].data)  # a new leaf: backpropagation misses half the slope


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
def test_raise_exception_false_returns_false_as_pytorch(check):
    f = _cut if check is gradcheck else (lambda v: v[0] * v[0] * Value(v[0].data))
    assert check(f, [3.0], raise_exception=False) is False
    assert check(lambda v: v[0] * v[0], [3.0], raise_exception=False) is True
    with pytest.raises(GradcheckError, match=f"^{check.__name__} failed for 1 of 1 entries"):
        check(f, [3.0])
    with pytest.raises(
        TypeError, match=f"{check.__name__}: raise_exception must be True or False, got str 'no'"
    ):
        check(f, [3.0], raise_exception="no")
