"""The engine's answers to hostile use, second round (issue "Reliability, round two",
engine and search items): a failed backward changes nothing, NaN goes through every
piecewise op, the functional API works inside ``no_grad()``, anomaly mode holds no
graph alive, and passes take turns.

Reference numbers are PyTorch's (float64), computed once and kept here as literals.
"""

from __future__ import annotations

import pytest

import tapegrad
from tapegrad import Value, detect_anomaly
from tapegrad.autograd.ops import Op
from tapegrad.autograd.value import _node

# --- a backward that raises changes no leaf ---------------------------------------------


def _grads(*leaves: Value) -> list:
    return [leaf.grad for leaf in leaves]


def test_a_backward_that_raises_changes_no_leafs_gradient():
    """d sqrt(x)/dx at 0 raises after a * 2 has passed its gradient: a keeps its 5.0."""
    a, b = Value(3.0), Value(4.0)
    a.grad, b.grad = 5.0, -1.0
    y = a * 2.0 + (a * 0.0).sqrt() + b * a
    with pytest.raises(ZeroDivisionError, match=r"^backward through sqrt\(0.0\) failed"):
        y.backward()
    assert _grads(a, b) == [5.0, -1.0]
    y = a * 2.0 + b * a  # the same graph without the kink: the pass adds as usual
    y.backward()
    assert _grads(a, b) == [5.0 + 2.0 + 4.0, -1.0 + 3.0]


def test_a_backward_that_raises_in_anomaly_mode_changes_no_leaf():
    a = Value(3.0)
    with detect_anomaly():
        y = a * 2.0 + (a - 3.0).sqrt()
        with pytest.raises(FloatingPointError, match=r"sqrt\(0.0\)"):
            y.backward()
    assert a.grad == 0.0


def test_a_failed_backward_of_several_outputs_leaves_a_leaf_output_unchanged():
    """A leaf among the outputs gets its seed only if the whole pass succeeds."""
    a, base = Value(2.0), Value(-8.0)
    bad = base**a  # d/d exponent needs log(-8): ValueError in backward
    with pytest.raises(ValueError, match=r"backward through pow\(-8.0, 2.0\) failed"):
        tapegrad.backward([a, a * 3.0, bad])
    assert _grads(a, base) == [0.0, 0.0]


def _halt(m, g, out, x):
    raise KeyboardInterrupt


HALT = Op("halt", "halt", 1, lambda m, x: x, _halt)  # the identity, whose backward stops


def test_an_interrupt_in_the_middle_of_backward_changes_no_leaf():
    """Not only arithmetic errors: a KeyboardInterrupt half way (the user's Ctrl-C,
    here from a rule) leaves the leaves as they were."""
    a, b = Value(1.5), Value(2.5)
    y = _node(HALT, a.data, (a,), None) * b + a * b
    with pytest.raises(KeyboardInterrupt):
        y.backward()
    assert _grads(a, b) == [0.0, 0.0]
