"""The engine around the ops: accumulation, recording modes, constants, deep and
dropped graphs, and what a Value shows about itself."""

from __future__ import annotations

import gc
import math
import sys

import numpy as np
import pytest
from helpers import collector_off, live_values

from tapegrad import (
    Value,
    detect_anomaly,
    enable_grad,
    grad,
    hessian,
    no_grad,
    topological_order,
)
from tapegrad.testing.reference import CALLS, apply, key
from tapegrad.testing.strategies import ALL_OPS


def _sample(op):
    """A Value call of ``op`` on fixed inputs inside its domain: (inputs, arg)."""
    lo, hi = op.domain
    n = {1: 1, 2: 2}.get(op.arity, 5)
    xs = [lo + (0.3 + 0.1 * i) * (hi - lo) for i in range(n)]  # clear of 0, the only kink
    arg = op.sample_args[0] if op.sample_args else (lo + 0.55 * (hi - lo) if op.base else None)
    return xs, arg


PUBLIC_OPS = [op for op in ALL_OPS if key(op) in CALLS]
OP_IDS = [op.name if op.base is None else f"{op.name}@{op.constant_at}" for op in PUBLIC_OPS]


# --- backward accumulates ---------------------------------------------------------


def test_backward_twice_doubles_leaves_but_not_intermediate_nodes():
    x, w = Value(3.0), Value(2.0)
    a = x * x
    y = a * w
    y.backward()
    y.backward()
    assert (x.grad, w.grad) == (2 * 12.0, 2 * 9.0)  # dy/dx = 2xw, dy/dw = x^2
    assert (a.grad, y.grad) == (2.0, 1.0)  # this call's gradient, recomputed


def test_zero_grad_resets_a_leaf_between_backward_calls():
    x, c = Value(3.0), Value(1.0, requires_grad=False)
    y = x * x + c
    y.backward()
    x.zero_grad()
    c.zero_grad()
    assert (x.grad, c.grad) == (None, None)
    assert (x.requires_grad, c.requires_grad) == (True, False)
    y.backward()
    assert x.grad == 6.0
    x.zero_grad(set_to_none=False)
    c.zero_grad(set_to_none=False)
    assert (x.grad, c.grad) == (0.0, None)


def test_backward_scales_by_the_upstream_gradient():
    x = Value(3.0)
    (x * x).backward(gradient=0.5)
    assert x.grad == 3.0
    (x * x).backward(np.float64(2.0))
    assert x.grad == 3.0 + 12.0


def test_backward_of_a_leaf_is_one():
    x = Value(3.0)
    x.backward()
    assert x.grad == 1.0


# --- no_grad, enable_grad, constants, detach --------------------------------------


@pytest.mark.parametrize("op", PUBLIC_OPS, ids=OP_IDS)
def test_no_grad_records_nothing(op):
    xs, arg = _sample(op)
    with no_grad():
        y = apply(op, [Value(x) for x in xs], arg)
    assert (y.grad, y.requires_grad, y.parents, y.op) == (None, False, (), None)
    recorded = apply(op, [Value(x) for x in xs], arg)
    assert recorded.data == y.data
    assert recorded.requires_grad and recorded.op == op.name


@pytest.mark.parametrize("op", PUBLIC_OPS, ids=OP_IDS)
def test_only_constants_in_gives_a_constant_out(op):
    xs, arg = _sample(op)
    y = apply(op, [Value(x, requires_grad=False) for x in xs], arg)
    assert (y.grad, y.parents, y.op) == (None, (), None)


def test_no_grad_nests_and_restores_after_an_exception():
    x = Value(2.0)
    with pytest.raises(KeyError), no_grad():
        with no_grad():
            pass
        assert (x * x).grad is None
        raise KeyError
    assert (x * x).requires_grad


def test_enable_grad_inside_no_grad_records():
    x = Value(2.0)
    with no_grad():
        with enable_grad():
            y = x * x
        z = x * x
    assert (y.op, y.parents) == ("mul", (x, x))
    assert z.grad is None
    y.backward()
    assert x.grad == 4.0


def test_constant_gets_no_gradient():
    x, c = Value(3.0), Value(2.0, requires_grad=False)
    y = Value.sum([c * x, x / c, c**x, Value.dot([c], [x])])
    assert c in y.parents[0].parents
    y.backward()
    assert c.grad is None
    assert math.isclose(x.grad, 2 + 0.5 + 2**3 * math.log(2) + 2, rel_tol=1e-12)


def test_requires_grad_is_settable_on_leaves():
    x = Value(1.0, requires_grad=False)
    assert (x.requires_grad, x.grad) == (False, None)
    x.requires_grad = True
    assert (x.requires_grad, x.grad) == (True, None)
    (x * 3).backward()
    x.requires_grad = True  # the state it has: changes nothing
    assert x.grad == 3.0
    x.requires_grad = False  # freezing drops the gradient
    assert (x.requires_grad, x.grad) == (False, None)
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad


@pytest.mark.parametrize("op", PUBLIC_OPS, ids=OP_IDS)
def test_leaf_switched_off_after_use_gets_no_gradient(op):
    """A parent whose grad is None needs no gradient (ops.py) - also when the leaf was
    switched to requires_grad=False after the node was recorded."""
    xs, arg = _sample(op)
    values = [Value(x) for x in xs]
    y = apply(op, values, arg)
    values[0].requires_grad = False
    y.backward()
    assert values[0].grad is None


def test_detach_is_a_constant_leaf_with_the_same_data():
    x = Value(3.0, label="x")
    d = (x * 2).detach()
    assert (d.data, d.grad, d.requires_grad, d.parents, d.op) == (6.0, None, False, (), None)
    assert x.detach().label == "x"
    y = x * x.detach()
    y.backward()
    assert x.grad == 3.0  # not 2x: nothing flows through the detached copy


# --- deep and dropped graphs --------------------------------------------------------


def test_million_node_chain_with_default_recursion_limit():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default, whatever other tests set
    gc.disable()  # no cycles to find; the collector would only rescan a million nodes
    try:
        x = Value(1.0)
        y = x
        for _ in range(1_000_000):
            y = y * 1.000001
        assert len(topological_order(y)) == 1_000_000
        y.backward()
        assert math.isclose(x.grad, 1.000001**1_000_000, rel_tol=1e-9)
        del y  # freeing the chain must not recurse either
    finally:
        gc.enable()
        sys.setrecursionlimit(limit)


def _build_and_drop() -> None:
    """Graphs of every kind, differentiated every way, then dropped on return."""
    xs = [Value(0.1 * i - 1.0) for i in range(40)]
    for op in ALL_OPS:
        xs_op, arg = _sample(op)
        y = apply(op, [Value(x) for x in xs_op], arg)
        y.backward()
        grad(y, y.parents, create_graph=True)
    y = Value.sum((x * 2 + 1).tanh() * x.exp() - x**2 for x in xs)
    y = Value.dot(xs, [x.sigmoid() for x in xs], y)
    y.backward()
    (g,) = grad(y, xs[0], create_graph=True)
    g.backward()
    hessian(lambda v: (v[0] * v[1]).sin() / (v[1] ** 2 + 1), [0.5, 1.5])
    with detect_anomaly():
        z = (xs[3] * xs[4]).log() + xs[5].relu()
        z.backward()


def test_dropped_graphs_are_freed_by_reference_counting_alone():
    with collector_off():
        before = live_values()
        _build_and_drop()
        after = live_values()
    assert after == before, f"{after - before} Values outlived their graph (a reference cycle)"


# --- what a Value shows ---------------------------------------------------------------


def test_repr_shows_data_grad_and_label():
    x = Value(2.5, label="w")
    assert repr(x) == "Value(data=2.5, grad=None, label='w')"
    (x * x).backward()
    assert repr(x) == "Value(data=2.5, grad=5, label='w')"
    assert repr(Value(-1.0, requires_grad=False)) == "Value(data=-1, grad=None)"


@pytest.mark.parametrize("data", [3, 2.5, np.float64(1.5), np.float32(0.5), np.int64(-4), True])
def test_data_is_a_float(data):
    v = Value(data)
    assert type(v.data) is float and v.data == float(data)
    assert float(v) == v.item() == float(data)


def test_op_parents_and_label():
    x, y = Value(1.0, label="x"), Value(2.0)
    y.label = "y"
    assert (x.op, x.parents, x.label, y.label) == (None, (), "x", "y")
    assert ((x + y).parents, (y + x).parents, (x * x).parents) == ((x, y), (y, x), (x, x))
    z = 3 - x
    assert (z.op, z.parents, z.arg) == ("sub", (x,), 3.0)
    s = Value.sum([y, x, 1.0])
    assert (s.op, s.parents[:2], s.parents[2].data) == ("sum", (y, x), 1.0)
    assert (s.label, x.exp().label) == (None, None)


def test_topological_order_puts_parents_first_and_skips_leaves():
    x, y = Value(1.0), Value(2.0)
    a = x * y
    b = a.exp() + a
    c = b * x
    order = topological_order([c, a])
    assert order == topological_order([c, a]), "not deterministic"
    assert set(map(id, order)) == {id(a), id(b), id(c), id(b.parents[0])}
    assert len(order) == 4
    position = {id(v): i for i, v in enumerate(order)}
    assert all(position[id(p)] < position[id(v)] for v in order for p in v.parents if p.parents)
    assert topological_order(x) == []
