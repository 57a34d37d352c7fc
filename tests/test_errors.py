"""Every error the engine raises, with its message; anomaly detection; failing checks."""

from __future__ import annotations

import math
import re
import sys

import pytest

from tapegrad import (
    GradcheckError,
    Op,
    Value,
    detect_anomaly,
    grad,
    gradcheck,
    gradgradcheck,
    hessian,
    hvp,
    jacobian,
    nn,
    no_grad,
)
from tapegrad.testing.reference import record

HERE = re.escape(__file__)


def _next_line() -> int:
    """The number of the line after the caller's (where it creates the node in question)."""
    return sys._getframe(1).f_lineno + 1


def _constant_backward():
    Value(1.0, requires_grad=False).backward()


def _no_grad_backward():
    with no_grad():
        y = Value(2.0) * 3
    y.backward()


def _set_requires_grad_on_a_result():
    (Value(1.0) * 2).requires_grad = False


x = Value(1.0)

# (case, call, exception, message it matches)
ERRORS = [
    (
        "Value('abc')",
        lambda: Value("abc"),
        TypeError,
        "Value: data must be a real number, got str 'abc'",
    ),
    ("Value(None)", lambda: Value(None), TypeError, "got NoneType None"),
    ("Value(1+2j)", lambda: Value(1 + 2j), TypeError, r"got complex \(1\+2j\)"),
    ("Value(Value(1))", lambda: Value(Value(1.0)), TypeError, "already a Value; use value.detach"),
    ("v + 'abc'", lambda: x + "abc", TypeError, "add: expected a number, got str 'abc'"),
    ("'abc' + v", lambda: "abc" + x, TypeError, "add: expected a number, got str 'abc'"),
    ("v * None", lambda: x * None, TypeError, "mul: expected a number, got NoneType None"),
    ("v - [1]", lambda: x - [1], TypeError, r"sub: expected a number, got list \[1\]"),
    ("v ** '2'", lambda: x ** "2", TypeError, "pow.*: expected a number, got str '2'"),
    ("'2' ** v", lambda: "2" ** x, TypeError, "pow: expected a number, got str '2'"),
    (
        "leaky_relu('a')",
        lambda: x.leaky_relu("a"),
        TypeError,
        "leaky_relu: expected a number, got str 'a'",
    ),
    (
        "sum with a str",
        lambda: Value.sum([x, "a"]),
        TypeError,
        "sum: unsupported operand 'a' of type str",
    ),
    (
        "dot with a str",
        lambda: Value.dot([x], ["a"]),
        TypeError,
        "dot: unsupported operand 'a' of type str",
    ),
    ("log(0)", lambda: Value(0.0).log(), ValueError, r"log: input must be > 0, got 0\.0"),
    ("log(-1)", lambda: Value(-1.0).log(), ValueError, r"log: input must be > 0, got -1\.0"),
    ("sqrt(-1)", lambda: Value(-1.0).sqrt(), ValueError, r"sqrt: input must be >= 0, got -1\.0"),
    (
        "0 ** -1",
        lambda: Value(0.0) ** -1,
        ZeroDivisionError,
        r"pow: 0 raised to a negative power \(-1\.0\)",
    ),
    (
        "0 ** Value(-1)",
        lambda: Value(0.0) ** Value(-1.0),
        ZeroDivisionError,
        "pow: 0 raised to a negative power",
    ),
    (
        "(-8) ** (1/3)",
        lambda: Value(-8.0) ** (1 / 3),
        ValueError,
        "pow: negative base -8.0 with non-integer exponent",
    ),
    ("x / 0", lambda: x / 0, ZeroDivisionError, r"div: division by zero \(1\.0 / 0\)"),
    (
        "x / Value(0)",
        lambda: x / Value(0.0),
        ZeroDivisionError,
        r"div: division by zero \(1\.0 / 0\)",
    ),
    (
        "1 / Value(0)",
        lambda: 1 / Value(0.0),
        ZeroDivisionError,
        r"div: division by zero \(1\.0 / 0\)",
    ),
    (
        "dot lengths",
        lambda: Value.dot([x, x], [x]),
        ValueError,
        r"dot: lengths differ \(2 weights, 1 inputs\)",
    ),
    (
        "dots row length",
        lambda: Value.dots([[x], [x, x]], [x]),
        ValueError,
        r"dots: row 1 has 2 weights for 1 inputs",
    ),
    (
        "dots bias count",
        lambda: Value.dots([[x], [x]], [x], [x]),
        ValueError,
        r"dots: 2 rows of weights but 1 biases",
    ),
    (
        "dots with a string input",
        lambda: Value.dots([[x]], ["a"]),
        TypeError,
        r"dot: unsupported operand 'a' of type str",
    ),
    (
        "backward on a constant",
        _constant_backward,
        RuntimeError,
        "backward: this Value requires no gradient",
    ),
    (
        "backward on a no_grad result",
        _no_grad_backward,
        RuntimeError,
        r"computed under no_grad\(\)",
    ),
    (
        "d/dy x ** y at x < 0",
        lambda: (Value(-2.0) ** Value(2.0)).backward(),
        ValueError,
        r"backward through pow\(-2\.0, 2\.0\) failed: log: input must be > 0, got -2\.0",
    ),
    (
        "requires_grad on a result",
        _set_requires_grad_on_a_result,
        ValueError,
        "requires_grad can only be set on a leaf Value",
    ),
    (
        "grad_outputs count",
        lambda: grad([x * 2, x * 3], x, grad_outputs=[1.0]),
        ValueError,
        "grad: 2 outputs but 1 grad_outputs",
    ),
    (
        "grad of a number",
        lambda: grad(x * 2, [x, 2.0]),
        TypeError,
        "grad: expected Values, got float 2.0",
    ),
    (
        "grad of a constant",
        lambda: grad(Value(1.0, requires_grad=False), x),
        RuntimeError,
        "grad: output .* requires no gradient",
    ),
    (
        "hvp vector length",
        lambda: hvp(lambda v: v[0] * v[1], [1.0, 2.0], [1.0]),
        ValueError,
        "hvp: vector has 1 entries, point has 2",
    ),
    (
        "hessian of a number",
        lambda: hessian(lambda v: 1.0, [1.0]),
        TypeError,
        "hessian: f must return a Value, got float 1.0",
    ),
    (
        "jacobian with a number",
        lambda: jacobian(lambda v: [v[0], 2.0], [1.0]),
        TypeError,
        "jacobian: f must return a Value, got float 2.0",
    ),
    (
        "hessian at strings",
        lambda: hessian(lambda v: v[0], ["a"]),
        TypeError,
        "hessian: the point must be a sequence of numbers",
    ),
]


@pytest.mark.parametrize("case, call, error, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_error(case, call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- detect_anomaly -------------------------------------------------------------------

INF = math.inf


def test_anomaly_in_forward_names_the_op_and_the_line():
    x = Value(1000.0)
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        line = _next_line()
        x.exp()
    assert re.search(
        rf"anomaly: exp\(1000\.0\) produced inf in forward, at {HERE}:{line}\b", str(info.value)
    ), str(info.value)


# (case, f, op and operands the message names, in the order they were written)
FORWARD_ANOMALIES = [
    ("inf - inf", lambda: Value(INF) - Value(INF), r"sub\(inf, inf\)"),
    ("exp overflow", lambda: Value(800.0).exp(), r"exp\(800\.0\)"),
    ("mul overflow", lambda: Value(1e200) * Value(1e200), r"mul\(1e\+200, 1e\+200\)"),
    ("mul by a number", lambda: Value(1e300) * 1e10, r"mul\(1e\+300, 10000000000\.0\)"),
    ("sum overflow", lambda: Value.sum([Value(1e308), Value(1e308)]), r"sum\(1e\+308, 1e\+308\)"),
    ("number ** Value", lambda: 2.0 ** Value(5000.0), r"pow\(2\.0, 5000\.0\)"),
    ("number - Value", lambda: 1e308 - Value(-1e308), r"sub\(1e\+308, -1e\+308\)"),
]


@pytest.mark.parametrize("case, f, named", FORWARD_ANOMALIES, ids=[a[0] for a in FORWARD_ANOMALIES])
def test_anomaly_in_forward(case, f, named):
    """The first NaN or inf stops the forward pass: named with its op, its operands in
    the order written, and this file's line."""
    with detect_anomaly(), pytest.raises(FloatingPointError, match=rf"anomaly: {named}.*{HERE}"):
        f()


def test_without_anomaly_detection_nothing_is_checked():
    assert Value(1000.0).exp().data == INF
    assert math.isnan((Value(INF) - Value(INF)).data)


def test_anomaly_in_backward_names_the_op_and_where_the_node_was_created():
    x = Value(5e-324)  # the smallest float: d log / dx = 1 / x overflows
    with detect_anomaly():
        line = _next_line()
        y = x.log()
        with pytest.raises(FloatingPointError) as info:
            y.backward()
    assert re.search(
        rf"backward through log\(5e-324\) produced gradient inf; the node was "
        rf"created at {HERE}:{line}\b",
        str(info.value),
    ), str(info.value)


def test_anomaly_names_the_users_line_for_a_node_a_layer_made():
    """A NaN made inside nn (a Linear's weighted sum of inf and -inf) is reported at the
    line of the user's code that called the layer, not at a line inside the package."""
    layer = nn.Linear(2, 1, "linear", seed=0)
    for w in layer.neurons[0].w:
        w.data = 1.0
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        line = _next_line()
        layer([math.inf, -math.inf])
    assert re.search(rf"{HERE}:{line}\b", str(info.value)), str(info.value)


def test_anomaly_in_backward_at_sqrt_of_zero():
    """d sqrt(x) / dx = 1 / (2 sqrt(x)) is infinite at 0: anomaly mode names sqrt and the
    line that created the node, as it does for every other infinite gradient."""
    x = Value(0.0)
    with detect_anomaly():
        line = _next_line()
        y = x.sqrt()
        with pytest.raises(ArithmeticError, match=rf"sqrt.*{HERE}:{line}\b"):
            y.backward()


def test_anomaly_in_backward_for_a_node_created_before():
    y = Value(5e-324).log()
    with (
        detect_anomaly(),
        pytest.raises(FloatingPointError, match=r"created at <created outside detect_anomaly"),
    ):
        y.backward()


def test_anomaly_mode_never_silently_changes_gradients():
    """An infinite upstream gradient: anomaly mode reports it before any leaf changes;
    without anomaly mode it reaches the leaves."""
    x = Value(2.0)
    y = x * 3
    y.backward()
    with (
        detect_anomaly(),
        pytest.raises(FloatingPointError, match=r"^anomaly: backward started with gradient inf$"),
    ):
        y.backward(INF)
    assert x.grad == 3.0
    y.backward(INF)
    assert x.grad == INF


def test_anomaly_mode_ends_with_its_block():
    with pytest.raises(FloatingPointError), detect_anomaly():
        Value(1000.0).exp()
    assert Value(1000.0).exp().data == INF


# --- gradcheck and gradgradcheck on wrong rules ---------------------------------------

# sin with the derivative of -cos: wrong first derivative.
WRONG_FIRST = Op("wrong_sin", "sin", 1, lambda m, x: m.sin(x), lambda m, g, out, x: (g * m.sin(x),))


def _cos_of_constant(m, g, out, x):
    # Right on floats (first order), but on Values cos(x) is cut from x, so the
    # second derivative it gives is 0 instead of -sin(x).
    return (g * m.cos(x if isinstance(x, float) else x.detach()),)


WRONG_SECOND = Op("wrong_sin2", "sin", 1, lambda m, x: m.sin(x), _cos_of_constant)


def _table(error: GradcheckError) -> list[tuple[int, str, float, float, float]]:
    """The rows of a GradcheckError's table: (row, input, analytic, numeric, abs error)."""
    lines = str(error).splitlines()
    assert lines[1].split() == ["row", "input", "analytic", "numeric", "abs", "error"]
    return [
        (int(r), i, float(a), float(n), float(e))
        for r, i, a, n, e in (line.split() for line in lines[2:])
    ]


def test_gradcheck_reports_a_wrong_derivative_in_a_table():
    def f(xs):
        return [record(WRONG_FIRST, [xs[0]]), xs[0] * xs[1]]

    with pytest.raises(
        GradcheckError,
        match=r"gradcheck failed for 1 of 4 entries \(eps=1e-06, "
        r"atol=1e-05, rtol=0\.0001\):",
    ) as info:
        gradcheck(f, [0.7, 2.0])
    ((row, column, analytic, numeric, error),) = _table(info.value)
    assert (row, column) == (0, "x0")
    assert math.isclose(analytic, math.sin(0.7), rel_tol=1e-7)
    assert math.isclose(numeric, math.cos(0.7), rel_tol=1e-7)
    assert math.isclose(error, abs(math.sin(0.7) - math.cos(0.7)), rel_tol=1e-2)
    assert isinstance(info.value, AssertionError)


def test_gradgradcheck_reports_a_wrong_second_derivative():
    def f(xs):
        return record(WRONG_SECOND, xs)

    assert gradcheck(f, [0.7])
    with pytest.raises(GradcheckError, match=r"gradgradcheck failed for 1 of 1 entries") as info:
        gradgradcheck(f, [0.7])
    ((row, column, analytic, numeric, _),) = _table(info.value)
    assert (row, column, analytic) == (0, "x0", 0.0)
    assert math.isclose(numeric, -math.sin(0.7), rel_tol=1e-5)


def test_checks_pass_for_right_rules():
    assert gradcheck(lambda xs: xs[0].sin() * xs[1], [0.7, 2.0])
    assert gradgradcheck(lambda xs: xs[0].sin() * xs[1], [0.7, 2.0])
