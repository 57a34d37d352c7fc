"""The engine's answers to hostile use, second round (issue "Reliability, round two",
engine and search items): a failed backward changes nothing, NaN goes through every
piecewise op, the functional API works inside ``no_grad()``, anomaly mode holds no
graph alive, and passes take turns.

Reference numbers are PyTorch's (float64), computed once and kept here as literals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from op_reference import apply, key
from strategies import ALL_OPS

import tapegrad
from tapegrad import Value, detect_anomaly
from tapegrad.autograd.ops import Op
from tapegrad.autograd.value import _node
from tapegrad.nn import functional as F

NAN = math.nan

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


# --- NaN goes through every piecewise op, in both modes ---------------------------------

# (op, x, out, d out/dx): PyTorch's kernels in float64. relu is clamp_min and its
# backward threshold_backward(grad, result, 0), which passes the gradient unless the
# output is <= 0; leaky_relu's backward is grad * (1 if x > 0 else slope); abs's is
# grad * sign(x), and torch.sign(nan) is 0.
PIECEWISE = [
    ("relu", NAN, NAN, 1.0),
    ("relu", 0.0, 0.0, 0.0),
    ("relu", -2.0, 0.0, 0.0),
    ("leaky_relu", NAN, NAN, 0.01),
    ("leaky_relu", 0.0, 0.0, 0.01),
    ("leaky_relu", -2.0, -0.02, 0.01),
    ("abs", NAN, NAN, 0.0),
    ("abs", 0.0, 0.0, 0.0),
    ("abs", -2.0, 2.0, -1.0),
    ("sigmoid", NAN, NAN, NAN),
]


def _same(a: float, b: float) -> bool:
    """Equal, with NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("name, x, out, slope", PIECEWISE)
def test_nan_and_kinks_of_piecewise_ops_in_eager_mode_as_pytorch(name, x, out, slope):
    v = Value(x)
    y = getattr(v, name)()
    y.backward()
    assert _same(y.data, out) and _same(v.grad, slope), (y.data, v.grad)
    (g,) = tapegrad.grad(getattr(v, name)(), v, create_graph=True)
    assert _same(g.data, slope)


@pytest.mark.parametrize("name, x, out, slope", PIECEWISE)
def test_nan_and_kinks_of_piecewise_ops_in_compiled_mode_as_pytorch(name, x, out, slope):
    """The op applied to a parameter holding x, times the sample 2: loss 2 op(x) and
    gradient 2 op'(x), from the kernels compiled mode generates from the op table."""
    w = Value(x)
    compiled = tapegrad.compile(lambda s: getattr(w, name)() * s, [w], reduction="sum")
    with np.errstate(all="raise"):  # no NumPy warning on the way
        loss = compiled(np.array([2.0]))
    assert _same(loss, 2.0 * out) and _same(w.grad, 2.0 * slope), (loss, w.grad)


def _nan_at(op, position: int) -> tuple[list[float], float | None]:
    """Inputs inside ``op``'s domain, clear of its kinks, with a NaN at ``position``."""
    lo, hi = op.domain
    n = {1: 1, 2: 2}.get(op.arity, 5)
    xs = [lo + (0.3 + 0.1 * i) * (hi - lo) for i in range(n)]
    xs[position] = NAN
    arg = op.sample_args[0] if op.sample_args else (lo + 0.55 * (hi - lo) if op.base else None)
    return xs, arg


NAN_CASES = [(op, i) for op in ALL_OPS for i in range({1: 1, 2: 2}.get(op.arity, 5))]


@pytest.mark.parametrize("op, position", NAN_CASES, ids=[f"{key(op)}-{i}" for op, i in NAN_CASES])
def test_a_nan_input_gives_a_nan_output_through_every_op_in_both_modes(op, position):
    xs, arg = _nan_at(op, position)
    assert math.isnan(apply(op, [Value(x) for x in xs], arg).data)
    compiled = tapegrad.compile(lambda *sample: apply(op, list(sample), arg), [], reduction="sum")
    assert math.isnan(compiled(*[np.array([x]) for x in xs]))


def test_a_nan_score_gives_a_nan_hinge_loss_not_a_perfect_one():
    assert math.isnan(F.hinge_loss([Value(NAN)], [1.0]).data)
    assert F.hinge_loss([Value(2.0)], [1.0]).data == 0.0
