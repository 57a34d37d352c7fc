"""Tests that pin what mutation testing found unpinned in the engine core.

Each test is named after the behaviour a surviving mutant changed without any test
failing (``python tools/mutate.py``; docs/mutation.md lists them). PyTorch's float64
numbers are kept as literals.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math

import numpy as np
import pytest

from tapegrad import (
    GradcheckError,
    Value,
    backward,
    compile,
    detect_anomaly,
    grad,
    gradcheck,
    gradgradcheck,
    gradient_and_hessian,
    hessian,
    hessian_wrt,
    hvp,
    jacobian,
    no_grad,
    numeric_grad,
    primitive,
    topological_order,
)
from tapegrad.autograd import ops
from tapegrad.autograd import value as value_module
from tapegrad.autograd.mathlib import ArrayMath, FloatMath

# --- a node's fixed parameter -----------------------------------------------------


def test_arg_of_a_leaf_and_of_a_constant_is_none():
    assert Value(2.0).arg is None
    assert Value(2.0, requires_grad=False).arg is None
    with no_grad():
        constant = Value(2.0) ** 3.0  # an op with a parameter, recorded as a constant
    assert (constant.data, constant.arg, constant.op) == (8.0, None, None)
    assert (Value(2.0) ** 3.0).arg == 3.0


@pytest.mark.parametrize(
    ("make", "position", "data"),
    [
        (lambda x: 2 + x, 0, 7.0),
        (lambda x: x + 2, 1, 7.0),
        (lambda x: 2 * x, 0, 10.0),
        (lambda x: x * 2, 1, 10.0),
        (lambda x: 2 - x, 0, -3.0),
        (lambda x: x - 2, 1, 3.0),
        (lambda x: 2 / x, 0, 0.4),
        (lambda x: x / 2, 1, 2.5),
        (lambda x: 2**x, 0, 32.0),
    ],
)
def test_a_number_operand_is_recorded_where_it_was_written(make, position, data):
    y = make(Value(5.0))
    assert (y.data, y.arg, y.primitive.constant_at) == (data, 2.0, position)
    assert y.primitive is ops.WITH_CONSTANT[(y.primitive.base.name, position)]


# --- anomaly mode ----------------------------------------------------------------


def test_anomaly_reports_the_fixed_parameter_of_the_op():
    with detect_anomaly(), pytest.raises(FloatingPointError) as caught:
        Value(1e200) ** 2.0
    assert str(caught.value).startswith("anomaly: powc(1e+200, 2.0) produced inf in forward")


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (lambda x: 1e300 * x, "mul(1e+300, 10000000000.0)"),
        (lambda x: x * 1e300, "mul(10000000000.0, 1e+300)"),
    ],
)
def test_anomaly_shows_a_number_operand_in_its_place(make, shown):
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"^anomaly: mul\(") as caught:
        make(Value(1e10))
    assert shown in str(caught.value)
    with detect_anomaly(), pytest.raises(FloatingPointError) as caught:
        1e300 / Value(1e-300)
    assert "div(1e+300, 1e-300) produced inf" in str(caught.value)


def test_anomaly_accepts_an_infinity_from_an_infinite_parameter():
    with detect_anomaly():
        y = Value(2.0) ** math.inf
        z = Value(0.5).leaky_relu(math.inf)
    assert (y.data, z.data) == (math.inf, 0.5)


def test_anomaly_mode_returns_constants_too():
    with detect_anomaly():
        c = Value(2.0, requires_grad=False) * 3.0
        with no_grad():
            d = Value(2.0) + 1.0
    assert (c.data, c.requires_grad, d.data, d.requires_grad) == (6.0, False, 3.0, False)


@pytest.mark.parametrize("seed", [math.inf, -math.inf, math.nan])
def test_anomaly_reports_a_non_finite_seed(seed):
    y = Value(3.0) * Value(2.0)
    with detect_anomaly(), pytest.raises(FloatingPointError) as caught:
        y.backward(seed)
    assert str(caught.value) == f"anomaly: backward started with gradient {seed!r}"


def test_anomaly_accepts_a_finite_seed():
    x = Value(3.0)
    with detect_anomaly():
        (x * 2.0).backward(0.5)
    assert x.grad == 1.0


# --- kinks and overflows, pinned to PyTorch ----------------------------------------


@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_leaky_relu_derivative_at_zero_is_the_slope_in_both_modes(slope):
    # torch.nn.functional.leaky_relu(tensor(0.0), slope).backward(): grad == slope
    x = Value(0.0)
    x.leaky_relu(slope).backward()
    assert x.grad == slope
    w = Value(0.0)
    loss = compile(lambda s: (s + w).leaky_relu(slope), [w])(np.array([0.0]))
    assert (loss, w.grad) == (0.0, slope)


@pytest.mark.parametrize(
    ("base", "exponent", "expected"),
    # torch.pow(tensor(base, float64), exponent)
    [(-1e200, 3.0, -math.inf), (-1e200, 2.0, math.inf), (1e200, 3.0, math.inf)],
)
def test_the_sign_of_an_overflowing_power(base, exponent, expected):
    assert (Value(base) ** exponent).data == expected


# --- compiled forward refuses what eager mode refuses -----------------------------


@pytest.mark.parametrize(
    ("fn", "error", "message"),
    [
        (lambda x, w: (x * w) ** -1.0, ZeroDivisionError, "pow: 0 raised to a negative power"),
        (lambda x, w: x ** (w * -1.0), ZeroDivisionError, "pow: 0 raised to a negative power"),
        (lambda x, w: w / x, ZeroDivisionError, r"div: division by zero \(1.0 / 0\)"),
        (lambda x, w: (x * w).log(), ValueError, "log: input must be > 0, got 0.0"),
    ],
)
def test_compiled_forward_raises_at_a_domain_error(fn, error, message):
    w = Value(1.0)
    compiled = compile(lambda x: fn(x, w), [w])
    assert compiled.forward(np.array([2.0])).tolist() == [fn(Value(2.0), w).data]
    with pytest.raises(error, match=message):
        compiled.forward(np.array([2.0, 0.0]))


def test_compiled_forward_takes_zero_to_a_positive_power():
    w = Value(1.0)
    compiled = compile(lambda x: (x * w) ** 0.5 + 0.0**w, [w])
    assert compiled.forward(np.array([4.0, 0.0])).tolist() == [2.0, 0.0]


# --- functional: constant results, one-shot iterables -----------------------------


def test_hvp_of_a_function_that_is_constant_at_the_point():
    assert hvp(lambda xs: xs[0].detach() * 2.0, [1.0, 2.0], [1.0, 1.0]) == [0.0, 0.0]
    # Linear: the gradient graph is a constant, its derivative zeros.
    assert hvp(lambda xs: 3.0 * xs[0] + xs[1], [1.0, 2.0], [1.0, 1.0]) == [0.0, 0.0]


def test_gradient_and_hessian_of_a_constant_loss():
    params = [Value(1.0), Value(2.0)]
    constant = Value(5.0, requires_grad=False)
    assert gradient_and_hessian(constant, params) == ([0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]])
    linear = 3.0 * params[0] + params[1]
    assert gradient_and_hessian(linear, params) == ([3.0, 1.0], [[0.0, 0.0], [0.0, 0.0]])


def test_one_shot_iterables_as_points_and_params():
    f = lambda xs: xs[0] * xs[0] * xs[1]
    point = [3.0, 2.0]
    assert jacobian(f, iter(point)) == [[12.0, 9.0]]
    assert hessian(f, iter(point)) == [[4.0, 6.0], [6.0, 0.0]]
    assert hvp(f, iter(point), iter([1.0, 0.0])) == [4.0, 6.0]
    assert gradcheck(f, iter(point))
    assert gradgradcheck(f, (x for x in point))
    assert numeric_grad(f, iter(point)) == pytest.approx([12.0, 9.0], abs=1e-6)
    a, b = Value(3.0), Value(2.0)
    loss = f([a, b])
    assert gradient_and_hessian(loss, iter([a, b])) == ([12.0, 9.0], [[4.0, 6.0], [6.0, 0.0]])
    assert hessian_wrt(loss, (p for p in [a, b])) == [[4.0, 6.0], [6.0, 0.0]]


# --- gradient checks: eps and tolerance --------------------------------------------


@pytest.mark.parametrize("eps", [math.inf, -math.inf, math.nan, 0.0, -1e-6, True, "1e-6"])
def test_numeric_grad_refuses_an_eps_that_is_not_a_positive_finite_number(eps):
    with pytest.raises(ValueError, match="numeric_grad: eps must be a positive number, got"):
        numeric_grad(lambda xs: xs[0], [1.0], eps=eps)


def test_numeric_grad_is_the_central_difference():
    # eps a power of 2 and f a cubic: every rounding is exact; the central
    # difference of x**3 at 1 with eps 0.5 is ((1.5**3 - 0.5**3) / 1.0) = 3.25.
    assert numeric_grad(lambda xs: xs[0] ** 3.0, [1.0], eps=0.5) == [3.25]
    assert numeric_grad(lambda xs: xs[0] * 3.0 + xs[1], [0.0, 7.0], eps=0.25) == [3.0, 1.0]


def test_the_tolerance_is_inclusive():
    # x**3 at 0 with eps 0.5: analytic 0, numeric 0.25 exactly, so the error is 0.25.
    cube = lambda xs: xs[0] ** 3.0
    assert gradcheck(cube, [0.0], eps=0.5, atol=0.25, rtol=0.0)
    assert gradcheck(cube, [0.0], eps=0.5, atol=0.0, rtol=1.0)
    assert gradcheck(cube, [0.0], eps=0.5, atol=0.125, rtol=0.5)
    assert not gradcheck(cube, [0.0], eps=0.5, atol=0.0, rtol=0.99, raise_exception=False)
    assert not gradcheck(cube, [0.0], eps=0.5, atol=0.2, rtol=0.0, raise_exception=False)
    assert gradcheck(lambda xs: xs[0] * 3.0, [0.0], eps=0.5, atol=0.0, rtol=0.0)
    with pytest.raises(GradcheckError) as caught:
        gradcheck(cube, [0.0], eps=0.5, atol=0.2, rtol=0.0)
    assert str(caught.value).splitlines()[0] == (
        "gradcheck failed for 1 of 1 entries (eps=0.5, atol=0.2, rtol=0):"
    )
    assert str(caught.value).splitlines()[2].split() == ["0", "x0", "0", "0.25", "0.25"]


# --- the operator methods made from the op table ------------------------------------


def test_each_operator_method_has_its_own_name_and_doc():
    # help(Value) and tracebacks show these: each factory names what it made.
    assert (Value.__add__.__name__, Value.__add__.__doc__) == ("__add__", "self + other.")
    assert (Value.__radd__.__name__, Value.__radd__.__doc__) == ("__radd__", "other + self.")
    assert (Value.exp.__name__, Value.exp.__doc__) == ("exp", "e ** self.")
    assert Value.leaky_relu.__name__ == "leaky_relu"
    assert Value.leaky_relu.__doc__ == "self if self > 0 else slope * self."
    # Methods of ops whose derivative can raise are wrapped; the wrapper keeps both.
    assert (Value.sqrt.__name__, Value.sqrt.__doc__) == (
        "sqrt",
        "Square root; ValueError for self < 0.",
    )
    assert (Value.__rpow__.__name__, Value.__rpow__.__doc__) == (
        "__rpow__",
        "other ** self, for a number other.",
    )


def test_a_numpy_scalar_on_the_left_defers_to_value():
    y = np.float64(2.0) * Value(3.0)
    assert isinstance(y, Value)
    assert (y.data, y.op, y.arg, y.primitive.constant_at) == (6.0, "mul", 2.0, 0)


def test_hvp_refuses_a_vector_of_another_length():
    f = lambda xs: xs[0] * xs[1]
    with pytest.raises(ValueError, match=r"^hvp: vector has 1 entries, point has 2$"):
        hvp(f, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"^hvp: vector has 3 entries, point has 2$"):
        hvp(f, [1.0, 2.0], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("gil", [True, False])
def test_both_data_setters_check_convert_and_stamp(gil):
    # The setter for Python without the GIL is not the one this interpreter uses:
    # called directly, it must do what the other does.
    from tapegrad.autograd import value as value_module

    setter = value_module._data_setter(gil)
    v = Value(1.0)
    setter(v, 3)
    assert (v.data, type(v.data), v._version) == (3.0, float, value_module._clock)
    with pytest.raises(TypeError, match="^data: expected a number, got str '2'$"):
        setter(v, "2")
    y = v * 2.0
    setter(y, 1.0)
    assert (y.data, y._version) == (1.0, -value_module._clock)


@pytest.mark.parametrize(
    ("ws", "xs", "message"),
    [
        ("ab", [1.0, 2.0], "weights must be a list of Values or numbers, got str 'ab'"),
        (b"ab", [1.0, 2.0], "weights must be a list of Values or numbers, got bytes b'ab'"),
        (5, [1.0], "weights must be a list of Values or numbers, got int 5"),
        ([1.0], "x", "inputs must be a list of Values or numbers, got str 'x'"),
        ([Value(1.0)], 3, "inputs must be a list of Values or numbers, got int 3"),
        ([Value(1.0)], np.float64(3.0), "inputs must be a list of Values or numbers, got float64"),
    ],
)
def test_dot_refuses_text_and_unsized_operands_naming_them(ws, xs, message):
    with pytest.raises(TypeError, match="^dot: " + message):
        Value.dot(ws, xs)


def test_a_primitive_of_three_inputs_backpropagates_to_each():
    # Ops of one or two inputs have accumulators of their own; three take the general one.
    fma = primitive(
        "fma_three",
        lambda m, a, b, c: a * b + c,
        lambda m, g, out, a, b, c: (g * b, g * a, g),
    )
    a, b, c = Value(2.0), Value(-3.0), Value(0.5)
    frozen = Value(4.0, requires_grad=False)
    y = fma(a, b, c) * 2.0 + fma(a, frozen, c)
    y.backward()
    assert (y.data, a.grad, b.grad, c.grad) == (-2.5, -2.0, 4.0, 3.0)


# --- backward's and grad's arguments ------------------------------------------------


def test_one_shot_iterables_as_outputs_and_inputs_of_backward_and_grad():
    x, y = Value(2.0), Value(3.0)
    backward(iter([x * y, x + y]), (s for s in [1.0, 2.0]))
    assert (x.grad, y.grad) == (5.0, 4.0)
    assert grad(iter([x * y]), (v for v in [x, y])) == (3.0, 2.0)


@pytest.mark.parametrize("where", ["backward", "grad"])
def test_a_zero_d_array_of_outputs_is_refused_naming_the_call(where):
    x = Value(2.0)
    call = {"backward": lambda: backward(np.array(1.0)), "grad": lambda: grad(x, np.array(1.0))}
    with pytest.raises(
        TypeError, match=rf"^{where}: expected a Value or a sequence of Values, got ndarray"
    ):
        call[where]()


@pytest.mark.parametrize("where", ["backward", "grad"])
def test_a_seed_too_large_for_a_float_is_refused_naming_the_call(where):
    x = Value(2.0)
    y = x * x
    call = {
        "backward": lambda: backward(y, 10**400),
        "grad": lambda: grad(y, x, grad_outputs=[10**400]),
    }
    with pytest.raises(
        OverflowError, match=rf"^{where}: the gradient 1000+ is too large for a float$"
    ):
        call[where]()
    assert x.grad is None


def test_create_graph_of_a_linear_function_gives_constants():
    # The seed is a constant: the gradient of 3x is the constant 3, not a function of it.
    x = Value(2.0)
    (g,) = grad(3.0 * x, [x], create_graph=True)
    (h,) = grad(3.0 * x, [x], grad_outputs=[2.0], create_graph=True)
    assert (g.data, g.requires_grad, h.data, h.requires_grad) == (3.0, False, 6.0, False)


def test_a_primitive_rule_may_use_pow_to_any_order():
    cube = primitive(
        "cube_by_pow",
        lambda m, x: m.pow(x, 3.0),
        lambda m, g, out, x: (g * 3.0 * m.pow(x, 2.0),),
    )
    assert hessian(lambda xs: cube(xs[0]), [2.0]) == [[12.0]]


def test_the_value_namespace_names_its_functions():
    from tapegrad.autograd.mathlib import VALUES

    assert [VALUES.step.__name__, VALUES.sign.__name__, VALUES.exp.__name__] == [
        "step",
        "sign",
        "exp",
    ]


@pytest.mark.parametrize(
    # torch.sigmoid(tensor(x, float64)): no overflow at either end, rounded as PyTorch
    ("x", "expected"),
    [
        (800.0, 1.0),
        (-800.0, 0.0),
        (0.0, 0.5),
        (3.0, 0.9525741268224334),
        (0.025, 0.5062496744995104),
    ],
)
def test_sigmoid_at_both_ends_and_between(x, expected):
    assert Value(x).sigmoid().data == expected


def test_a_primitive_rule_may_divide_to_any_order():
    recip = primitive(
        "recip_by_div",
        lambda m, x: m.div(1.0, x),
        lambda m, g, out, x: (m.div(-g, x * x),),
    )
    assert hessian(lambda xs: recip(xs[0]), [2.0]) == [[0.25]]  # d2/dx2 1/x = 2 / x**3


def test_the_value_namespace_has_no_other_functions():
    from tapegrad.autograd.mathlib import VALUES

    for name in ("bogus", "_private"):
        with pytest.raises(AttributeError, match=f"^ValueMath has no function '{name}'$"):
            getattr(VALUES, name)


def test_the_slope_of_a_power_zero_is_zero_in_compiled_mode():
    # torch: x = tensor(2.0); (x ** 0.0).backward() gives x.grad == 0
    w = Value(1.0)
    loss = compile(lambda x: (x * w) ** 0.0 + (x * w) ** (w * 0.0), [w])(np.array([2.0]))
    assert (loss, w.grad) == (2.0, 0.0)


def test_the_gradient_checks_default_tolerances():
    # Documented defaults: first derivatives as PyTorch's gradcheck (eps 1e-6, atol 1e-5),
    # rtol 1e-4; second derivatives by differences of the gradient, ten times looser.
    def defaults(function):
        return {
            name: p.default
            for name, p in inspect.signature(function).parameters.items()
            if name in ("eps", "atol", "rtol")
        }

    assert defaults(gradcheck) == {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-4}
    assert defaults(gradgradcheck) == {"eps": 1e-5, "atol": 1e-4, "rtol": 1e-3}
    assert defaults(numeric_grad) == {"eps": 1e-6}


# --- the arrays' namespace against the floats' ---------------------------------------

POINTS = (-2.0, -0.5, 0.0, 0.5, 2.0, math.nan)
SECOND = (-1.0, 0.0, 0.5, 1.0, 2.0)  # slopes, exponents, divisors, the y of xlog


def _on_floats(function, *args):
    """function's result on floats, or the type of the error it raises."""
    try:
        return function(*args)
    except (ArithmeticError, ValueError) as error:
        return type(error)


def _on_arrays(function, *args):
    try:
        return float(function(*(np.array([a]) for a in args))[0])
    except (ArithmeticError, ValueError) as error:
        return type(error)


@pytest.mark.parametrize("name", sorted(n for n in dir(FloatMath) if not n.startswith("_")))
def test_array_math_agrees_with_float_math_elementwise(name):
    """Every function of the arrays' namespace gives, element by element, what the
    floats' namespace gives, or raises the same error: at kinks, zeros and NaN too."""
    on_floats, on_arrays = getattr(FloatMath, name), getattr(ArrayMath, name)
    arity = len(inspect.signature(on_floats).parameters)
    cases = [(x,) for x in POINTS] if arity == 1 else list(itertools.product(POINTS, SECOND))
    for args in cases:
        want, got = _on_floats(on_floats, *args), _on_arrays(on_arrays, *args)
        if isinstance(want, float) and math.isnan(want):
            assert isinstance(got, float) and math.isnan(got), (name, args, got)
        else:
            assert got == want, (name, args, got, want)


# --- backward's passes ----------------------------------------------------------------


def test_topological_order_of_a_graph_whose_numbers_changed_still_lists_it():
    # Only backward, grad and jvp refuse a changed graph; listing it is harmless.
    x = Value(1.0)
    y = x * 2.0
    x.data = 3.0
    assert topological_order(y) == [y]
    with pytest.raises(RuntimeError, match="backward"):
        y.backward()


def test_anomaly_mode_seeds_a_leaf_root_and_keeps_each_pass_apart():
    x = Value(2.0)
    with detect_anomaly():
        x.backward()
        x.backward()
    assert x.grad == 2.0  # a leaf accumulates, from None
    w = Value(2.0)
    y = w * w
    z = y * 3.0
    with detect_anomaly():
        z.backward()
        z.backward()
    assert (z.grad, y.grad, w.grad) == (1.0, 3.0, 24.0)  # computed nodes: this pass only


def test_a_pass_failing_half_way_names_the_node(monkeypatch):
    # With no fallible node noted, backward skips its check before writing; a rule that
    # raises in the pass itself is still reported naming its node.
    x = Value(0.0)
    y = x.sqrt() * 2.0
    monkeypatch.setattr(value_module, "_fallible", False)
    with pytest.raises(ZeroDivisionError, match=r"backward through sqrt\(0\.0\) failed"):
        y.backward()


def test_an_op_table_entry_cannot_be_changed_and_records_with_its_own_function():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ops.ADD.name = "plus"  # type: ignore[misc]
    # An op that is one function of the namespace records a node by calling that
    # function itself, not the table's wrapper around it.
    assert ops.EXP.on_floats is FloatMath.exp
    assert ops.SQRT.on_floats is FloatMath.sqrt


def test_an_exponent_that_requires_no_gradient_is_a_number_in_any_mode():
    x = Value(2.0)
    with detect_anomaly():  # a mode switched: the slower path decides
        y = x ** Value(2.0, requires_grad=False)
    assert (y.op, y.arg) == ("powc", 2.0)


def test_a_frozen_exponent_is_read_again_by_compiled_mode():
    # Traced as a parameter, not folded in as the number it held at tracing.
    e, w = Value(2.0, requires_grad=False), Value(1.0)
    f = compile(lambda x: (x[0] * w) ** e, [w, e])
    X = np.array([[3.0]])
    assert f.forward(X).tolist() == [9.0]
    e.data = 3.0
    assert f.forward(X).tolist() == [27.0]
