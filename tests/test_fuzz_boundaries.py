"""Hostile input at every public boundary, drawn by hypothesis.

Each boundary is a function of one bad value. Whatever the value, the library either
accepts it or raises one of the documented errors (TypeError, ValueError,
ZeroDivisionError, OverflowError) with a message that names the operation; never an
AttributeError, IndexError, KeyError, RecursionError or UnboundLocalError from
inside, and a refused call leaves its operands, model and optimizer as they were.
What it accepts is a kind of value the boundary takes, and a number accepted by
arithmetic gives the result float64 arithmetic gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value, compile, draw_graph, grad, gradcheck, jvp, nn, optim, primitive
from tapegrad.nn import functional as F
from tapegrad.testing import check_grads

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


REAL = (int, float, np.integer, np.floating)  # a bool is an int, as in Python
NONE = type(None)


@dataclass(frozen=True)
class Boundary:
    """A public entry point as a function of one (possibly bad) value.

    ``names`` are the words an error message must contain (any one of them);
    ``takes`` the kinds of value it may accept (it must refuse any other);
    ``state`` returns what must not change when the call is refused;
    ``gives``, for an accepted real number b, the number the result must hold
    (computed in float64 from b).
    """

    id: str
    call: Callable[[object], object]
    names: tuple[str, ...]
    takes: tuple[type, ...]
    state: Callable[[], object] = lambda: None
    gives: Callable[[np.float64], float] | None = None


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
    before = [p.grad for p in PARAMS]
    for p in PARAMS:
        p.grad = bad
    try:
        OPTIMIZER.step()
    finally:
        for p, g in zip(PARAMS, before):
            p.grad = g


def _drawn_label(bad):
    """A Value labelled ``bad``, drawn: the label is refused, or drawn as its text."""
    source = draw_graph(Value(1.0, label=bad)).source
    text = str(bad)
    # Only printable text is sure to appear as written (escaped for Graphviz's HTML).
    if bad is not None and text.isprintable():
        assert f"<b>{escape(text)}</b>" in source, f"label {bad!r} is not drawn: {source}"
    return source


BOUNDARIES = [
    Boundary("Value()", lambda b: Value(b), ("Value",), REAL, gives=lambda b: b),
    # Either design holds: Value() refuses a label that is not a string, or it is drawn.
    Boundary("Value(label=) drawn", _drawn_label, ("Value", "label"), (object,)),
    Boundary("x + bad", lambda b: X + b, ("add",), REAL, _value_state(X), lambda b: 1.5 + b),
    Boundary("bad - x", lambda b: b - X, ("sub",), REAL, _value_state(X), lambda b: b - 1.5),
    Boundary("x * bad", lambda b: X * b, ("mul",), REAL, _value_state(X), lambda b: 1.5 * b),
    Boundary("x / bad", lambda b: X / b, ("div",), REAL, _value_state(X), lambda b: 1.5 / b),
    Boundary("bad / x", lambda b: b / X, ("div",), REAL, _value_state(X), lambda b: b / 1.5),
    Boundary("x ** bad", lambda b: X**b, ("pow",), REAL, _value_state(X), lambda b: 1.5**b),
    Boundary("bad ** x", lambda b: b**X, ("pow",), REAL, _value_state(X), lambda b: b**1.5),
    Boundary(
        "leaky_relu(bad)",
        lambda b: X.leaky_relu(b),
        ("leaky_relu",),
        REAL,
        _value_state(X),
        lambda b: 1.5,  # x > 0: the slope for negative inputs plays no part
    ),
    Boundary(
        "Value.sum", lambda b: Value.sum([X, b]), ("sum",), REAL, _value_state(X), lambda b: 1.5 + b
    ),
    Boundary(
        "Value.dot",
        lambda b: Value.dot([X, Y], [b, 1.0]),
        ("dot",),
        REAL,
        _value_state(X, Y),
        lambda b: b * 1.5 - 2.0,
    ),
    Boundary("Value.dot lists", lambda b: Value.dot(b, [X]), ("dot",), (list,), _value_state(X)),
    Boundary(
        "backward(seed)",
        lambda b: (X * Y).backward(b),
        ("backward", "gradient"),
        (*REAL, list, NONE),
        _value_state(X, Y),
    ),
    # grad takes any iterable of Values (an empty dict is an empty iterable).
    Boundary(
        "grad(outputs)",
        lambda b: grad(b, [X], allow_unused=True),
        ("grad",),
        (Iterable,),
        _value_state(X),
    ),
    Boundary("grad(inputs)", lambda b: grad(X * Y, b), ("grad",), (Iterable,), _value_state(X, Y)),
    Boundary(
        "grad(grad_outputs)",
        lambda b: grad(X * Y, [X], grad_outputs=b),
        ("grad", "grad_outputs"),
        (*REAL, list, NONE),
        _value_state(X, Y),
    ),
    Boundary("mse_loss(pred)", lambda b: F.mse_loss([b], [1.0]), ("mse_loss",), (*REAL, list)),
    Boundary(
        "mse_loss(target)",
        lambda b: F.mse_loss([X], [b]),
        ("mse_loss",),
        (*REAL, list),
        _value_state(X),
        lambda b: (1.5 - b) ** 2,
    ),
    Boundary(
        "cross_entropy(class)",
        lambda b: F.cross_entropy([[X, Y]], [b]),
        ("cross_entropy",),
        (int, np.integer),
        _value_state(X, Y),
    ),
    Boundary(
        "binary_cross_entropy",
        lambda b: F.binary_cross_entropy([X.sigmoid()], [b]),
        ("binary_cross_entropy",),
        (*REAL, list),
        _value_state(X),
    ),
    Boundary(
        "hinge_loss",
        lambda b: F.hinge_loss([X], [b]),
        ("hinge_loss",),
        REAL,
        _value_state(X),
        lambda b: max(0.0, 1.0 - b * 1.5),
    ),
    Boundary(
        "loss reduction",
        lambda b: F.mse_loss([X], [1.0], reduction=b),
        ("mse_loss",),
        (str,),
    ),
    Boundary("Linear(nin)", lambda b: nn.Linear(b, 2), ("Linear", "nin"), (int, np.integer)),
    Boundary("MLP(sizes)", lambda b: nn.MLP(2, b), ("MLP", "sizes"), (list, tuple)),
    Boundary("MLP activation", lambda b: nn.MLP(2, [2], activation=b), ("activation",), (str,)),
    Boundary("Dropout(p)", lambda b: nn.Dropout(b), ("Dropout", "p"), REAL),
    Boundary(
        "model(sample)",
        lambda b: MODEL(b),
        ("MLP", "Linear", "Neuron", "input", "dot"),
        (list, tuple, np.ndarray),
        _model_state,
    ),
    Boundary(
        "model([bad, 1])",
        lambda b: MODEL([b, 1.0]),
        ("dot", "Linear", "input"),
        REAL,
        _model_state,
    ),
    Boundary(
        "load_state_dict",
        lambda b: MODEL.load_state_dict(b),
        ("load_state_dict",),
        (dict,),
        _model_state,
    ),
    Boundary(
        "load_state_dict entry",
        lambda b: MODEL.load_state_dict({**MODEL.state_dict(), "layers.0.neurons.0.b": b}),
        ("load_state_dict",),
        REAL,
        _model_state,
    ),
    Boundary("SGD(lr)", lambda b: optim.SGD([Value(1.0)], lr=b), ("learning rate",), REAL),
    Boundary("Adam(betas)", lambda b: optim.Adam([Value(1.0)], betas=b), ("beta",), (tuple, list)),
    Boundary(
        "SGD(params)", lambda b: optim.SGD(b, lr=0.1), ("SGD", "param", "Value"), (list, tuple)
    ),
    Boundary(
        "optimizer.load_state_dict",
        lambda b: OPTIMIZER.load_state_dict(b),
        ("Adam",),
        (dict,),
        _optimizer_state,
    ),
    Boundary(
        "optimizer.step(grad)",
        _step_with,
        ("Adam", "grad", "gradient"),
        (*REAL, NONE),
        _optimizer_state,
    ),
    Boundary(
        "clip_grad_norm_",
        lambda b: optim.clip_grad_norm_(PARAMS, b),
        ("clip_grad_norm_",),
        REAL,
        _optimizer_state,
    ),
    Boundary(
        "DataLoader(batch_size)",
        lambda b: nn.data.DataLoader([[1.0]], [0], b),
        ("DataLoader", "batch_size"),
        (int, np.integer),
    ),
    Boundary(
        "make_moons(n)",
        lambda b: nn.data.make_moons(b),
        ("make_moons", "n_samples"),
        (int, np.integer),
    ),
]


SOFTPLUS = primitive(
    "softplus",
    forward=lambda m, x: m.log(1.0 + m.exp(x)),
    grad=lambda m, g, out, x: (g * m.sigmoid(x),),
)


def _defined(bad):
    return primitive(bad, forward=lambda m, x: x, grad=lambda m, g, out, x: (g,))


BOUNDARIES += [
    Boundary(
        "primitive(bad)",
        lambda b: SOFTPLUS(b),
        ("softplus",),
        REAL,
        gives=lambda b: np.log(1.0 + np.exp(b)),
    ),
    Boundary("primitive(name)", _defined, ("primitive",), (str,)),
    Boundary("jvp(primals)", lambda b: jvp(lambda x: x * X, [b], [1.0]), ("jvp",), REAL),
    Boundary("jvp(tangents)", lambda b: jvp(lambda x: x * X, [1.0], [b]), ("jvp",), REAL),
    Boundary(
        "check_grads(args)", lambda b: check_grads(lambda x: x * 3.0, [b]), ("check_grads",), REAL
    ),
    Boundary(
        "gradcheck(raise_exception)",
        lambda b: gradcheck(lambda v: v[0] * v[0], [1.0], raise_exception=b),
        ("gradcheck",),
        (bool,),
    ),
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
        (list, np.ndarray),
        lambda: COMPILED_MODEL.state_dict(),
    ),
    Boundary(
        "compiled(X, bad)",
        lambda b: COMPILED(np.zeros((2, 2)), b),
        ("compiled", "batch", "array", "mse_loss"),
        (list, np.ndarray),
        lambda: COMPILED_MODEL.state_dict(),
    ),
]


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=lambda b: b.id)
@settings(max_examples=40)
@given(bad=BAD)
def test_bad_input_gets_a_documented_error_that_names_the_operation(boundary, bad):
    before = boundary.state()
    try:
        result = boundary.call(bad)
    except DOCUMENTED as error:
        message = str(error)
        assert any(name.lower() in message.lower() for name in boundary.names), (
            f"{boundary.id}: {type(error).__name__}({message!r}) names none of {boundary.names}"
        )
        assert boundary.state() == before or _nan_equal(boundary.state(), before), (
            f"{boundary.id}: refused, yet changed state"
        )
    else:
        kinds = ", ".join(kind.__name__ for kind in boundary.takes)
        assert isinstance(bad, boundary.takes), (
            f"{boundary.id}: accepted {bad!r}, a {type(bad).__name__}; it takes {kinds}"
        )
        if boundary.gives is not None and isinstance(bad, REAL):
            with np.errstate(all="ignore"):
                want = float(boundary.gives(np.float64(bad)))
            assert _same_number(result.data, want), (
                f"{boundary.id}: accepted {bad!r} and gave {result.data!r}, not {want!r}"
            )
    finally:
        for value in (X, Y):
            value.grad = 0.0


def _same_number(got: object, want: float) -> bool:
    """``got`` is a float equal to ``want`` (both NaN counts as equal), to rounding."""
    if type(got) is not float:
        return False
    if math.isnan(want):
        return math.isnan(got)
    return got == want or math.isclose(got, want, rel_tol=1e-12)


def _nan_equal(a: object, b: object) -> bool:
    return repr(a) == repr(b)
