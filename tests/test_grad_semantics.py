"""Gradients as PyTorch's: ``.grad`` None until a backward reaches a Value, a separate
``requires_grad`` flag, ``zero_grad(set_to_none=True)``, optimizers and clipping that
skip a parameter without a gradient. PyTorch 2.13's float64 numbers are kept as
literals."""

from __future__ import annotations

import pytest

from tapegrad import Value, detect_anomaly, nn, optim, primitive
from tapegrad.autograd import value as value_module


def test_grad_is_none_until_a_backward_reaches_the_value():
    # torch: w.grad is None; after (w * 3).backward(), tensor(3.)
    w, unused = Value(2.0), Value(5.0)
    y = w * 3
    assert (w.grad, unused.grad, y.grad) == (None, None, None)
    assert (w.requires_grad, unused.requires_grad, y.requires_grad) == (True, True, True)
    y.backward()
    assert (w.grad, unused.grad, y.grad) == (3.0, None, 1.0)


def test_a_gradient_of_zero_is_a_gradient():
    # torch: (z * 0).backward() gives z.grad == tensor(0.), not None
    z = Value(1.0)
    (z * 0.0).backward()
    assert z.grad == 0.0


def test_setting_grad_to_none_never_freezes():
    w = Value(2.0)
    (w * w).backward()
    w.grad = None
    assert w.requires_grad
    (w * w).backward()
    assert w.grad == 4.0
    w.grad = 0.0  # still allowed: backward adds into it
    (w * w).backward()
    assert w.grad == 4.0


def test_requires_grad_is_a_bool_set_on_leaves_only():
    x = Value(1.0)
    with pytest.raises(TypeError, match="requires_grad must be a bool, got int 1"):
        x.requires_grad = 1  # type: ignore[assignment]
    with pytest.raises(TypeError, match="Value: requires_grad must be a bool, got str 'no'"):
        Value(1.0, requires_grad="no")  # type: ignore[arg-type]
    y = x * 2
    for flag in (True, False):  # torch refuses both on a non-leaf
        with pytest.raises(ValueError, match="requires_grad can only be set on a leaf Value"):
            y.requires_grad = flag


def test_a_frozen_leaf_gets_no_gradient_and_passes_none_on():
    w, frozen = Value(2.0), Value(3.0).requires_grad_(False)
    y = w * frozen
    assert y.requires_grad
    y.backward()
    assert (w.grad, frozen.grad) == (3.0, None)
    assert not (frozen * frozen).requires_grad


def test_zero_grad_sets_none_by_default_as_pytorch():
    # torch: opt.zero_grad() leaves w.grad None; zero_grad(set_to_none=False) on a
    # None gradient leaves it None, on a set one gives tensor(0.)
    w = Value(2.0)
    opt = optim.SGD([w], lr=0.1)
    (w * 3).backward()
    opt.zero_grad()
    assert w.grad is None
    opt.zero_grad(set_to_none=False)
    assert w.grad is None
    (w * 3).backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad == 0.0
    model = nn.MLP(2, [2, 1], seed=0)
    model([1.0, 2.0])[0].backward()
    model.zero_grad(set_to_none=False)
    assert {p.grad for p in model.parameters()} == {0.0}
    model.zero_grad()
    assert {p.grad for p in model.parameters()} == {None}


@pytest.mark.parametrize(
    "make, expected",
    [
        # torch.optim.<name>([a, u], lr=0.1, weight_decay=0.5[, momentum=0.9]), two steps
        # of (3 a^2).backward() after zero_grad(): u is never reached.
        (lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.5), 1.3002390618242041),
        (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.5, momentum=0.9), -0.6937500000000002),
        (lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.5), 1.1592636620196113),
    ],
    ids=["Adam", "SGD", "AdamW"],
)
def test_optimizers_skip_a_parameter_without_gradient_as_pytorch(make, expected):
    a, u = Value(1.5), Value(-2.0)
    opt = make([a, u])
    for _ in range(2):
        opt.zero_grad()
        (a * a * 3.0).backward()
        opt.step()
    assert a.data == pytest.approx(expected, rel=1e-14)
    # no step, no weight decay, no state for u (torch: u -2.0, len(opt.state) == 1)
    assert (u.data, u.grad, u in opt.state, len(opt.state)) == (-2.0, None, False, 1)


def test_clipping_leaves_out_a_parameter_without_gradient():
    # torch: clip_grad_norm_([a, b], 1.0) after (a * 4).backward(): total norm 4.0,
    # a.grad 0.9999997500000625, b.grad None
    a, b = Value(3.0), Value(1.0)
    (a * 4.0).backward()
    total = optim.clip_grad_norm_([a, b], 1.0)
    assert (total, a.grad, b.grad) == (4.0, 0.9999997500000625, None)
    optim.clip_grad_value_([a, b], 0.5)
    assert (a.grad, b.grad) == (0.5, None)


def _failing_graph():
    a, b = Value(3.0, label="a"), Value(0.0, label="b")
    return a, b, a * 2.0 + b.sqrt() * a  # a * 2 is differentiated before sqrt'(0) fails


def test_a_backward_that_raises_changes_no_gradient():
    a, b, y = _failing_graph()
    a.grad = 5.0
    with pytest.raises(ZeroDivisionError, match=r"backward through sqrt\(0\.0\) failed"):
        y.backward()
    assert (a.grad, b.grad, y.grad) == (5.0, None, None)  # not 7.0: nothing was added
    b.data = 4.0
    (a * 2.0 + b.sqrt() * a).backward()  # the same graph where sqrt' exists
    assert (a.grad, b.grad) == (5.0 + 2.0 + 2.0, 0.75)


def test_a_backward_stopped_by_anomaly_mode_changes_no_gradient():
    a, b, y = _failing_graph()
    a.grad = 5.0
    with detect_anomaly(), pytest.raises(FloatingPointError, match="sqrt"):
        y.backward()
    assert (a.grad, b.grad, y.grad) == (5.0, None, None)
    x = Value(800.0)
    z = x * 2.0 + x.exp() * 0.0  # exp(800) = inf: inf * 0 is NaN in backward
    x.grad = 1.0
    with detect_anomaly(), pytest.raises(FloatingPointError, match="gradient nan"):
        z.backward()
    assert (x.grad, z.grad) == (1.0, None)


def test_a_primitive_whose_rule_raises_changes_no_gradient():
    root = primitive("root", lambda m, x: m.sqrt(x), lambda m, g, out, x: (g * 0.5 / out,))
    a, b = Value(3.0), Value(0.0)
    y = a * 2.0 + root(b) * a
    with pytest.raises(ZeroDivisionError, match=r"backward through root\(0\.0\) failed"):
        y.backward()
    assert (a.grad, b.grad) == (None, None)


# Each way to make a node whose derivative can raise where its forward is defined.
FALLIBLE_AT_ZERO = {
    "sqrt": lambda b: b.sqrt(),
    "a power below 1": lambda b: b**0.5,
    "a Value exponent": lambda b: b ** Value(0.5),
    "a negative number to a Value power": lambda b: (-2.0) ** b,  # log(-2) in backward
    "a primitive": lambda b: primitive(
        "root", lambda m, x: m.sqrt(x), lambda m, g, out, x: (g * 0.5 / out,)
    )(b),
}


@pytest.mark.parametrize("make", FALLIBLE_AT_ZERO.values(), ids=FALLIBLE_AT_ZERO.keys())
def test_the_first_fallible_node_of_a_process_makes_backward_atomic(monkeypatch, make):
    """Backward checks fallible nodes before writing only once the process has made one
    (value._fallible); each way of making one must say so, or its failing pass would
    add half its gradients in a process that made no other."""
    monkeypatch.setattr(value_module, "_fallible", False)  # as in a fresh process
    a, b = Value(3.0), Value(0.0)
    y = a * 2.0 + make(b) * a
    a.grad = 5.0
    with pytest.raises((ZeroDivisionError, ValueError), match="backward through"):
        y.backward()
    assert (a.grad, b.grad) == (5.0, None)


NEVER_FALLIBLE = {
    "x ** 2": lambda x: x**2.0,
    "x ** 1": lambda x: x**1.0,
    "x ** a number Value": lambda x: x ** Value(2.0, requires_grad=False),
    "leaky_relu": lambda x: x.leaky_relu(0.01),
    "relu, exp, log, tanh": lambda x: x.relu() + x.exp() + x.log() + x.tanh(),
    "x / 2 and 2 / x": lambda x: x / 2.0 + 2.0 / x,
}


@pytest.mark.parametrize("make", NEVER_FALLIBLE.values(), ids=NEVER_FALLIBLE.keys())
def test_a_program_without_fallible_nodes_pays_nothing_for_atomic_backward(monkeypatch, make):
    """Only nodes whose derivative can raise turn on backward's check before writing."""
    monkeypatch.setattr(value_module, "_fallible", False)
    x = Value(1.5)
    make(x).backward()
    assert value_module._fallible is False
