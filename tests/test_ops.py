"""Every entry of the op table: forward against math, derivatives against finite differences.

Driven by ``tapegrad.OPS`` and ``ops.WITH_CONSTANT``: a new entry is tested here as soon
as it has a reference in ``tapegrad.testing.reference.REFERENCES`` (a test fails until it does).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import OPS, Op, Value, grad
from tapegrad.autograd.mathlib import FLOATS
from tapegrad.autograd.ops import WITH_CONSTANT
from tapegrad.testing.reference import (
    CALLS,
    REFERENCES,
    apply,
    central_difference,
    close,
    reference,
)
from tapegrad.testing.strategies import ALL_OPS, in_domain, op_inputs


def _op_id(op: Op) -> str:
    return op.name if op.base is None else f"{op.name}@{op.constant_at}"


BY_ID: dict[str, Op] = {_op_id(op): op for op in ALL_OPS}


def _cases():
    """(op id, arg): each sample_arg of a parametrised op; None means drawn (or no arg)."""
    for name, op in BY_ID.items():
        if op.has_arg and op.base is None:
            for a in op.sample_args:
                yield pytest.param(name, a, id=f"{name}[{a:g}]")
        else:
            yield pytest.param(name, None, id=name)


CASES = list(_cases())


def _node(op: Op, xs: list[float], arg: float | None) -> tuple[Value, list[Value]]:
    values = [Value(x) for x in xs]
    return apply(op, values, arg), values


def _numeric_gradient(op: Op, xs: list[float], arg: float | None) -> list[float]:
    f = reference(op)
    g = f if arg is None else (lambda *p: f(*p, arg))
    return [central_difference(g, xs, i) for i in range(len(xs))]


# --- the table itself ---------------------------------------------------------------


def test_every_op_has_a_reference():
    assert sorted(set(OPS) - set(REFERENCES)) == [], (
        "add a reference to tapegrad/testing/reference.py"
    )
    assert sorted(set(REFERENCES) - set(OPS)) == [], "a reference for an op that is gone"


def test_every_op_is_reachable_from_value():
    assert sorted(set(OPS) - set(CALLS)) == [], (
        "add the public call to tapegrad.testing.reference.CALLS"
    )


def test_every_binary_op_has_its_constant_forms():
    binary = [op for op in OPS.values() if op.arity == 2]
    assert set(WITH_CONSTANT) == {(op.name, p) for op in binary for p in op.constant_positions}
    # A number exponent is POWC: pow's rule would take log(base) for nothing.
    assert ("pow", 0) in WITH_CONSTANT and ("pow", 1) not in WITH_CONSTANT


@pytest.mark.parametrize("op_id", BY_ID)
def test_every_rule_returns_a_tuple_with_one_gradient_per_input(op_id: str):
    op = BY_ID[op_id]
    n = op.arity or 5  # n-ary: five inputs (a dot of two pairs and a bias)
    lo, hi = op.domain
    xs = [lo + (hi - lo) * (i + 1) / (n + 2) for i in range(n)]
    extra = (op.sample_args[0],) if op.sample_args else ((lo + hi) / 2,) if op.has_arg else ()
    out = op.forward(FLOATS, *xs, *extra)
    local = op.grad(FLOATS, 1.0, out, *xs, *extra)
    assert type(local) is tuple and len(local) == n


@pytest.mark.parametrize("op_id", BY_ID)
def test_table_entry_is_testable(op_id: str):
    op = BY_ID[op_id]
    lo, hi = op.domain
    assert lo < hi
    assert all(lo < a < hi for a in op.avoid), "a kink outside the domain is never avoided"
    assert op.arity in (0, 1, 2)
    if op.has_arg and op.base is None:
        assert op.sample_args, "a parametrised op needs sample_args to be tested"
    if op.base is not None:
        assert WITH_CONSTANT[(op.name, op.constant_at)] is op
        assert op.domain == op.base.domain


# --- forward and derivatives of each entry ------------------------------------------


def test_number_exponent_records_powc():
    """x ** 2.0 records powc, the op of a number exponent (not a form of pow)."""
    x = Value(1.5)
    y = x**2.0
    assert (y.op, y.parents, y.arg) == ("powc", (x,), 2.0)


@pytest.mark.parametrize("op_id, arg", CASES)
@given(data=st.data())
def test_op(op_id: str, arg, data):
    """One node of the op: its forward against the reference; backward() and grad()
    against central differences of the reference; then the float path against the same
    rule evaluated on Values (grad(create_graph=True)): the same arithmetic, so equal."""
    op = BY_ID[op_id]
    xs, arg = data.draw(op_inputs(op, arg))
    y, values = _node(op, xs, arg)
    assert type(y) is Value
    assert (y.op, y.parents, y.arg) == (op.name, tuple(values), arg)
    inputs = xs if arg is None else [*xs, arg]
    expected = reference(op)(*inputs)
    scale = max([1.0, *map(abs, xs)]) ** 2
    assert math.isclose(y.data, expected, rel_tol=1e-12, abs_tol=1e-14 * scale), "forward"
    assert y.data == op.forward(FLOATS, *inputs) == op.on_floats(*inputs), "eager forward"

    numeric = _numeric_gradient(op, xs, arg)
    y.backward()
    backward = [v.grad for v in values]
    as_floats = grad(y, values)
    for i, (b, g, n) in enumerate(zip(backward, as_floats, numeric)):
        assert close(b, n, scale=y.data), f"backward d/dx{i}: {b} != numeric {n}"
        assert close(g, n, scale=y.data), f"grad d/dx{i}: {g} != numeric {n}"
    assert all(type(g) is float for g in as_floats)
    as_values = grad(y, values, create_graph=True)
    assert all(isinstance(g, Value) for g in as_values)
    assert backward == list(as_floats) == [g.data for g in as_values]


# --- n-ary ops ------------------------------------------------------------------------


@given(st.lists(st.floats(-10, 10), min_size=1, max_size=30))
def test_sum_of_any_length(xs: list[float]):
    values = [Value(x) for x in xs]
    y = Value.sum(iter(values))  # any iterable
    assert y.parents == tuple(values)
    assert math.isclose(y.data, math.fsum(xs), abs_tol=1e-12)
    y.backward()
    assert [v.grad for v in values] == [1.0] * len(xs)


@given(
    st.integers(1, 30).flatmap(
        lambda n: st.lists(st.floats(-10, 10), min_size=2 * n, max_size=2 * n + 1)
    )
)
def test_dot_of_any_length_with_or_without_bias(wxb: list[float]):
    n = len(wxb) // 2
    ws, xs = [Value(w) for w in wxb[:n]], [Value(x) for x in wxb[n : 2 * n]]
    bias = [Value(b) for b in wxb[2 * n :]]
    y = Value.dot(ws, xs, *bias)
    assert (y.op, y.parents) == ("dot", (*ws, *xs, *bias))
    assert math.isclose(y.data, REFERENCES["dot"](*wxb), abs_tol=1e-11)
    y.backward()
    assert [w.grad for w in ws] == wxb[n : 2 * n]
    assert [x.grad for x in xs] == wxb[:n]
    assert [b.grad for b in bias] == [1.0] * len(bias)


def test_sum_and_dot_take_numbers_among_values():
    x, y = Value(2.0), Value(-3.0)
    s = Value.sum([x, 1.5, y, 4, np.float64(0.5)])
    d = Value.dot([x, 2.0], [3, y], 1.0)
    assert (s.data, d.data) == (5.0, 1.0)
    (s + d).backward()
    assert (x.grad, y.grad) == (1.0 + 3.0, 1.0 + 2.0)


@given(st.integers(1, 5), st.integers(0, 6), st.data())
def test_dots_are_one_dot_per_row(rows: int, n: int, data):
    numbers = st.floats(-10, 10)
    W = [data.draw(st.lists(numbers, min_size=n, max_size=n)) for _ in range(rows)]
    X = data.draw(st.lists(numbers, min_size=n, max_size=n))
    B = data.draw(st.lists(st.none() | numbers, min_size=rows, max_size=rows))

    def build(layer):
        ws = [[Value(w) for w in row] for row in W]
        xs = [Value(x) for x in X]
        bs = [None if b is None else Value(b) for b in B]
        outs = layer(ws, xs, bs)
        # Value(0.0): something to differentiate even when every row is empty.
        Value.sum([Value(0.0)] + [o * (i + 1) for i, o in enumerate(outs)]).backward()
        nodes = [(o.data, o.op, len(o.parents)) for o in outs]
        grads = [[w.grad for w in row] for row in ws], [x.grad for x in xs]
        return nodes, grads, [b.grad for b in bs if b is not None]

    one_by_one = build(lambda ws, xs, bs: [Value.dot(w, xs, b) for w, b in zip(ws, bs)])
    assert build(Value.dots) == one_by_one


def test_sum_and_dot_take_numpy_scalars_whose_data_is_no_number():
    # A NumPy scalar has a .data attribute (a memoryview), so it must not be mistaken
    # for a Value even when it is the only number among the operands.
    x, y, half = Value(2.0), Value(3.0), np.float64(0.5)
    nodes = [
        Value.sum([x, half]),
        Value.dot([x], [half]),
        Value.dot([half], [y]),
        Value.dot([x], [y], half),
        Value.dots([[x], [y]], [half])[1],
    ]
    assert [v.data for v in nodes] == [2.5, 1.0, 1.5, 6.5, 1.5]
    assert all(type(p) is Value for v in nodes for p in v.parents)
    Value.sum(nodes).backward()
    assert (x.grad, y.grad) == (1.0 + 0.5 + 3.0, 0.5 + 2.0 + 0.5)
    with pytest.raises(TypeError, match="sum: unsupported operand array"):
        Value.sum([x, np.array([1.0, 2.0])])


def test_dots_without_biases_and_with_numbers_among_the_inputs():
    w, v = [Value(2.0), Value(3.0)], [Value(-1.0), Value(4.0)]
    x = Value(5.0)
    a, b = Value.dots([w, v], [x, 2])
    assert (a.data, b.data) == (16.0, 3.0)
    assert a.parents[:3] == (*w, x) and len(a.parents) == 4
    assert a.parents[3] is b.parents[3]  # the number became one shared constant
    assert a.parents[3].data == 2.0 and not a.parents[3].requires_grad
    (a + b).backward()
    assert (x.grad, w[1].grad, v[1].grad) == (1.0, 2.0, 2.0)
    assert Value.dots([], [x]) == []


def test_empty_sum_and_dot_are_zero_constants():
    for empty in (Value.sum([]), Value.dot([], [])):
        assert (empty.data, empty.grad, empty.parents) == (0.0, None, ())


# --- operators with numbers on either side ------------------------------------------

LN2 = math.log(2.0)

# (source, f(v, w), value(x, y), (df/dx, df/dy)(x, y), op recorded, number of parents)
OPERATORS = [
    ("v + 2", lambda v, w: v + 2, lambda x, y: x + 2, lambda x, y: (1, 0), "add", 1),
    ("2 + v", lambda v, w: 2 + v, lambda x, y: 2 + x, lambda x, y: (1, 0), "add", 1),
    ("v - 2", lambda v, w: v - 2, lambda x, y: x - 2, lambda x, y: (1, 0), "sub", 1),
    ("1 - v", lambda v, w: 1 - v, lambda x, y: 1 - x, lambda x, y: (-1, 0), "sub", 1),
    ("v * 2", lambda v, w: v * 2, lambda x, y: 2 * x, lambda x, y: (2, 0), "mul", 1),
    ("2 * v", lambda v, w: 2 * v, lambda x, y: 2 * x, lambda x, y: (2, 0), "mul", 1),
    ("v / 2", lambda v, w: v / 2, lambda x, y: x / 2, lambda x, y: (0.5, 0), "div", 1),
    ("1 / v", lambda v, w: 1 / v, lambda x, y: 1 / x, lambda x, y: (-1 / x**2, 0), "div", 1),
    ("v ** 2", lambda v, w: v**2, lambda x, y: x**2, lambda x, y: (2 * x, 0), "powc", 1),
    (
        "v ** 0.5",
        lambda v, w: v**0.5,
        lambda x, y: math.sqrt(x),
        lambda x, y: (0.5 / math.sqrt(x), 0),
        "powc",
        1,
    ),
    ("v ** -1", lambda v, w: v**-1, lambda x, y: 1 / x, lambda x, y: (-1 / x**2, 0), "powc", 1),
    ("2 ** v", lambda v, w: 2**v, lambda x, y: 2**x, lambda x, y: (2**x * LN2, 0), "pow", 1),
    (
        "v ** w",
        lambda v, w: v**w,
        lambda x, y: x**y,
        lambda x, y: (y * x ** (y - 1), x**y * math.log(x)),
        "pow",
        2,
    ),
    ("v + w", lambda v, w: v + w, lambda x, y: x + y, lambda x, y: (1, 1), "add", 2),
    ("v - w", lambda v, w: v - w, lambda x, y: x - y, lambda x, y: (1, -1), "sub", 2),
    ("v * w", lambda v, w: v * w, lambda x, y: x * y, lambda x, y: (y, x), "mul", 2),
    ("v / w", lambda v, w: v / w, lambda x, y: x / y, lambda x, y: (1 / y, -x / y**2), "div", 2),
    ("-v", lambda v, w: -v, lambda x, y: -x, lambda x, y: (-1, 0), "neg", 1),
    ("abs(v)", lambda v, w: abs(v), lambda x, y: x, lambda x, y: (1, 0), "abs", 1),
    (
        "np.float64(2) * v",
        lambda v, w: np.float64(2) * v,
        lambda x, y: 2 * x,
        lambda x, y: (2, 0),
        "mul",
        1,
    ),
    (
        "v * np.float64(2)",
        lambda v, w: v * np.float64(2),
        lambda x, y: 2 * x,
        lambda x, y: (2, 0),
        "mul",
        1,
    ),
    (
        "np.float64(1) - v",
        lambda v, w: np.float64(1) - v,
        lambda x, y: 1 - x,
        lambda x, y: (-1, 0),
        "sub",
        1,
    ),
    (
        "np.float64(2) ** v",
        lambda v, w: np.float64(2) ** v,
        lambda x, y: 2**x,
        lambda x, y: (2**x * LN2, 0),
        "pow",
        1,
    ),
    (
        "v ** np.float64(2)",
        lambda v, w: v ** np.float64(2),
        lambda x, y: x**2,
        lambda x, y: (2 * x, 0),
        "powc",
        1,
    ),
    (
        "np.float32(2) / v",
        lambda v, w: np.float32(2) / v,
        lambda x, y: 2 / x,
        lambda x, y: (-2 / x**2, 0),
        "div",
        1,
    ),
    (
        "np.int64(3) + v",
        lambda v, w: np.int64(3) + v,
        lambda x, y: 3 + x,
        lambda x, y: (1, 0),
        "add",
        1,
    ),
    (
        "v.leaky_relu(np.float64(0.2))",
        lambda v, w: v.leaky_relu(np.float64(0.2)),
        lambda x, y: x,
        lambda x, y: (1, 0),
        "leaky_relu",
        1,
    ),
]


@pytest.mark.parametrize(
    "source, f, value, derivative, op, n_parents", OPERATORS, ids=[o[0] for o in OPERATORS]
)
@settings(max_examples=20)  # smooth closed forms of two numbers: a few points suffice
@given(x=st.floats(0.3, 2.5), y=st.floats(0.3, 2.5))
def test_operator(source, f, value, derivative, op, n_parents, x, y):
    v, w = Value(x), Value(y)
    out = f(v, w)
    assert type(out) is Value, f"{source} gave {type(out).__name__}"
    assert (out.op, len(out.parents)) == (op, n_parents)
    assert out.parents == (v, w)[:n_parents]
    assert math.isclose(out.data, value(x, y), rel_tol=1e-12)
    out.backward()
    dx, dy = derivative(x, y)
    assert math.isclose(v.grad, dx, rel_tol=1e-12)
    if n_parents == 2:
        assert math.isclose(w.grad, dy, rel_tol=1e-12)
    else:  # w is not in the graph: no backward reaches it, as in PyTorch
        assert (w.grad, dy) == (None, 0)


def test_unary_plus_is_the_value_itself():
    v = Value(1.0)
    assert +v is v


@pytest.mark.parametrize("name", [n for n, op in OPS.items() if op.arity == 2])
@given(data=st.data())
def test_constant_value_operand_acts_like_the_number(name: str, data):
    """x op Value(c, requires_grad=False) has the value and gradient of x op c."""
    op = OPS[name]
    x, c = data.draw(in_domain(op)), data.draw(in_domain(op))
    for position in (0, 1):
        v, u = Value(x), Value(x)
        constant = Value(c, requires_grad=False)
        a = CALLS[name](*((constant, v) if position == 0 else (v, constant)))
        b = (lambda x_, c_: x_**c_) if (name, position) == ("pow", 1) else CALLS[(name, position)]
        b = b(u, c)
        a.backward()
        b.backward()
        assert (a.data, constant.grad) == (b.data, None)
        assert math.isclose(v.grad, u.grad, rel_tol=1e-12)


@pytest.mark.parametrize("x", [0.0, -1.5])
def test_constant_value_exponent_at_a_base_outside_pow_domain(x: float):
    """x ** Value(2, requires_grad=False) differentiates like x ** 2 for any x: the
    exponent needs no gradient, so d/d(exponent) = out * log(x) must not be evaluated."""
    v = Value(x)
    y = v ** Value(2.0, requires_grad=False)
    y.backward()
    assert v.grad == 2 * x
    assert grad(v ** Value(2.0, requires_grad=False), v) == (2 * x,)
