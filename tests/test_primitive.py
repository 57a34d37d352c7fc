"""User primitives (``tapegrad.primitive``): one node each, in every mode the engine has
(eager, any order, forward mode, compiled, explain, draw), and clear errors for bad
definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_close, softplus

import tapegrad
from tapegrad import Primitive, Value, compile, draw_graph, explain, grad, hessian, jvp, primitive


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# Two inputs, an ordered pair: d/da = a / out, d/db = b / out.
hypot = primitive(
    "hypot",
    forward=lambda m, a, b: m.sqrt(a * a + b * b),
    grad=lambda m, g, out, a, b: (g * a / out, g * b / out),
    symbol="‖·‖",
    domain=(0.5, 3.0),
)


def test_one_node_with_the_rules_value_and_gradient():
    x = Value(0.5)
    y = softplus(x)
    assert (y.op, y.primitive, y.parents) == ("softplus", softplus, (x,))
    assert y.data == math.log(1.0 + math.exp(0.5))
    y.backward()
    assert x.grad == _sigmoid(0.5)
    assert isinstance(softplus, Primitive) and repr(softplus) == "Primitive(softplus)"
    assert (softplus.arity, softplus.symbol, softplus.domain) == (1, "softplus", (-5.0, 5.0))
    assert tapegrad.autograd.primitive is tapegrad.primitive


def test_two_inputs_numbers_and_constants():
    a, b = Value(3.0), Value(4.0)
    y = hypot(a, b)
    y.backward()
    assert (y.data, a.grad, b.grad) == (5.0, 0.6, 0.8)
    z = hypot(a, 4.0)  # a number is a constant parent
    assert z.data == 5.0 and z.parents[1].requires_grad is False
    assert grad(z, [a]) == (0.6,)
    constant = softplus(0.0)
    assert constant.data == math.log(2.0) and constant.requires_grad is False


def test_no_grad_records_nothing():
    x = Value(1.0)
    with tapegrad.no_grad():
        y = softplus(x)
    assert y.requires_grad is False and y.parents == ()


def test_second_order_and_beyond_run_the_rule_on_values():
    # softplus'' = sigmoid' = s (1 - s); softplus''' = s (1 - s) (1 - 2 s)
    s = _sigmoid(0.7)
    assert hessian(lambda v: softplus(v[0]), [0.7]) == [[pytest.approx(s * (1 - s), rel=1e-15)]]
    x = Value(0.7)
    (d1,) = grad(softplus(x), [x], create_graph=True)
    (d2,) = grad(d1, [x], create_graph=True)
    (d3,) = grad(d2, [x])
    assert d3 == pytest.approx(s * (1 - s) * (1 - 2 * s), rel=1e-14)
    # hypot's Hessian in closed form: [[b^2, -ab], [-ab, a^2]] / r^3
    a, b = 1.5, 2.0
    r3 = math.hypot(a, b) ** 3
    expected = [[b * b / r3, -a * b / r3], [-a * b / r3, a * a / r3]]
    H = hessian(lambda v: hypot(v[0], v[1]), [a, b])
    np.testing.assert_allclose(H, expected, rtol=1e-14)


def test_forward_mode_uses_the_same_rule():
    value, slope = jvp(lambda x, y: softplus(x * y), [0.5, 2.0], [1.0, -1.0])
    assert value == math.log1p(math.e)
    assert slope == pytest.approx(_sigmoid(1.0) * (2.0 - 0.5), rel=1e-15)


def test_compiled_equals_eager_on_a_batch():
    w, c = Value(0.8), Value(-0.3)

    def loss(x):
        return softplus(w * x[0] + c) * hypot(x[1], w) + softplus(x[1] * c)

    batch = np.array([[0.5, 1.0], [-1.5, 2.5], [2.0, 0.75], [0.1, 1.2]])
    step = compile(loss, [w, c])
    compiled_loss = step(batch)
    compiled_grads = [w.grad, c.grad]
    assert "softplus" in step.describe() and "hypot" in step.describe()
    w.grad = c.grad = 0.0
    eager = Value.sum([loss([Value(a, requires_grad=False), b]) for a, b in batch]) / len(batch)
    eager.backward()
    assert_close(compiled_loss, eager.data)
    assert_close(compiled_grads, [w.grad, c.grad])
    assert_close(step.forward(batch), [loss(list(row)).data for row in batch])


def test_explain_and_draw_name_it():
    x = Value(0.5, label="x")
    y = hypot(softplus(x), x)
    y.label = "y"
    text = " ".join(str(explain(y)).split())  # the table's columns as single spaces
    assert "n1 = softplus(x) = softplus(0.5) = 0.9741 softplus" in text
    assert "y = hypot(n1, x) = hypot(0.9741, 0.5) = 1.095 hypot" in text
    assert "∂y/∂n1 = n1 / y = 0.9741 / 1.095 = 0.8896" in text
    assert "∂n1/∂x = σ(x) = σ(0.5) = 0.6225" in text
    page = explain(y)._repr_html_()
    assert "softplus" in page and "hypot" in page
    source = draw_graph(y).source
    assert "label=softplus" in source and 'label="‖·‖"' in source
    # Its two operands are ordered: the diagram names each edge's role.
    assert [n.roles for n in explain(y).nodes if n.op == "hypot"] == [("a", "b")]


def test_explain_shows_the_numbers_of_a_rule_formulas_cannot_run():
    branchy = primitive(
        "branchy",
        forward=lambda m, x: x * x,
        grad=lambda m, g, out, x: (g * (2.0 * x if float(x) > 0 else 0.0),),
    )
    x = Value(1.5, label="x")
    assert "∂out/∂x = 3 1 * 3 = 3" in " ".join(str(explain(branchy(x))).split())


def test_anomaly_mode_names_the_primitive():
    blowup = primitive(
        "blowup", forward=lambda m, x: m.exp(x), grad=lambda m, g, out, x: (g * out,)
    )
    with tapegrad.detect_anomaly(), pytest.raises(FloatingPointError, match=r"blowup\(1000.0\)"):
        blowup(Value(1000.0))


# --- errors --------------------------------------------------------------------------


def _square(m, x):
    return x * x


def _square_grad(m, g, out, x):
    return (2.0 * g * x,)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "exp"}, ValueError, "'exp' is already a built-in op of the table"),
        ({"name": "my op"}, ValueError, "name must be a Python identifier, got 'my op'"),
        ({"name": "lambda"}, ValueError, "name must be a Python identifier"),
        ({"name": 3}, TypeError, "primitive: name must be a string, got int 3"),
        ({"forward": 2.0}, TypeError, "primitive sq: forward must be a function, got float 2.0"),
        ({"grad": None}, TypeError, "primitive sq: grad must be a function, got NoneType None"),
        (
            {"grad": lambda m, g, out, x: (g, g)},
            ValueError,
            r"primitive sq: grad must return a tuple of 1 gradient, one per input, got 2 gradients",
        ),
        (
            {"grad": lambda m, g, out, x: 2.0 * g * x},
            TypeError,
            r"grad must return a tuple of 1 gradient, one per input, got float 0.0; write \(g \* ...,\)",
        ),
        ({"grad": lambda m, g, x: (g,)}, TypeError, r"grad must take \(m, g, out, x0\)"),
        ({"forward": lambda m, *xs: xs[0]}, TypeError, "fixed number of inputs"),
        ({"forward": lambda m: 1.0}, TypeError, "at least one input"),
        (
            {"grad": lambda m, g, out, x: (m.erf(x),)},
            TypeError,
            "primitive sq: grad failed on floats at 0.0: AttributeError",
        ),
        ({"forward": lambda m, x: "x"}, TypeError, "forward must return a number on floats"),
        ({"grad": lambda m, g, out, x: ("1",)}, TypeError, "grad must return numbers on floats"),
        ({"domain": (1.0, 1.0)}, ValueError, "domain must be finite with lo < hi"),
        ({"domain": "ab"}, TypeError, "domain must be a pair of numbers"),
        ({"avoid": ["zero"]}, TypeError, "avoid must be a sequence of numbers"),
        ({"symbol": 1}, TypeError, "symbol must be a string, got int 1"),
        (
            {"forward": lambda m, x: m.log(x - 10.0)},
            ValueError,
            r"forward or grad is undefined at every point tried in its domain \(-5.0, 5.0\) "
            r"\(last, forward at 0.5: log: input must be > 0, got -9.5\)",
        ),
        (
            {"grad": lambda m, g, out, x: (g / (x - x),)},
            ValueError,
            r"\(last, grad at 0.5: float division by zero\); give domain=\(lo, hi\) where both",
        ),
    ],
)
def test_bad_definitions_are_refused(kwargs, error, message):
    definition = {"name": "sq", "forward": _square, "grad": _square_grad, **kwargs}
    with pytest.raises(error, match=message):
        primitive(**definition)


def test_the_probe_finds_a_point_where_the_forward_is_defined():
    log2 = primitive("log2", forward=lambda m, x: m.log(x), grad=lambda m, g, out, x: (g / x,))
    assert log2(Value(4.0)).data == math.log(4.0)  # defined for x > 0 only: probed at 2.0
    assert primitive("sq", forward=_square, grad=_square_grad, avoid=0.0).avoid == (0.0,)


def test_bad_calls_name_the_primitive():
    with pytest.raises(TypeError, match=r"hypot: takes 2 inputs, got 1"):
        hypot(Value(1.0))
    with pytest.raises(TypeError, match=r"softplus: unsupported operand '1' of type str"):
        softplus("1")
    log2 = primitive("log2", forward=lambda m, x: m.log(x), grad=lambda m, g, out, x: (g / x,))
    with pytest.raises(ValueError, match=r"^log2\(-1.0\): log: input must be > 0, got -1.0$"):
        log2(Value(-1.0))


def test_a_rule_that_miscounts_at_some_inputs_fails_at_backward_naming_it():
    # Right at the probe point (x = 0), wrong for x < -1: found when backward gets there.
    odd = primitive(
        "odd",
        forward=lambda m, x: x * x,
        grad=lambda m, g, out, x: (2.0 * g * x,) if float(x) > -1.0 else (g, g),
    )
    x = Value(-2.0)
    with pytest.raises(
        ValueError,
        match=r"backward through odd\(-2.0\) failed: primitive odd: grad must return a tuple "
        r"of 1 gradient, one per input, got 2 gradients",
    ):
        odd(x).backward()
    # The rule is checked wherever it runs: on Values and in forward mode too.
    miscount = "primitive odd: grad must return a tuple of 1 gradient, one per input, got 2"
    with pytest.raises(ValueError, match=miscount):
        grad(odd(x), [x], create_graph=True)
    with pytest.raises(ValueError, match=miscount):
        jvp(odd, [-2.0], [1.0])
