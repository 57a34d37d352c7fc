"""tapegrad.testing: check_grads catches wrong first and second derivatives in both modes
and passes right ones; the strategies draw what they promise; hypothesis stays an
optional import."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from helpers import softplus
from hypothesis import assume, find, given
from hypothesis import strategies as st

from tapegrad import GradcheckError, Value, nn, primitive
from tapegrad.testing import GradientCheckError, check_grads
from tapegrad.testing.reference import apply, reference
from tapegrad.testing.strategies import (
    SMOOTH_ACTIVATIONS,
    Node,
    batches,
    expressions,
    in_domain,
    mlp_shapes,
    mlps,
)

# Right on floats, wrong on Values: float(x) is a constant there, so the derivative of
# the rule, 3x instead of 6x, is wrong while the first derivative 3x^2 is right.
cube = primitive(
    "cube",
    forward=lambda m, x: x * x * x,
    grad=lambda m, g, out, x: (g * 3.0 * x * float(x),),
)
# Wrong at first order: 2.1 x for 2 x.
off_square = primitive(
    "off_square", forward=lambda m, x: x * x, grad=lambda m, g, out, x: (g * 2.1 * x,)
)
kinked = primitive(
    "kinked",
    forward=lambda m, x: m.abs(x) * x,
    grad=lambda m, g, out, x: (g * 2.0 * m.abs(x),),
    domain=(-2.0, 2.0),
    avoid=(0.0, 1.5),
)


@pytest.mark.parametrize(
    ("f", "args"),
    [
        (lambda a, b: (a * b).sin() + a.exp() / b, [0.3, 1.2]),
        (lambda a, b: [(a * b).tanh(), a**b, 2.0], [0.7, 1.6]),  # several outputs
        (lambda x: softplus(x * x) * cube(1.0), [0.4]),  # cube of a constant: no rule on Values
        (lambda x, y: Value.dot([x, y], [y.sigmoid(), x.log()], 0.5), [1.5, -0.5]),
        (lambda x: 3.0, [1.0]),  # a constant function
    ],
)
def test_right_functions_pass_at_order_two_in_both_modes(f, args):
    assert check_grads(f, args) is None
    check_grads(f, args, order=3, modes=("rev",))


def test_a_wrong_first_derivative_fails_naming_order_mode_and_numbers():
    with pytest.raises(GradientCheckError) as caught:
        check_grads(off_square, [0.7])
    error = caught.value
    assert (error.order, error.mode, error.point) == (1, "fwd", [0.7])
    (v,) = error.direction
    assert error.computed == pytest.approx(2.1 * 0.7 * v, rel=1e-12)
    assert error.expected == pytest.approx(2.0 * 0.7 * v, rel=1e-9)
    assert str(error).startswith(
        f"check_grads: order 1, mode fwd: along direction [{v:.6g}] at (0.7), forward mode "
        f"gives {error.computed!r}, central differences give {error.expected!r}"
    )
    with pytest.raises(GradientCheckError, match="order 1, mode rev: .* reverse mode gives"):
        check_grads(off_square, [0.7], modes=("rev",))
    assert isinstance(error, GradcheckError) and isinstance(error, AssertionError)


def test_a_wrong_second_derivative_fails_at_order_two_only():
    check_grads(cube, [0.7], order=1)  # the first derivative is right
    for modes in (("fwd",), ("rev",), ("fwd", "rev")):
        with pytest.raises(GradientCheckError) as caught:
            check_grads(cube, [0.7], modes=modes)
        error = caught.value
        assert error.order == 2 and error.mode == modes[0] and len(error.direction) == 1
        # (d/dx)(3 x * x0) w = 3 x0 w, against 6 x w: half of the true number
        assert error.computed == pytest.approx(error.expected / 2, rel=1e-8)
        assert f"order 2, mode {modes[0]} (of the {modes[0]} derivative along [" in str(error)


def test_forward_and_reverse_are_compared_with_each_other():
    # A function that changes between calls: the finite differences (calls 2-5) see x,
    # forward mode (call 6) 0.99999 x and reverse mode (call 7) 1.00001 x. Each is
    # within rtol of central differences, but not of the other.
    calls = []

    def drifting(x):
        calls.append(1)
        scale = {6: 1.0 - 1e-5, 7: 1.0 + 1e-5}.get(len(calls), 1.0)
        return x * scale

    with pytest.raises(GradientCheckError, match="mode fwd/rev: .*forward mode gives") as caught:
        check_grads(drifting, [1.0], order=1, atol=0.0, rtol=1.5e-5)
    assert caught.value.mode == "fwd/rev"


def test_several_inputs_use_random_directions_from_the_seed():
    wrong_in_y = lambda x, y: x * off_square(y)
    with pytest.raises(GradientCheckError) as first:
        check_grads(wrong_in_y, [0.5, 1.5], order=1, seed=1)
    with pytest.raises(GradientCheckError) as again:
        check_grads(wrong_in_y, [0.5, 1.5], order=1, seed=1)
    assert first.value.direction == again.value.direction and len(first.value.direction) == 2


def test_the_step_scales_with_the_point_and_infinities_are_refused():
    # At 1.3e8 a step of 1e-3 would leave rounding noise of 1e-5 relative in x * x.
    check_grads(lambda x: x * x, [1.3e8], order=1)
    with pytest.raises(ValueError, match=r"check_grads: f is not finite at \(.*\), a point of"):
        check_grads(lambda x: x * 3.0, [1.7e308])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"args": 1.0}, TypeError, "args must be a sequence of numbers .* got float 1.0"),
        ({"args": "12"}, TypeError, "args must be a sequence of numbers"),
        ({"args": []}, ValueError, "args is empty"),
        ({"args": [math.nan]}, TypeError, "args must hold finite numbers, got float nan"),
        ({"order": 0}, ValueError, "order must be a positive integer, got 0"),
        ({"modes": "fwd"}, TypeError, r"modes must be a sequence such as \('fwd', 'rev'\)"),
        ({"modes": ("fwd", "sideways")}, ValueError, "modes must be among 'fwd' and 'rev'"),
        ({"modes": ()}, ValueError, "modes must be among"),
        ({"eps": 0.0}, ValueError, "eps must be a positive number, got 0"),
        ({"atol": -1.0}, ValueError, "atol must be a number >= 0, got -1.0"),
        ({"rtol": "1"}, ValueError, "rtol must be a number >= 0, got '1'"),
        ({"f": 3}, TypeError, "f must be a function of Values, got int"),
        ({"f": lambda x: "y"}, TypeError, "f must return a Value or a list of Values, got str"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    call = {"f": lambda x: x * x, "args": [1.0], **kwargs}
    with pytest.raises(error, match=message):
        check_grads(call.pop("f"), call.pop("args"), **call)


# --- strategies -------------------------------------------------------------------------


@given(in_domain(kinked))
def test_floats_in_a_primitives_domain_away_from_its_kinks(x):
    margin = 1e-3 - 1e-12  # 1.5 + 1e-3 is 1.501, a rounding nearer than 1e-3
    assert -2.0 <= x <= 2.0 and abs(x) >= margin and abs(x - 1.5) >= margin


def test_expressions_draw_the_primitives_passed_in():
    def uses(case, op):
        stack = [case[0].root]
        while stack:
            e = stack.pop()
            if isinstance(e, Node):
                if e.op is op:
                    return True
                stack.extend(e.children)
        return False

    case = find(expressions(primitives=[softplus]), lambda c: uses(c, softplus))
    expr, point = case
    xs = [Value(x) for x in point]
    assert math.isclose(expr(*xs).data, expr.floats(*point), rel_tol=1e-12)
    only = find(
        expressions(ops=[softplus], shapes=("tree",)), lambda c: isinstance(c[0].root, Node)
    )
    assert only[0].root.op is softplus
    with pytest.raises(TypeError, match="ops and primitives must be Ops .* got str 'exp'"):
        expressions(primitives=["exp"])
    with pytest.raises(ValueError, match="shapes must be among 'tree' and 'dag'"):
        expressions(shapes=("forest",))


@given(expressions(primitives=[softplus]))
def test_expressions_pass_check_grads(case):
    expr, point = case
    y = expr(*[Value(x) for x in point])  # fixes where operands are squashed
    assume(y.requires_grad and expr.nearest_kink > 0.1)
    check_grads(expr, point)


def test_expressions_with_a_wrong_primitive_fail_check_grads():
    def fails(case) -> bool:
        expr, point = case
        expr(*[Value(x) for x in point])
        try:
            check_grads(expr, point)
        except GradientCheckError as error:
            return error.order == 2
        return False

    find(expressions(ops=[], primitives=[cube], shapes=("tree",)), fails)


@given(mlp_shapes())
def test_mlp_shapes(shape):
    nin, sizes = shape
    assert 1 <= nin <= 4 and 1 <= len(sizes) <= 3 and all(1 <= n <= 6 for n in sizes)


@given(st.integers(1, 5).flatmap(lambda n: st.tuples(st.just(n), batches(n, max_size=4))))
def test_batches(case):
    n, batch = case
    assert 1 <= len(batch) <= 4 and all(len(row) == n for row in batch)
    assert all(-3.0 <= x <= 3.0 for row in batch for x in row)


@given(mlps(max_batch=3, max_width=3))
def test_mlps_draw_a_model_and_a_batch_that_check_grads_passes(case):
    model, batch = case
    assert isinstance(model, nn.MLP) and model.layers[0].neurons[0].activation in SMOOTH_ACTIVATIONS
    sample = batch[0]
    outputs = model(sample)
    assert len(outputs) == model.layers[-1].nout
    check_grads(lambda *x: model(list(x)), sample)


def test_reference_of_a_primitive_is_its_forward():
    assert reference(softplus)(0.3) == math.log(1.0 + math.exp(0.3))
    x = Value(0.3)
    y = apply(softplus, [x])
    assert y.op == "softplus" and y.parents == (x,)


def test_importing_tapegrad_does_not_import_hypothesis():
    code = (
        "import sys, tapegrad, tapegrad.testing\n"
        "assert 'hypothesis' not in sys.modules\n"
        "tapegrad.testing.check_grads(lambda x: x.exp(), [0.5])\n"
        "tapegrad.testing.strategies.expressions\n"
        "assert 'hypothesis' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_hypothesis_is_named_with_the_extra_to_install():
    code = (
        "import sys\n"
        "sys.modules['hypothesis'] = None  # as if it were not installed\n"
        "import tapegrad.testing\n"
        "try:\n"
        "    import tapegrad.testing.strategies\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.startswith(
        'tapegrad.testing.strategies needs hypothesis, which is not installed: pip install "tapegrad[testing]"'
    )
