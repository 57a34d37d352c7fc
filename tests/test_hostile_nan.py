"""NaN through every op of the table, in eager and compiled mode alike.

A NaN input gives a NaN output (but for IEEE's x ** 0 = 1 ** y = 1), never a number
that hides it (relu, abs and every piecewise op included), and the two modes agree on
the output, on the gradient and on whether the pass raises.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import OPS, Value, compile, detect_anomaly

# How each op of the table is reached from Values: the op's name -> (number of Value
# operands, a function of them and the op's parameter k, where it has one).
APPLY = {
    "add": (2, lambda a, b, k: a + b),
    "sub": (2, lambda a, b, k: a - b),
    "mul": (2, lambda a, b, k: a * b),
    "div": (2, lambda a, b, k: a / b),
    "pow": (2, lambda a, b, k: a**b),
    "powc": (1, lambda a, k: a**k),
    "neg": (1, lambda a, k: -a),
    "exp": (1, lambda a, k: a.exp()),
    "log": (1, lambda a, k: a.log()),
    "sqrt": (1, lambda a, k: a.sqrt()),
    "tanh": (1, lambda a, k: a.tanh()),
    "sigmoid": (1, lambda a, k: a.sigmoid()),
    "relu": (1, lambda a, k: a.relu()),
    "leaky_relu": (1, lambda a, k: a.leaky_relu(k)),
    "abs": (1, lambda a, k: abs(a)),
    "sin": (1, lambda a, k: a.sin()),
    "cos": (1, lambda a, k: a.cos()),
    "sum": (3, lambda a, b, c, k: Value.sum([a, b, c])),
    "dot": (3, lambda a, b, c, k: Value.dot([a], [b], c)),
}


def test_every_op_of_the_table_is_tried():
    assert set(APPLY) == set(OPS)


def _nan_case():
    """An op, its operands (one of them NaN, the others in the op's domain) and k."""

    @st.composite
    def case(draw):
        name = draw(st.sampled_from(sorted(APPLY)))
        arity, _ = APPLY[name]
        low, high = OPS[name].domain
        xs = draw(st.lists(st.floats(low, high), min_size=arity, max_size=arity))
        xs[draw(st.integers(0, arity - 1))] = math.nan
        k = draw(st.sampled_from(OPS[name].sample_args or (2.0,)))
        return name, xs, k

    return case()


def _eager(name, xs, k):
    """(output, gradient of each operand) or the type of error the backward raised."""
    _, fn = APPLY[name]
    w = Value(0.0)
    y = fn(*[Value(x) + w for x in xs], k)
    try:
        y.backward()
    except (ArithmeticError, ValueError) as error:
        return type(error)
    return y.data, w.grad


def _compiled(name, xs, k):
    _, fn = APPLY[name]
    w = Value(0.0)
    compiled = compile(lambda s: fn(*[x + w for x in s], k), [w], reduction="sum")
    try:
        out = compiled.forward(np.array([xs]))[0]
        compiled(np.array([xs]))
    except (ArithmeticError, ValueError) as error:
        return type(error)
    return out, w.grad


def _ieee_one(name, xs, k):
    """x ** 0 and 1 ** y are 1 whatever the other operand, NaN included (IEEE 754)."""
    return (name == "powc" and k == 0.0) or (name == "pow" and (xs[0] == 1.0 or xs[1] == 0.0))


@settings(max_examples=60)
@given(_nan_case())
def test_nan_goes_through_every_op_in_both_modes(case):
    name, xs, k = case
    _, fn = APPLY[name]
    out = fn(*[Value(x) for x in xs], k).data
    assert math.isnan(out) or _ieee_one(name, xs, k), (name, xs, k, out)
    eager, compiled = _eager(name, xs, k), _compiled(name, xs, k)
    if isinstance(eager, type):
        assert compiled is eager, (name, xs, k, eager, compiled)
    else:
        np.testing.assert_array_equal(np.array(compiled, float), np.array(eager, float))


@settings(max_examples=30)
@given(_nan_case())
def test_a_nan_that_came_in_is_no_anomaly(case):
    # Anomaly mode reports a NaN made from numbers, not one handed to the op.
    name, xs, k = case
    _, fn = APPLY[name]
    with detect_anomaly():
        y = fn(*[Value(x) for x in xs], k)
    assert math.isnan(y.data) or _ieee_one(name, xs, k)
