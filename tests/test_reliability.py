"""The engine's answers to careless and hostile input (issue "Reliability", engine items).

Reference numbers are PyTorch's (float64), computed once and kept here as literals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad
from tapegrad import Value, grad

INF, NAN = math.inf, math.nan


def _same(a: float, b: float) -> bool:
    """Equal, with NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


# --- pow at base 0, and with an infinite or NaN exponent --------------------------------

# (base, exponent, out, d out/d base, d out/d exponent), from torch.pow in float64.
ZERO_BASE = [
    (0.0, 2.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 1.0, 0.0, 0.0),
    (0.0, 1.5, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("a, b, out, da, db", ZERO_BASE)
def test_pow_at_base_zero_with_a_value_exponent_as_pytorch(a, b, out, da, db):
    x, k = Value(a), Value(b)
    y = x**k
    y.backward()
    assert (y.data, x.grad, k.grad) == (out, da, db)
    assert grad(y, [x, k]) == (da, db)
    assert [g.data for g in grad(y, [x, k], create_graph=True)] == [da, db]


def test_pow_of_a_constant_zero_base_has_zero_exponent_gradient():
    k = Value(1.5)
    y = 0.0**k
    y.backward()
    assert (y.data, k.grad) == (0.0, 0.0)


def test_pow_at_base_zero_in_compiled_mode_equals_eager():
    k = Value(2.0, label="k")
    compiled = tapegrad.compile(lambda x: x.relu() ** k, [k], reduction="sum")
    loss = compiled(np.array([-1.0, 0.5, 2.0]))
    assert loss == 4.25
    assert k.grad == pytest.approx(2.599301927099795, rel=1e-12)


def test_a_learnable_exponent_on_a_relu_output_trains_as_pytorch():
    # sum(relu(x) ** p) for x = (-1, 0.5, 2), p from 2.0, three SGD steps of lr 0.1.
    torch_losses = [4.25, 3.6398685012927334, 3.232855049947864]
    torch_grads = [2.599301927099795, 2.1079701760433074, 1.760559968774724]
    p = Value(2.0)
    for loss_ref, grad_ref in zip(torch_losses, torch_grads):
        loss = Value.sum([Value(x).relu() ** p for x in (-1.0, 0.5, 2.0)])
        p.zero_grad()
        loss.backward()
        assert loss.data == pytest.approx(loss_ref, rel=1e-12)
        assert p.grad == pytest.approx(grad_ref, rel=1e-12)
        p.data -= 0.1 * p.grad
    assert p.data == pytest.approx(1.3532167928082173, rel=1e-12)


# (base, exponent, out, d out/d base) for a number exponent, from torch.pow in float64.
NON_FINITE_EXPONENT = [
    (-8.0, INF, INF, INF),
    (-0.5, -INF, INF, -INF),
    (-8.0, NAN, NAN, NAN),
]


@pytest.mark.parametrize("a, k, out, da", NON_FINITE_EXPONENT)
def test_negative_base_to_a_non_finite_exponent_as_pytorch(a, k, out, da):
    x = Value(a)
    y = x**k
    y.backward()
    assert _same(y.data, out) and _same(x.grad, da)
    assert _same((x ** Value(k)).data, out)  # a Value exponent: the same forward


def test_negative_base_to_a_non_finite_value_exponent_names_log_in_backward():
    y = Value(-8.0) ** Value(INF)
    with pytest.raises(ValueError, match=r"backward through pow\(-8.0, inf\) failed: log"):
        y.backward()
