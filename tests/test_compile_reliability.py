"""Compiled mode against a careless user: bad batches, wrong argument counts, domain
errors as in eager mode, parameters unfrozen after tracing, no reference cycles, and
the ReLU kink convention."""

from __future__ import annotations

import gc
import types
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import CompileError, Value, compile, explain, nn


def _double(x):
    return x * 2.0


@pytest.mark.parametrize(
    "batch, detail",
    [
        (
            np.array([1.0 + 2.0j, 3.0]),
            r"complex128 entries \(e.g. \(1\+2j\)\) are not real numbers",
        ),
        (np.array([None, 1.0], dtype=object), "NoneType None is not a real number"),
        (["1.5", "2"], r"<U3 entries \(e.g. '1.5'\) are not real numbers"),
        ([b"1"], r"\|S1 entries"),
        (np.array([], dtype=complex), "complex128 entries are not real numbers"),
    ],
)
def test_a_batch_of_anything_but_real_numbers_is_refused(batch, detail):
    compiled = compile(_double, [])
    with pytest.raises(
        TypeError,
        match=r"compiled _double: argument 0 must be an array of "
        r"numbers \(inputs\), got \w+: " + detail,
    ):
        compiled.forward(batch)
    with pytest.raises(TypeError, match="Value: data must be a real number"):
        Value(np.asarray(batch).ravel()[:1].tolist()[0] if np.size(batch) else 1j)


def test_labels_that_are_strings_are_refused():
    compiled = compile(lambda x, t: x * t, [], labels={1: (0, 1)})
    with pytest.raises(TypeError, match=r"argument 1 must be an array of numbers \(labels\)"):
        compiled(np.ones(2), ["0", "1"])


def test_real_numbers_of_every_kind_are_accepted():
    compiled = compile(_double, [])
    np.testing.assert_array_equal(compiled.forward([True, 2, 3.5]), [2.0, 4.0, 7.0])
    np.testing.assert_array_equal(compiled.forward(np.array([1, 2.5], dtype=object)), [2.0, 5.0])
    np.testing.assert_array_equal(compiled.forward(np.array([3], dtype=np.int8)), [6.0])


def test_the_wrong_number_of_batch_arrays_says_how_many():
    compiled = compile(lambda x, y: x * y, [])
    compiled(np.ones(2), np.ones(2))
    with pytest.raises(
        TypeError,
        match=r"fn takes 2 batch array\(s\), one per argument "
        r"\(as traced\), got 3",
    ):
        compiled(np.ones(2), np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match=r"fn takes 2 batch array\(s\).*got 1"):
        compiled.forward(np.ones(2))


# (name, f(w, x), the x where eager mode fails): every domain error of eager mode
DOMAIN = [
    ("log", lambda w, x: (w * x).log(), 0.0),
    ("log", lambda w, x: (w * x).log(), -1.0),
    ("sqrt", lambda w, x: (w * x).sqrt(), -1.0),
    ("sqrt", lambda w, x: (w * x).sqrt(), 0.0),  # forward fine, derivative 1 / (2 sqrt 0)
    ("div", lambda w, x: 1.0 / (w * x), 0.0),
    ("div", lambda w, x: Value(3.0, requires_grad=False) / (w * x), 0.0),
    ("pow", lambda w, x: (w * x) ** -1.0, 0.0),
    ("pow", lambda w, x: (w * x) ** 0.5, -8.0),
    ("pow", lambda w, x: x**w, -8.0),  # d/dw x ** w = x ** w log(x)
]


@pytest.mark.parametrize("name, f, x", DOMAIN)
def test_a_domain_error_is_the_same_in_both_modes(name, f, x):
    w = Value(1.0, label="w")
    with pytest.raises((ArithmeticError, ValueError)) as eager:
        f(w, Value(x, requires_grad=False)).backward()
    compiled = compile(lambda v: f(w, v), [w])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an error, not a NumPy warning and a NaN
        with pytest.raises((ArithmeticError, ValueError)) as error:
            compiled(np.array([2.0, x, 3.0]))
    assert type(error.value) is type(eager.value)
    message = str(error.value)
    assert message.startswith("compiled <lambda>: ") and name in message
    assert f"({x!r}" in message or f", {x!r})" in message, message  # the input, named
    assert "sample 1" in message, message


def test_sqrt_at_zero_names_the_sample_and_input():
    w = Value(1.0)
    compiled = compile(lambda v: (w * v).sqrt(), [w])
    with pytest.raises(
        ZeroDivisionError,
        match=r"backward of 1 node\(s\) like sqrt\(<mul #2>\) at level 2, sample 1: "
        r"backward through sqrt\(0\.0\) failed: float division by zero$",
    ):
        compiled(np.array([1.0, 0.0]))
    assert compiled(np.array([1.0, 4.0])) == 1.5  # the program still works


def test_a_failing_derivative_rule_reads_the_same_in_every_mode():
    w = Value(1.0)

    def f(v):
        return (w * v).sqrt()

    zero = Value(0.0, requires_grad=False)
    expected = "backward through sqrt(0.0) failed: float division by zero"
    with pytest.raises(ZeroDivisionError) as eager:
        f(zero).backward()
    with pytest.raises(ZeroDivisionError) as explained:
        explain(f(zero))
    with pytest.raises(ZeroDivisionError) as compiled:
        compile(f, [w])(np.array([1.0, 0.0]))
    assert str(eager.value) == expected
    assert str(explained.value) == f"explain: {expected}"
    assert str(compiled.value).endswith(f", sample 1: {expected}")


@pytest.mark.parametrize(
    "f, node, inputs",
    [
        (lambda w, x: 3.0 / (w * x), "div(3.0, <mul #2>)", "div(3.0, 0.0)"),
        (lambda w, x: (w * x) ** -1.0, "powc(<mul #2>, -1.0)", "powc(0.0, -1.0)"),
    ],
)
def test_an_error_names_the_operands_in_the_order_of_the_expression(f, node, inputs):
    w = Value(1.0)
    with pytest.raises(ZeroDivisionError) as error:
        compile(lambda x: f(w, x), [w])(np.array([1.0, 0.0]))
    assert f"node(s) like {node} at level 2, sample 1: {inputs}: " in str(error.value)


def test_a_parameter_unfrozen_after_tracing_is_traced_again():
    w, b = Value(2.0), Value(1.0, requires_grad=False)
    compiled = compile(lambda x: (w * x + b) ** 2, [w, b])
    assert compiled(np.array([1.0, 2.0])) == 17.0
    assert w.grad == 13.0 and b.grad is None
    b.requires_grad = True
    w.grad = 0.0
    assert compiled(np.array([1.0, 2.0])) == 17.0
    # mean of (w x + b)^2 over x = 1, 2: d/dw = (2 * 3 * 1 + 2 * 5 * 2) / 2, d/db = (6 + 10) / 2
    assert (w.grad, b.grad) == (13.0, 8.0)


def test_unfreezing_while_a_flat_view_is_active_is_refused():
    w, b = Value(2.0), Value(1.0, requires_grad=False)
    compiled = compile(lambda x: (w * x + b) ** 2, [w, b])
    flat = compiled.flat()
    compiled(np.array([1.0]))
    b.requires_grad = True
    with pytest.raises(
        CompileError,
        match="was frozen when <lambda> was traced and requires "
        "grad now.*close\\(\\) the flat\\(\\) view",
    ):
        compiled(np.array([1.0]))
    flat.close()
    w.grad = 0.0
    assert compiled(np.array([1.0])) == 9.0 and (w.grad, b.grad) == (6.0, 6.0)


def test_a_parameter_replaced_on_the_model_is_refused_or_read():
    """layer.b = Value(10.0) after tracing: the next call traces again, so it refuses a
    new Value that requires grad, and reads a new constant as eager mode does."""
    model = nn.MLP(2, [3, 1], seed=0)
    X = np.array([[1.0, 2.0], [0.5, -1.0]])
    compiled = compile(lambda x: model(x)[0] ** 2, model.parameters())
    compiled(X)
    model.layers[1].neurons[0].b = Value(10.0, label="new b")
    with pytest.raises(CompileError, match="label='new b'.*neither an input nor one of params"):
        compiled(X)
    model.layers[1].neurons[0].b = Value(10.0, requires_grad=False)
    eager = sum(model([Value(v, requires_grad=False) for v in x])[0] ** 2 for x in X.tolist()) / 2
    assert compiled(X) == pytest.approx(eager.data, rel=1e-12)
    model.layers = [model.layers[0], nn.Linear(3, 1, seed=5)]  # a new layer, new Values
    with pytest.raises(CompileError, match="neither an input nor one of params"):
        compiled(X)


def _counting(fn):
    """``fn`` and a list that grows by one at each call of it (each trace of it)."""
    calls = []

    def counted(*args):
        calls.append(1)
        return fn(*args)

    return counted, calls


def test_replacing_a_parameter_traces_again_only_the_functions_that_read_it():
    a, b = nn.MLP(2, [3, 1], seed=0), nn.MLP(2, [3, 1], seed=1)
    fa, traced_a = _counting(lambda x: a(x)[0])
    fb, traced_b = _counting(lambda x: b(x)[0])
    step_a, step_b = compile(fa, a.parameters()), compile(fb, b.parameters())
    X = np.array([[1.0, 2.0]])
    step_a(X), step_b(X)
    once_a, once_b = len(traced_a), len(traced_b)  # fn runs twice per trace
    b.layers[1].neurons[0].b = Value(3.0, requires_grad=False)
    step_a(X), step_b(X)
    assert (len(traced_a), len(traced_b)) == (once_a, 2 * once_b)
    eager = b([Value(1.0, requires_grad=False), Value(2.0, requires_grad=False)])[0]
    assert step_b.forward(X).tolist() == pytest.approx([eager.data], rel=1e-12)
    # Not a replacement: new attributes, attributes that hold no parameters.
    b.layers[0].neurons[0].label = "renamed"
    b.extra = nn.Linear(1, 1, seed=0)
    step_b(X)
    assert len(traced_b) == 2 * once_b
    # A parameter that was None before is a change too.
    b.layers[1].neurons[0].b = None
    b.layers[1].neurons[0].b = Value(4.0, requires_grad=False)
    step_b(X)
    assert len(traced_b) == 3 * once_b


def test_a_flat_view_survives_replacing_a_parameter_of_another_model():
    w = Value(2.0)
    compiled = compile(lambda x: (w * x) ** 2, [w])
    with compiled.flat() as flat:
        compiled(np.array([1.0]))
        other = nn.Linear(1, 1, seed=0)
        other.neurons[0].b = Value(3.0)  # traces again at the next call
        flat.zero_grad()
        assert compiled(np.array([3.0])) == 36.0
        assert flat.grad.tolist() == [36.0]  # d/dw (w x)^2 = 2 w x^2


def _programs_alive() -> int:
    return sum(
        1
        for o in gc.get_objects()
        if type(o) is types.FunctionType and o.__code__.co_filename.startswith("<compiled ")
    )


def test_a_dropped_compiled_function_is_freed_without_the_cyclic_collector():
    gc.collect()
    before = _programs_alive()
    gc.disable()
    try:
        for _ in range(5):
            model = nn.MLP(2, [3, 1], seed=0)
            compiled = compile(lambda x, m=model: m(x)[0], model.parameters())
            compiled(np.ones((4, 2)))
            with compiled.flat():
                compiled(np.ones((4, 2)))
            del compiled, model
        alive = _programs_alive()
    finally:
        gc.enable()
    assert alive == before


def test_relu_at_its_kink_has_derivative_zero_in_both_modes():
    """relu'(0) = 0 (PyTorch's convention) where the pre-activation is exactly 0 in
    both modes: zero inputs and zero biases."""
    for seed in range(5):
        model = nn.MLP(3, [4, 1], seed=seed)
        compiled = compile(lambda x, m=model: m(x)[0], model.parameters())
        compiled(np.zeros((1, 3)))
        got = [p.grad for p in model.parameters()]
        model.zero_grad()
        model([Value(0.0, requires_grad=False)] * 3)[0].backward()
        assert got == [p.grad for p in model.parameters()]
        assert got[-1] == 1.0 and not any(got[:-1])  # only the output bias sees a gradient


# --- random bad batches at the compiled call's boundary -------------------------------

_junk = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.binary(max_size=2),
    st.complex_numbers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),
    st.booleans(),
    st.dictionaries(st.text(max_size=1), st.integers(), max_size=1),
    st.builds(Value, st.floats(-2.0, 2.0)),
)
_batch = st.one_of(
    _junk,
    st.lists(_junk, max_size=3),
    st.lists(st.lists(_junk, max_size=2), max_size=2),
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-5, max_value=5),
        min_size=1,
        max_size=3,
    ),
)


@given(first=_batch, second=st.one_of(st.none(), _batch), extra=st.booleans())
def test_a_compiled_call_on_random_input_works_or_says_why(first, second, extra):
    """Any input: a number per sample, or a TypeError/ValueError/OverflowError that names
    the compiled function; the parameter's gradient unchanged when it raises."""
    w = Value(0.5, label="w")
    compiled = compile(lambda x, t: (w * x - t) ** 2, [w], labels={1: (0, 1)})
    compiled(np.array([1.0, 2.0]), np.array([0, 1]))  # traced; w.grad = 0 + its gradient
    before = w.grad
    args = [first] if second is None else [first, second]
    if extra:
        args.append(first)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = compiled(*args)
    except (TypeError, ValueError, OverflowError) as error:
        assert str(error).startswith("compiled <lambda>: "), repr(error)
        assert w.grad == before
    else:
        assert isinstance(loss, float) and len(args) == 2


@pytest.mark.parametrize(
    "read, how",
    [
        (lambda x: x[0].data > 0, r"\(\.data\)"),
        (lambda x: float(x[0]) > 0, r"\(float\(\)\)"),
        (lambda x: bool(x[1]), r"\(bool\(\), as in `if x:`\)"),
        (lambda x: x[0].item() > 0, r"\(\.item\(\)\)"),
    ],
    ids=["data", "float", "bool", "item"],
)
def test_a_branch_on_an_input_number_is_refused_while_tracing(read, how):
    model = nn.MLP(2, [2, 1], seed=0)

    def loss(x, t):
        out = model(x)[0]
        return (out - t) ** 2 if read(x) else (out + t) ** 2

    step = compile(loss, model.parameters())
    with pytest.raises(CompileError, match="read the number of its input arg0\\[[01]\\] " + how):
        step(np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2))
    assert all(p.grad is None for p in model.parameters())


def test_numbers_computed_inside_the_losses_are_not_refused():
    model = nn.MLP(2, [3, 3], seed=0)
    step = compile(
        lambda x, t: nn.functional.cross_entropy([model(x)], [t]),
        model.parameters(),
        labels={1: range(3)},
    )
    X = np.array([[0.5, -1.0], [2.0, 0.1]])
    eager = nn.functional.cross_entropy([model(list(x)) for x in X], [0, 2]).data
    assert step(X, np.array([0, 2])) == pytest.approx(eager, rel=1e-12)


class _Scaled(nn.Module):
    """x * 2 in training, x in eval: a module whose result depends on its flag."""

    def forward(self, x):
        return [v * 2.0 if self.training else v for v in x]


def test_switching_train_and_eval_after_tracing_traces_again():
    model = nn.MLP(2, [3, 1], seed=0)
    scaled = _Scaled()
    fn, traced = _counting(lambda x: model(scaled(x))[0])
    step = compile(fn, model.parameters())
    X = np.array([[1.0, 2.0]])
    inputs = [Value(1.0, requires_grad=False), Value(2.0, requires_grad=False)]
    scaled.eval()
    assert step.forward(X).tolist() == pytest.approx([model(scaled(inputs))[0].data])
    once = len(traced)
    scaled.train()
    assert step.forward(X).tolist() == pytest.approx([model(scaled(inputs))[0].data])
    assert len(traced) == 2 * once
    model.train()  # already in training: nothing changes, nothing is traced
    other = nn.MLP(2, [3, 1], seed=1)
    other.eval()  # another model's flag
    step.forward(X)
    assert len(traced) == 2 * once


def test_a_dropout_switched_to_training_after_tracing_is_refused():
    model = nn.MLP(2, [3, 1], seed=0)
    dropout = nn.Dropout(0.5, seed=0)
    step = compile(lambda x: model(dropout(x))[0], model.parameters())
    X = np.array([[1.0, 2.0]])
    dropout.eval()
    step(X)
    dropout.train()  # the next call traces again, and refuses it
    with pytest.raises(CompileError, match="Dropout in training mode"):
        step(X)
    dropout.eval()
    step(X)


def test_freezing_while_a_flat_view_is_active_is_refused_and_close_keeps_it_frozen():
    w, b = Value(2.0), Value(1.0)
    step = compile(lambda x: (w * x + b) ** 2, [w, b])
    flat = step.flat()
    step(np.array([1.0]))  # d/dw = 2 * 3 * 1, d/db = 2 * 3
    assert flat.grad.tolist() == [6.0, 6.0]
    flat.data = [3.0, 0.5]  # as an optimizer's step would
    b.requires_grad = False
    with pytest.raises(CompileError, match="was frozen while the flat\\(\\) view was active"):
        step(np.array([1.0]))
    flat.close()
    assert (w.data, w.grad, b.data, b.grad) == (3.0, 6.0, 0.5, None)
    w.grad = 0.0
    assert step(np.array([1.0])) == 12.25  # (3 + 0.5) ** 2, b now a constant
    assert (w.grad, b.grad) == (7.0, None)
    with step.flat() as flat:
        assert flat.params == [w]
