"""The engine's answers to hostile use, second round (issue "Reliability, round two",
engine and search items): a failed backward changes nothing, NaN goes through every
piecewise op, the functional API works inside ``no_grad()``, anomaly mode holds no
graph alive, and passes take turns.

Reference numbers are PyTorch's (float64), computed once and kept here as literals.
"""

from __future__ import annotations

import dis
import math
import sys
import threading

import numpy as np
import pytest
from helpers import collector_off, live_values

import tapegrad
from tapegrad import Value, detect_anomaly
from tapegrad.autograd import value
from tapegrad.autograd.ops import Op
from tapegrad.autograd.value import _node
from tapegrad.nn import functional as F
from tapegrad.optim import largest_stable_lr
from tapegrad.testing.reference import apply, key
from tapegrad.testing.strategies import ALL_OPS

NAN = math.nan

# --- a backward that raises changes no leaf ---------------------------------------------


PIECEWISE = [
    ("relu", NAN, NAN, 1.0),
    ("relu", 0.0, 0.0, 0.0),
    ("relu", -2.0, 0.0, 0.0),
    ("leaky_relu", NAN, NAN, 0.01),
    ("leaky_relu", 0.0, 0.0, 0.01),
    ("leaky_relu", -2.0, -0.02, 0.01),
    ("abs", NAN, NAN, 0.0),
    ("abs", 0.0, 0.0, 0.0),
    ("abs", -2.0, 2.0, -1.0),
    ("sigmoid", NAN, NAN, NAN),
]


def _same(a: float, b: float) -> bool:
    """Equal, with NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("name, x, out, slope", PIECEWISE)
def test_nan_and_kinks_of_piecewise_ops_in_eager_mode_as_pytorch(name, x, out, slope):
    v = Value(x)
    y = getattr(v, name)()
    y.backward()
    assert _same(y.data, out) and _same(v.grad, slope), (y.data, v.grad)
    (g,) = tapegrad.grad(getattr(v, name)(), v, create_graph=True)
    assert _same(g.data, slope)


@pytest.mark.parametrize("name, x, out, slope", PIECEWISE)
def test_nan_and_kinks_of_piecewise_ops_in_compiled_mode_as_pytorch(name, x, out, slope):
    """The op applied to a parameter holding x, times the sample 2: loss 2 op(x) and
    gradient 2 op'(x), from the kernels compiled mode generates from the op table."""
    w = Value(x)
    compiled = tapegrad.compile(lambda s: getattr(w, name)() * s, [w], reduction="sum")
    with np.errstate(all="raise"):  # no NumPy warning on the way
        loss = compiled(np.array([2.0]))
    assert _same(loss, 2.0 * out) and _same(w.grad, 2.0 * slope), (loss, w.grad)


def _nan_at(op, position: int) -> tuple[list[float], float | None]:
    """Inputs inside ``op``'s domain, clear of its kinks, with a NaN at ``position``."""
    lo, hi = op.domain
    n = {1: 1, 2: 2}.get(op.arity, 5)
    xs = [lo + (0.3 + 0.1 * i) * (hi - lo) for i in range(n)]
    xs[position] = NAN
    arg = op.sample_args[0] if op.sample_args else (lo + 0.55 * (hi - lo) if op.base else None)
    return xs, arg


NAN_CASES = [(op, i) for op in ALL_OPS for i in range({1: 1, 2: 2}.get(op.arity, 5))]


@pytest.mark.parametrize("op, position", NAN_CASES, ids=[f"{key(op)}-{i}" for op, i in NAN_CASES])
def test_a_nan_input_gives_a_nan_output_through_every_op_in_both_modes(op, position):
    xs, arg = _nan_at(op, position)
    assert math.isnan(apply(op, [Value(x) for x in xs], arg).data)
    compiled = tapegrad.compile(lambda *sample: apply(op, list(sample), arg), [], reduction="sum")
    assert math.isnan(compiled(*[np.array([x]) for x in xs]))


def test_a_nan_score_gives_a_nan_hinge_loss_not_a_perfect_one():
    assert math.isnan(F.hinge_loss([Value(NAN)], [1.0]).data)
    assert F.hinge_loss([Value(2.0)], [1.0]).data == 0.0


# --- the functional API inside no_grad() --------------------------------------------------


def _f(v):
    return v[0] ** 3.0 * v[1] + v[1].sin()


POINT = [1.5, 0.5]
# d f = (3 x^2 y, x^3 + cos y); H = [[6 x y, 3 x^2], [3 x^2, -sin y]]
GRADIENT = [3 * 1.5**2 * 0.5, 1.5**3 + math.cos(0.5)]
HESSIAN = [[6 * 1.5 * 0.5, 3 * 1.5**2], [3 * 1.5**2, -math.sin(0.5)]]


def _functional_calls():
    return {
        "jacobian": lambda: tapegrad.jacobian(_f, POINT),
        "hessian": lambda: tapegrad.hessian(_f, POINT),
        "hvp": lambda: tapegrad.hvp(_f, POINT, [1.0, -2.0]),
        "gradcheck": lambda: tapegrad.gradcheck(_f, POINT),
        "gradgradcheck": lambda: tapegrad.gradgradcheck(_f, POINT),
        "largest_stable_lr": lambda: largest_stable_lr(lambda v: v[0] ** 2.0 + v[1] ** 4.0, [1, 1]),
    }


@pytest.mark.parametrize("name", sorted(_functional_calls()))
def test_the_functional_api_answers_the_same_inside_no_grad(name):
    """As torch.autograd.functional: each enables grad where it needs a graph."""
    call = _functional_calls()[name]
    outside = call()
    with tapegrad.no_grad():
        inside = call()
        assert not tapegrad.autograd.mode.MODE.grad_enabled  # and leaves the mode as it was
    assert inside == outside


def test_the_functional_api_inside_no_grad_gives_the_exact_numbers():
    with tapegrad.no_grad():
        assert tapegrad.jacobian(_f, POINT) == [pytest.approx(GRADIENT, rel=1e-15)]
        assert tapegrad.hessian(_f, POINT) == [pytest.approx(r, rel=1e-15) for r in HESSIAN]
        assert largest_stable_lr(lambda v: v[0] ** 2.0 + v[1] ** 4.0, [1, 1]) == 2.0 / 12.0


def test_grad_with_create_graph_records_its_graph_inside_no_grad():
    """As torch.autograd.grad(create_graph=True) inside torch.no_grad(): the gradient
    is a function of the inputs, so it can be differentiated again."""
    x = Value(2.0)
    y = x**3.0
    with tapegrad.no_grad():
        (g,) = tapegrad.grad(y, x, create_graph=True)
        (h,) = tapegrad.grad(g, x)
        assert (x * 2.0).grad is None  # the block's mode holds again after grad
    assert (g.data, g.requires_grad, h) == (12.0, True, 12.0)


def _cos_of_constant(m, g, out, x):
    # Right on floats; on Values cos(x) is cut from x: second derivative 0, not -sin x.
    return (g * m.cos(x if isinstance(x, float) else x.detach()),)


WRONG_SECOND = Op("wrong_sin2", "sin", 1, lambda m, x: m.sin(x), _cos_of_constant)


def test_gradgradcheck_inside_no_grad_still_finds_a_wrong_second_derivative():
    """Inside no_grad both sides of the check were 0, so it passed whatever the rule."""
    with tapegrad.no_grad():
        assert tapegrad.gradgradcheck(lambda v: v[0].sin() * v[1], [0.7, 2.0])
        with pytest.raises(tapegrad.GradcheckError, match=r"failed for 1 of 1 entries"):
            tapegrad.gradgradcheck(
                lambda v: _node(WRONG_SECOND, math.sin(v[0].data), (v[0],), None), [0.7]
            )


# --- text is never read as numbers ---------------------------------------------------------


@pytest.mark.parametrize("point", [b"3", "3", bytearray(b"12"), [1.0, "2"], [b"1"]])
@pytest.mark.parametrize("name", ["jacobian", "hessian", "hvp"])
def test_a_point_of_text_is_a_type_error_naming_the_function(name, point):
    """bytes iterate as small integers (b"3" is [51]) and strings as characters."""
    call = getattr(tapegrad, name)
    args = (lambda v: v[0] * v[0], point) + (([1.0] * len(point),) if name == "hvp" else ())
    with pytest.raises(TypeError, match=rf"^{name}: the point must be a sequence of numbers"):
        call(*args)


@pytest.mark.parametrize("vector", [b"1", "1", ["1"]])
def test_an_hvp_vector_of_text_is_a_type_error(vector):
    with pytest.raises(TypeError, match=r"^hvp: the vector must be a sequence of numbers"):
        tapegrad.hvp(lambda v: v[0] * v[0], [2.0], vector)


# --- anomaly mode holds no graph alive ------------------------------------------------------


def test_anomaly_mode_frees_each_graph_when_it_is_dropped_not_when_the_block_ends():
    """Each node keeps its own creation site, so a long hunt for a NaN (many steps
    inside one detect_anomaly block) holds one step's graph at a time."""
    w = Value(0.5)
    with collector_off(), detect_anomaly():
        before = live_values()
        for _ in range(5):
            loss = ((w * 2.0).tanh() + w.exp() * w).relu()
            loss.backward()
            del loss
        assert live_values() == before


def test_a_node_made_inside_anomaly_mode_names_its_line_after_the_block_too():
    """The site goes with the node: backward in a later anomaly block still names it."""
    x = Value(0.0)
    with detect_anomaly():
        line = sys._getframe().f_lineno + 1
        y = x.sqrt() * 2.0
    with detect_anomaly(), pytest.raises(FloatingPointError, match=rf"{__file__}:{line}\b"):
        y.backward()
    assert x.grad is None


# --- the write clock under any interleaving of threads ------------------------------------


def _stop_before_storing_the_clock(stopped: threading.Event, go_on: threading.Event):
    """A tracer that halts the calling thread just before it writes the write clock
    back: the moment Python without the GIL may run another thread in between."""
    store = dis.opmap["STORE_GLOBAL"]

    def opcodes(frame, event, _):
        code = frame.f_code
        if (
            event == "opcode"
            and code.co_code[frame.f_lasti] == store
            and code.co_names[code.co_code[frame.f_lasti + 1]] == "_clock"
        ):
            stopped.set()
            go_on.wait(10.0)
        return opcodes

    def calls(frame, event, _):
        if event == "call" and frame.f_code.co_name.startswith("_assign_data"):
            frame.f_trace_opcodes = True
            return opcodes
        return None

    return calls


def test_the_write_clock_advances_once_per_assignment_whatever_the_interleaving():
    """Two threads assigning data: the one that read the clock is stopped before it
    writes the clock back, and the other must wait for it, or one advance is lost and
    two assignments share a stamp (so a change could pass backward's check)."""
    assign = value._data_setter(gil=False)  # what Python without the GIL runs
    a, b = Value(1.0), Value(2.0)
    start = value._clock
    stopped, go_on = threading.Event(), threading.Event()

    def first():
        sys.settrace(_stop_before_storing_the_clock(stopped, go_on))
        try:
            assign(a, 10.0)
        finally:
            sys.settrace(None)

    one = threading.Thread(target=first)
    one.start()
    assert stopped.wait(10.0)
    two = threading.Thread(target=assign, args=(b, 20.0))
    two.start()
    two.join(0.5)
    finished_in_between = not two.is_alive()
    go_on.set()
    one.join(10.0)
    two.join(10.0)
    assert not finished_in_between, "the second assignment ran inside the first one's"
    assert sorted([a._version, b._version]) == [start + 1, start + 2]
    assert value._clock == start + 2 and (a.data, b.data) == (10.0, 20.0)


def test_data_assignment_takes_the_clock_lock_only_without_the_gil():
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    assert Value.data.fset is value._data_setter(gil)
    assert value._data_setter(gil=True) is not value._data_setter(gil=False)
