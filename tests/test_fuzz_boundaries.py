"""Hostile input at every public boundary, drawn by hypothesis.

Each boundary is a function of one bad value. Whatever the value, the library either
accepts it or raises one of the documented errors (TypeError, ValueError,
ZeroDivisionError, OverflowError) with a message that names the operation; never an
AttributeError, IndexError, KeyError, RecursionError or UnboundLocalError from
inside, and a refused call leaves its operands, model and optimizer as they were.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value, compile, grad, nn, optim
from tapegrad.nn import functional as F

DOCUMENTED = (TypeError, ValueError, ZeroDivisionError, OverflowError)


class Odd:
    """An object no operation knows."""

    def __repr__(self) -> str:
        return "Odd()"


BAD = st.one_of(
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.complex_numbers(allow_nan=False, allow_infinity=False).filter(lambda z: z.imag != 0),
    st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400), 2**63, -1, 0, 0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.just(Odd()),
    st.just(b"1.0"),
    st.sampled_from([np.float32(2.0), np.int64(3), np.array([1.0, 2.0]), np.array("x")]),
)


@dataclass(frozen=True)
class Boundary:
    """A public entry point as a function of one (possibly bad) value.

    ``names`` are the words an error message must contain (any one of them);
    ``state`` returns what must not change when the call is refused.
    """

    id: str
    call: Callable[[object], object]
    names: tuple[str, ...]
    state: Callable[[], object] = lambda: None


def _value_state(*values: Value) -> Callable[[], object]:
    return lambda: [(v.data, v.grad) for v in values]


X, Y = Value(1.5, label="x"), Value(-2.0, label="y")
MODEL = nn.MLP(2, [3, 1], seed=0)
PARAMS = [Value(1.0), Value(2.0)]
OPTIMIZER = optim.Adam(PARAMS, lr=0.1)


def _model_state():
    return MODEL.state_dict()


def _optimizer_state():
    return OPTIMIZER.state_dict(), [(p.data, p.grad) for p in PARAMS]


def _step_with(bad):
    for p in PARAMS:
        p.grad = bad
    try:
        OPTIMIZER.step()
    finally:
        for p in PARAMS:
            p.grad = 0.0


BOUNDARIES = [
    Boundary("Value()", lambda b: Value(b), ("Value",)),
    Boundary("Value(label=)", lambda b: Value(1.0, label=b), ("Value", "label")),
    Boundary("x + bad", lambda b: X + b, ("add",), _value_state(X)),
    Boundary("bad - x", lambda b: b - X, ("sub",), _value_state(X)),
    Boundary("x * bad", lambda b: X * b, ("mul",), _value_state(X)),
    Boundary("x / bad", lambda b: X / b, ("div",), _value_state(X)),
    Boundary("bad / x", lambda b: b / X, ("div",), _value_state(X)),
    Boundary("x ** bad", lambda b: X**b, ("pow",), _value_state(X)),
    Boundary("bad ** x", lambda b: b**X, ("pow",), _value_state(X)),
    Boundary("leaky_relu(bad)", lambda b: X.leaky_relu(b), ("leaky_relu",), _value_state(X)),
    Boundary("Value.sum", lambda b: Value.sum([X, b]), ("sum",), _value_state(X)),
    Boundary("Value.dot", lambda b: Value.dot([X, Y], [b, 1.0]), ("dot",), _value_state(X, Y)),
    Boundary("Value.dot lists", lambda b: Value.dot(b, [X]), ("dot",), _value_state(X)),
    Boundary(
        "backward(seed)",
        lambda b: (X * Y).backward(b),
        ("backward", "gradient"),
        _value_state(X, Y),
    ),
    Boundary("grad(outputs)", lambda b: grad(b, [X]), ("grad",), _value_state(X)),
    Boundary("grad(inputs)", lambda b: grad(X * Y, b), ("grad",), _value_state(X, Y)),
    Boundary(
        "grad(grad_outputs)",
        lambda b: grad(X * Y, [X], grad_outputs=b),
        ("grad", "grad_outputs"),
        _value_state(X, Y),
    ),
    Boundary("mse_loss(pred)", lambda b: F.mse_loss([b], [1.0]), ("mse_loss",)),
    Boundary("mse_loss(target)", lambda b: F.mse_loss([X], [b]), ("mse_loss",), _value_state(X)),
    Boundary(
        "cross_entropy(class)",
        lambda b: F.cross_entropy([[X, Y]], [b]),
        ("cross_entropy",),
        _value_state(X, Y),
    ),
    Boundary(
        "binary_cross_entropy",
        lambda b: F.binary_cross_entropy([X.sigmoid()], [b]),
        ("binary_cross_entropy",),
        _value_state(X),
    ),
    Boundary("hinge_loss", lambda b: F.hinge_loss([X], [b]), ("hinge_loss",), _value_state(X)),
    Boundary("loss reduction", lambda b: F.mse_loss([X], [1.0], reduction=b), ("mse_loss",)),
    Boundary("Linear(nin)", lambda b: nn.Linear(b, 2), ("Linear", "nin")),
    Boundary("MLP(sizes)", lambda b: nn.MLP(2, b), ("MLP", "sizes")),
    Boundary("MLP activation", lambda b: nn.MLP(2, [2], activation=b), ("activation",)),
    Boundary("Dropout(p)", lambda b: nn.Dropout(b), ("Dropout", "p")),
    Boundary(
        "model(sample)",
        lambda b: MODEL(b),
        ("MLP", "Linear", "Neuron", "input", "dot"),
        _model_state,
    ),
    Boundary(
        "model([bad, 1])", lambda b: MODEL([b, 1.0]), ("dot", "Linear", "input"), _model_state
    ),
    Boundary(
        "load_state_dict", lambda b: MODEL.load_state_dict(b), ("load_state_dict",), _model_state
    ),
    Boundary(
        "load_state_dict entry",
        lambda b: MODEL.load_state_dict({**MODEL.state_dict(), "layers.0.neurons.0.b": b}),
        ("load_state_dict",),
        _model_state,
    ),
    Boundary("SGD(lr)", lambda b: optim.SGD([Value(1.0)], lr=b), ("learning rate",)),
    Boundary("Adam(betas)", lambda b: optim.Adam([Value(1.0)], betas=b), ("beta",)),
    Boundary("SGD(params)", lambda b: optim.SGD(b, lr=0.1), ("SGD", "param", "Value")),
    Boundary(
        "optimizer.load_state_dict",
        lambda b: OPTIMIZER.load_state_dict(b),
        ("Adam",),
        _optimizer_state,
    ),
    Boundary("optimizer.step(grad)", _step_with, ("Adam", "grad", "gradient"), _optimizer_state),
    Boundary(
        "clip_grad_norm_",
        lambda b: optim.clip_grad_norm_(PARAMS, b),
        ("clip_grad_norm_",),
        _optimizer_state,
    ),
    Boundary(
        "DataLoader(batch_size)",
        lambda b: nn.data.DataLoader([[1.0]], [0], b),
        ("DataLoader", "batch_size"),
    ),
    Boundary("make_moons(n)", lambda b: nn.data.make_moons(b), ("make_moons", "n_samples")),
]


def _compiled():
    model = nn.MLP(2, [2, 1], seed=0)
    return model, compile(lambda x, t: F.mse_loss(model(x), [t]), model.parameters())


COMPILED_MODEL, COMPILED = _compiled()
BOUNDARIES += [
    # A batch of the wrong shape reaches the model, which names itself.
    Boundary(
        "compiled(X)",
        lambda b: COMPILED(b, np.zeros(2)),
        ("compiled", "batch", "array", "Linear"),
        lambda: COMPILED_MODEL.state_dict(),
    ),
    Boundary(
        "compiled(X, bad)",
        lambda b: COMPILED(np.zeros((2, 2)), b),
        ("compiled", "batch", "array", "mse_loss"),
        lambda: COMPILED_MODEL.state_dict(),
    ),
]


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=lambda b: b.id)
@settings(max_examples=40)
@given(bad=BAD)
def test_bad_input_gets_a_documented_error_that_names_the_operation(boundary, bad):
    before = boundary.state()
    try:
        boundary.call(bad)
    except DOCUMENTED as error:
        message = str(error)
        assert any(name.lower() in message.lower() for name in boundary.names), (
            f"{boundary.id}: {type(error).__name__}({message!r}) names none of {boundary.names}"
        )
        assert boundary.state() == before or _nan_equal(boundary.state(), before), (
            f"{boundary.id}: refused, yet changed state"
        )
    for value in (X, Y):
        value.grad = 0.0


def _nan_equal(a: object, b: object) -> bool:
    return repr(a) == repr(b)
