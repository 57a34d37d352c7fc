"""The engine's answers to careless and hostile input (issue "Reliability", engine items).

Reference numbers are PyTorch's (float64), computed once and kept here as literals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# --- backward over several outputs, and the gradients that start it --------------------


def test_backward_of_several_outputs_as_torch_autograd_backward():
    x = Value(2.0)
    tapegrad.backward([x * x, x.exp()])
    assert x.grad == 11.38905609893065  # torch.autograd.backward([x * x, x.exp()])
    x.zero_grad()
    tapegrad.backward((x * x, x.exp()), [2.0, np.float32(0.5)])
    assert x.grad == 11.694528049465326


def test_backward_of_outputs_that_share_nodes_counts_each_once():
    x = Value(3.0)
    y = x * x
    tapegrad.backward([y, y * 2.0, y])  # d/dx of y + 2y + y = 8x
    assert x.grad == 24.0


@pytest.mark.parametrize(
    "outputs, error, message",
    [
        ("y", TypeError, "backward: expected a Value or a sequence of Values, got str"),
        (3.0, TypeError, "backward: expected a Value or a sequence of Values, got float"),
        ([1.0], TypeError, "backward: expected Values, got float 1.0"),
    ],
)
def test_backward_refuses_outputs_that_are_not_values(outputs, error, message):
    with pytest.raises(error, match=message):
        tapegrad.backward(outputs)


@pytest.mark.parametrize("seed", [np.float32(2.0), np.float64(2.0), 2, np.int64(2)])
def test_a_gradient_seed_may_be_any_real_number_type(seed):
    x = Value(2.0)
    (x * x * 3.0).backward(seed)
    assert x.grad == 24.0  # torch: (3 x^2).backward(2.0) at x = 2
    assert grad(x * x * 3.0, x, grad_outputs=seed) == (24.0,)


@pytest.mark.parametrize("seed", ["2", b"2", "2.0", [1.0, "2"], 2j, object()])
def test_a_gradient_seed_that_is_no_real_number_is_refused_and_changes_nothing(seed):
    x = Value(2.0)
    y = x * x
    with pytest.raises(TypeError, match="backward: a gradient must be a real number"):
        tapegrad.backward([y, y] if isinstance(seed, list) else y, seed)
    assert (x.grad, y.grad) == (None, None)
    with pytest.raises(TypeError, match="grad: a gradient must be a real number"):
        grad([y, y] if isinstance(seed, list) else y, x, grad_outputs=seed)


# --- subclasses, truth, huge integers ----------------------------------------------------


class MyValue(Value):
    __slots__ = ()


def test_a_subclass_of_value_is_an_operand_like_value():
    a, b = Value(2.0), MyValue(3.0)
    nodes = [
        a * b,
        b * a,
        a + b,
        a - b,
        b / a,
        a**b,
        b**a,
        2.0**b,
        Value.dot([a], [b]),
        Value.sum([a, b]),
    ]
    assert [v.data for v in nodes] == [6.0, 6.0, 5.0, -1.0, 1.5, 8.0, 9.0, 8.0, 6.0, 5.0]
    assert all(b in v.parents for v in nodes)
    Value.sum(nodes).backward()
    # d/da: 3 + 3 + 1 + 1 - 1.5/2 + 3*2^2 + 3^2 ln 3 + 0 + 3 + 1; d/db likewise.
    assert a.grad == pytest.approx(3 + 3 + 1 + 1 - 0.75 + 12 + 9 * math.log(3) + 3 + 1)
    assert b.grad == pytest.approx(
        2 + 2 + 1 - 1 + 0.5 + 8 * math.log(2) + 2 * 3 + 8 * math.log(2) + 2 + 1
    )


@pytest.mark.parametrize(
    "x, truth",
    [(0.0, False), (-0.0, False), (1e-300, True), (-2.0, True), (NAN, True), (INF, True)],
)
def test_truth_of_a_value_follows_its_number_as_for_a_float(x, truth):
    assert bool(Value(x)) is truth is bool(x)
    assert bool(Value(x) * 1.0) is truth


def test_an_integer_too_large_for_a_float_is_refused_naming_the_operation():
    with pytest.raises(OverflowError, match="^Value: the integer of 1329 bits is too large"):
        Value(10**400)
    x = Value(2.0)
    for name, call in [
        ("add", lambda: x + 10**400),
        ("add", lambda: 10**400 + x),
        ("mul", lambda: x * -(10**400)),
        ("powc?", lambda: x**10**400),
        ("sum", lambda: Value.sum([x, 10**400])),
        ("dot", lambda: Value.dot([x], [10**400])),
    ]:
        with pytest.raises(OverflowError, match=f"^{name}: the integer of 1329 bits"):
            call()


# --- data changed between forward and backward -------------------------------------------


def test_an_optimizer_step_before_backward_is_refused_naming_the_changed_value():
    w = Value(2.0, label="w")
    loss = w * w * 3.0
    opt = tapegrad.optim.SGD([w], lr=0.1)
    w.grad = 1.0
    opt.step()  # before loss.backward(): the graph holds w = 2, w is now 1.9
    with pytest.raises(
        RuntimeError,
        match=r"backward: Value\(data=1.9, .*label='w'\) was "
        r"changed .* after mul used it",
    ):
        loss.backward()
    with pytest.raises(RuntimeError, match=r"^grad: Value\(data=1.9, .*label='w'\) was changed"):
        grad(loss, w)
    assert w.grad == 1.0  # nothing accumulated


def test_a_change_in_the_middle_of_a_forward_pass_is_refused():
    x, w = Value(1.0), Value(2.0, label="w")
    hidden = x * w
    w.data = 5.0
    loss = hidden * w  # uses the new w, but hidden's gradient needs the old one
    with pytest.raises(RuntimeError, match="label='w'"):
        loss.backward()


def test_assigning_a_computed_value_is_refused_at_backward():
    x = Value(2.0)
    y = x.exp()
    y.data = 1.0
    with pytest.raises(RuntimeError, match="the data of .* the result of exp, was assigned"):
        y.backward()


def test_changes_before_forward_or_elsewhere_are_fine():
    w, other = Value(2.0), Value(1.0)
    w.data = 3.0  # before the graph is built
    loss = w * w
    other.data = 7.0  # not in the graph
    loss.backward()
    assert w.grad == 6.0
    loss.backward()  # twice: the same graph, still unchanged
    assert w.grad == 12.0


def test_data_accepts_real_numbers_and_refuses_the_rest_unchanged():
    v = Value(1.0)
    v.data = np.float32(0.5)
    assert v.data == 0.5 and type(v.data) is float
    v.data = 3
    assert v.data == 3.0 and type(v.data) is float
    for bad in ("2", None, 1j, Value(2.0)):
        with pytest.raises(TypeError, match="data: expected a number"):
            v.data = bad
    assert v.data == 3.0


# --- random bad operands at the Value boundary -------------------------------------------

BAD = st.one_of(
    st.text(max_size=3),
    st.binary(max_size=3),
    st.none(),
    st.complex_numbers(),
    st.lists(st.floats(), max_size=2),
    st.dictionaries(st.text(max_size=1), st.integers(), max_size=1),
    st.builds(object),
    st.decimals(allow_nan=False),
)
OPERATORS = {
    "add": (lambda v, b: v + b, lambda v, b: b + v),
    "sub": (lambda v, b: v - b, lambda v, b: b - v),
    "mul": (lambda v, b: v * b, lambda v, b: b * v),
    "div": (lambda v, b: v / b, lambda v, b: b / v),
    "pow": (lambda v, b: v**b, lambda v, b: b**v),
    "leaky_relu": (lambda v, b: v.leaky_relu(b),),
    "sum": (lambda v, b: Value.sum([v, b]),),
    "dot": (lambda v, b: Value.dot([v], [b]), lambda v, b: Value.dot([b], [v])),
}


@given(bad=BAD, name=st.sampled_from(sorted(OPERATORS)), data=st.data())
def test_a_bad_operand_is_a_type_error_naming_the_operation_and_changes_nothing(bad, name, data):
    v = Value(1.5)
    call = data.draw(st.sampled_from(OPERATORS[name]))
    try:
        call(v, bad)
    except TypeError as error:
        # Python's own message when neither side takes the other (b"x" + v) names the
        # operator symbol instead; ours names the operation.
        assert str(error).startswith(name) or "unsupported operand type" in str(error)
    else:
        raise AssertionError(f"{name} accepted {bad!r}")
    assert (v.data, v.grad, v.parents) == (1.5, None, ())


@given(bad=BAD)
def test_a_bad_value_or_seed_is_a_type_error_and_changes_nothing(bad):
    with pytest.raises(TypeError, match="^Value: data must be a real number"):
        Value(bad)
    v = Value(2.0)
    y = v * v
    with pytest.raises(TypeError, match="^data: expected a number"):
        v.data = bad
    if bad is not None and not isinstance(bad, (list, dict)):  # None: the default, 1
        with pytest.raises(TypeError, match="^backward: a gradient must be a real number"):
            y.backward(bad)
    assert (v.data, v.grad) == (2.0, None)
