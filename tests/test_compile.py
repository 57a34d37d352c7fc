"""Compiled mode against eager mode: values and gradients equal to 1e-12.

Random graphs come from the shared op-table strategies (every op, shared nodes,
constants); random dense networks exercise the matrix-product path; a table of nn
layers and losses checks the library a user compiles. Refusals are checked with
their messages, and optimizer steps taken from compiled gradients match eager ones.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import TOL, assert_close
from hypothesis import assume, given
from hypothesis import strategies as st

from tapegrad import CompileError, Value, compile, nn, optim
from tapegrad.nn import functional as F
from tapegrad.testing.strategies import expressions


def grads(params) -> list[float]:
    return [p.grad for p in params]


def zero(params) -> None:
    for p in params:
        p.zero_grad()


def eager_mean(fn, batch, params, labels=(), reduction="mean") -> tuple[float, list[float]]:
    """mean (or sum) over the samples of fn, built and differentiated in eager mode;
    inputs are Values that require grad, as the placeholders do while tracing."""
    zero(params)
    outs = []
    for sample in zip(*batch):
        args = [a if i in labels else _values(a) for i, a in enumerate(sample)]
        outs.append(fn(*args))
    loss = Value.sum(outs)
    if reduction == "mean":
        loss = loss / len(outs)
    if loss.requires_grad:
        loss.backward()
    return loss.data, grads(params)


def _values(x):
    x = np.asarray(x)
    if x.ndim == 0:
        return Value(float(x))
    return [_values(row) for row in x]


def compiled_mean(fn, batch, params, labels=None, reduction="mean"):
    zero(params)
    loss = compile(fn, params, labels=labels, reduction=reduction)(*batch)
    return loss, grads(params)


def test_a_dot_whose_only_per_sample_operand_is_its_bias_equals_eager():
    """Weights and inputs that depend on parameters alone, a per-sample bias: the terms
    are no matrix product over the batch (this was lowered as one and failed)."""
    params = [Value(0.5), Value(-1.25)]

    def fn(x):
        u, w = -params[0], params[1]
        return Value.dot([w, w], [u, u * u], x[0]) * x[0]

    X = np.array([[0.25], [-2.0], [3.0]])
    loss, expected = eager_mean(fn, (X,), params)
    compiled = compile(fn, params)
    zero(params)
    assert compiled(X) == pytest.approx(loss, rel=1e-12)
    assert grads(params) == pytest.approx(expected, rel=1e-12, abs=1e-15)


# --- random graphs over the whole op table ----------------------------------------


@given(expressions(max_vars=4), st.integers(0, 4), st.integers(1, 4), st.data())
def test_random_graphs_equal_eager(expression_point, n_params, size, data):
    """Some variables are per-sample inputs, the others parameters; compiled values
    per sample and parameter gradients of the batch mean equal eager mode."""
    expression, point = expression_point
    n_params = min(n_params, expression.n_vars)
    n_inputs = expression.n_vars - n_params
    params = [Value(x) for x in point[n_inputs:]]
    rows = [
        point[:n_inputs],
        *data.draw(
            st.lists(
                st.lists(st.floats(-3.0, 3.0), min_size=n_inputs, max_size=n_inputs),
                min_size=size - 1,
                max_size=size - 1,
            )
        ),
    ]
    X = np.array(rows, dtype=float).reshape(size, n_inputs)

    def fn(x):
        return expression.values(list(x) + params)

    try:  # the first sample fixes where operands are squashed into their op's domain
        per_sample = [fn([Value(v) for v in row]).data for row in X]
        loss, expected = eager_mean(fn, (X,), params)
    except (ValueError, ZeroDivisionError, OverflowError):
        assume(False)
    except TypeError:  # eager backward through a node value.py never builds (see record)
        assume(False)
    numbers = per_sample + [g for g in expected if g is not None]
    assume(all(math.isfinite(v) and abs(v) < 1e8 for v in numbers))
    compiled = compile(fn, params)
    assert_close(compiled.forward(X), per_sample)
    zero(params)
    assert compiled(X) == pytest.approx(loss, rel=TOL, abs=TOL)
    got = grads(params)
    # A parameter fn does not use gets no gradient in either mode (None, as PyTorch).
    assert [g is None for g in got] == [g is None for g in expected]
    assert_close([g for g in got if g is not None], [g for g in expected if g is not None])


ACTIVATIONS = [F.relu, F.tanh, F.sigmoid, F.leaky_relu, F.linear]


@given(st.data())
def test_random_dense_networks_equal_eager(data):
    """Layers of dot nodes over shared inputs (the matrix-product path), with or
    without a bias inside the dot, weights shared between layers, any activation."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    nin = data.draw(st.integers(1, 4))
    widths = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    layers, params, n = [], [], nin
    for width in widths:
        ws = [[Value(w) for w in rng.normal(size=n)] for _ in range(width)]
        bs = [Value(b) for b in rng.normal(size=width)]
        style = data.draw(st.sampled_from(["bias in dot", "bias added", "no bias", "x first"]))
        act = data.draw(st.sampled_from(ACTIVATIONS))
        layers.append((ws, bs, style, act))
        params += [w for row in ws for w in row] + bs
        n = width
    size = data.draw(st.integers(1, 5))
    X = rng.normal(size=(size, nin))

    def fn(x):
        for ws, bs, style, act in layers:
            if style == "bias in dot":
                x = [act(Value.dot(w, x, b)) for w, b in zip(ws, bs)]
            elif style == "bias added":
                x = [act(Value.dot(w, x) + b) for w, b in zip(ws, bs)]
            elif style == "no bias":
                x = [act(Value.dot(w, x)) for w in ws]
            else:
                x = [act(Value.dot(x, w) * 0.5) for w in ws]
        return Value.sum([v * v for v in x]) + 1e-3 * Value.sum([p * p for p in params])

    loss, expected = eager_mean(fn, (X,), params)
    compiled, actual = compiled_mean(fn, (X,), params)
    assert compiled == pytest.approx(loss, rel=TOL, abs=TOL)
    assert_close(actual, expected)


# --- every nn layer and loss ----------------------------------------------------------


def _mlp(nin, sizes, **kw):
    return nn.MLP(nin, sizes, seed=3, **kw)


def _layer_cases():
    """(name, model, sample function of the model) for layers and activations."""
    square = lambda out: Value.sum([o * o for o in out])
    cases = []
    for act in ["relu", "tanh", "sigmoid", "leaky_relu", "linear"]:
        m = _mlp(3, [5, 4, 2], activation=act)
        cases.append((f"MLP {act}", m, lambda x, m=m: square(m(x))))
    neuron = nn.Neuron(3, "tanh", seed=1)
    cases.append(("Neuron", neuron, lambda x: neuron(x) ** 2))
    linear = nn.Linear(3, 4, seed=2)
    cases.append(("Linear", linear, lambda x: square(linear(x))))
    ln_in, ln = nn.Linear(3, 4, seed=4), nn.LayerNorm(4)
    for i, (g, b) in enumerate(zip(ln.gamma, ln.beta)):
        g.data, b.data = 1.0 + 0.1 * i, -0.2 * i
    ln_model = nn.Module()
    ln_model.a, ln_model.b = ln_in, ln
    cases.append(("LayerNorm", ln_model, lambda x: square(ln(ln_in(x)))))
    bn_in, bn = nn.Linear(3, 4, seed=5), nn.BatchNorm1d(4)
    bn.running_mean, bn.running_var = [0.1, -0.2, 0.3, 0.0], [1.5, 0.5, 2.0, 1.0]
    bn.eval()
    bn_model = nn.Module()
    bn_model.a, bn_model.b = bn_in, bn
    cases.append(("BatchNorm1d eval", bn_model, lambda x: square(bn([bn_in(x)])[0])))
    drop_in, drop = nn.Linear(3, 4, seed=6), nn.Dropout(0.5, seed=0)
    drop.eval()
    cases.append(("Dropout eval", drop_in, lambda x: square(drop(drop_in(x)))))
    return cases


@pytest.mark.parametrize(
    "name, model, fn", _layer_cases(), ids=lambda c: c if isinstance(c, str) else ""
)
def test_layers_equal_eager(name, model, fn):
    X = np.random.default_rng(0).normal(size=(6, 3))
    params = model.parameters()
    loss, expected = eager_mean(fn, (X,), params)
    compiled, actual = compiled_mean(fn, (X,), params)
    assert compiled == pytest.approx(loss, rel=TOL, abs=TOL)
    assert_close(actual, expected)


def _mse(m):
    return (lambda x, t: F.mse_loss([m(x)], [t]), lambda X, Y: F.mse_loss([m(x) for x in X], Y))


def _squared_error(m):
    return (
        lambda x, t: (m(x)[0] - t) ** 2,
        lambda X, Y: Value.sum([(m(x)[0] - t) ** 2 for x, t in zip(X, Y)]) / len(X),
    )


def _loss(loss, transform=lambda out: out):
    def build(m):
        return (
            lambda x, t: loss([transform(m(x))], [t]),
            lambda X, Y: loss([transform(m(x)) for x in X], Y),
        )

    return build


def _hinge_with_penalties(m):
    params = m.parameters()

    def penalty():
        return 1e-2 * F.l2_penalty(params) + 1e-3 * F.l1_penalty(params)

    return (
        lambda x, t: F.hinge_loss(m(x), [t]) + penalty(),
        lambda X, Y: F.hinge_loss([m(x) for x in X], Y) + penalty(),
    )


LOSSES = [  # name, model, (per-sample loss, eager batch loss), labels, targets
    ("mse_loss", ([5, 1], {}), _mse, {1: (0.0, 1.0)}, [0.0, 1.0, 1.0, 0.0, 1.0, 0.0]),
    (
        "squared error, target as input",
        ([5, 1], {}),
        _squared_error,
        None,
        [0.3, -1.2, 2.0, 0.0, 0.7, -0.1],
    ),
    (
        "binary_cross_entropy",
        ([5, 1], {"output_activation": "sigmoid"}),
        _loss(F.binary_cross_entropy),
        {1: (0, 1)},
        [0, 1, 1, 0, 1, 0],
    ),
    (
        "binary_cross_entropy_with_logits",
        ([5, 1], {}),
        _loss(F.binary_cross_entropy_with_logits),
        {1: (0, 1)},
        [0, 1, 1, 0, 1, 0],
    ),
    ("cross_entropy", ([5, 3], {}), _loss(F.cross_entropy), {1: range(3)}, [0, 2, 1, 1, 0, 2]),
    (
        "nll_loss of log_softmax",
        ([5, 3], {}),
        _loss(F.nll_loss, F.log_softmax),
        {1: range(3)},
        [2, 2, 1, 0, 0, 1],
    ),
    (
        "hinge_loss + l2 + l1",
        ([5, 1], {}),
        _hinge_with_penalties,
        {1: (-1, 1)},
        [1, -1, -1, 1, 1, -1],
    ),
]


@pytest.mark.parametrize(
    "name, shape, build, labels, targets", LOSSES, ids=[case[0] for case in LOSSES]
)
def test_losses_equal_eager(name, shape, build, labels, targets):
    sizes, options = shape
    model = _mlp(3, sizes, **options)
    fn, eager = build(model)
    X = np.random.default_rng(1).normal(size=(6, 3))
    params = model.parameters()
    zero(params)
    expected = eager([[Value(v) for v in row] for row in X], list(targets))
    expected.backward()
    expected_grads = grads(params)
    loss, actual = compiled_mean(fn, (X, np.array(targets, float)), params, labels=labels)
    assert loss == pytest.approx(expected.data, rel=TOL, abs=TOL)
    assert_close(actual, expected_grads)


def test_reduction_sum_equals_eager_sum():
    m = _mlp(3, [4, 3])
    X, Y = np.random.default_rng(2).normal(size=(5, 3)), [0, 1, 2, 2, 1]
    zero(m.parameters())
    expected = F.cross_entropy([m(x) for x in X.tolist()], Y, reduction="sum")
    expected.backward()
    fn = lambda x, t: F.cross_entropy([m(x)], [t])
    loss, actual = compiled_mean(fn, (X, Y), m.parameters(), {1: range(3)}, "sum")
    assert loss == pytest.approx(expected.data, rel=TOL)
    assert_close(actual, grads(m.parameters()))


def test_forward_gives_every_output_per_sample():
    m = _mlp(3, [4, 3])
    X = np.random.default_rng(3).normal(size=(5, 3))
    probabilities = compile(lambda x: F.softmax(m(x)), m.parameters()).forward(X)
    expected = [[p.data for p in F.softmax(m(x))] for x in X.tolist()]
    assert probabilities.shape == (5, 3)
    assert_close(probabilities, expected)


# --- the compiled program ----------------------------------------------------------------


def test_dense_layers_become_matrix_products():
    m = _mlp(4, [5, 5, 2])
    compiled = compile(lambda x: Value.sum(m(x)), m.parameters())
    compiled(np.ones((3, 4)))
    listing = compiled.describe()
    assert listing.count("dot as matmul") == 3
    assert "dot as matmul 5x4" in listing and "dot as matmul 2x5" in listing


def test_parameter_only_nodes_are_computed_once():
    m = _mlp(2, [3, 1])
    params = m.parameters()
    compiled = compile(lambda x: m(x)[0] + 1e-3 * Value.sum([p * p for p in params]), params)
    compiled(np.ones((4, 2)))
    once = [line for line in compiled.describe().splitlines() if line.endswith("once")]
    assert [line.split()[2] for line in once] == ["mul", "sum", "mul"]


def test_parameter_updates_are_seen_without_tracing_again():
    m = _mlp(3, [4, 1])
    X = np.random.default_rng(4).normal(size=(5, 3))
    traces = []

    def fn(x):
        traces.append(1)
        return m(x)[0]

    compiled = compile(fn, m.parameters())
    compiled.forward(X)
    assert len(traces) == 2  # the trace, and the second one that checks determinism
    for p in m.parameters():
        p.data += 0.25
    assert_close(compiled.forward(X), [m(x)[0].data for x in X.tolist()])
    assert len(traces) == 2


def test_gradients_accumulate_like_backward():
    m = _mlp(3, [4, 1])
    X = np.random.default_rng(5).normal(size=(5, 3))
    compiled = compile(lambda x: m(x)[0] ** 2, m.parameters())
    zero(m.parameters())
    compiled(X)
    once = grads(m.parameters())
    compiled(X)
    assert_close(grads(m.parameters()), [2 * g for g in once])


def test_frozen_parameters_get_no_gradient_but_their_value_is_read():
    m = _mlp(2, [3, 1])
    frozen = m.layers[0].neurons[0].w[0]
    frozen.requires_grad = False
    compiled = compile(lambda x: m(x)[0] ** 2, m.parameters())
    X = np.random.default_rng(6).normal(size=(4, 2))
    compiled(X)
    assert frozen.grad is None
    frozen.data = 3.0
    assert_close(compiled.forward(X), [m(x)[0].data ** 2 for x in X.tolist()])


def test_value_and_grad_is_the_same_function_on_a_flat_vector():
    m = _mlp(3, [4, 2])
    params = m.parameters()
    X, Y = np.random.default_rng(7).normal(size=(6, 3)), np.array([0, 1, 1, 0, 1, 0])
    compiled = compile(lambda x, t: F.cross_entropy([m(x)], [t]), params, labels={1: (0, 1)})
    zero(params)
    loss = compiled(X, Y)
    theta = np.array([p.data for p in params])
    value, gradient = compiled.value_and_grad(theta, X, Y)
    assert value == loss
    assert_close(gradient, grads(params))


OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.RMSprop(ps, lr=0.01, centered=True),
]


@pytest.mark.parametrize("make", OPTIMIZERS, ids=["SGD nesterov", "Adam amsgrad", "RMSprop"])
def test_optimizer_steps_from_compiled_gradients_equal_eager(make):
    X, Y = np.random.default_rng(8).normal(size=(8, 2)), [1, -1, 1, 1, -1, -1, 1, -1]
    eager_model, compiled_model = _mlp(2, [4, 1]), _mlp(2, [4, 1])
    eager_opt, compiled_opt = make(eager_model.parameters()), make(compiled_model.parameters())
    step = compile(
        lambda x, t: F.hinge_loss(compiled_model(x), [t]),
        compiled_model.parameters(),
        labels={1: (-1, 1)},
    )
    for _ in range(3):
        eager_opt.zero_grad()
        F.hinge_loss([eager_model(x) for x in X.tolist()], Y).backward()
        eager_opt.step()
        compiled_opt.zero_grad()
        step(X, Y)
        compiled_opt.step()
    assert_close(
        [p.data for p in compiled_model.parameters()], [p.data for p in eager_model.parameters()]
    )


# --- refusals ------------------------------------------------------------------------------


def test_dropout_in_training_is_refused():
    layer, drop = nn.Linear(3, 16, seed=0), nn.Dropout(0.5, seed=0)
    compiled = compile(lambda x: Value.sum(drop(layer(x))), layer.parameters())
    with pytest.raises(CompileError, match=r"Dropout in training mode .* call eval\(\)"):
        compiled(np.ones((2, 3)))


def test_a_random_graph_is_refused_naming_the_first_new_node():
    """The second line of defence: random code that is not an nn layer."""
    rng = np.random.default_rng(0)
    layer = nn.Linear(3, 16, seed=0)

    def noisy(x):
        return Value.sum([h * float(rng.random() < 0.5) for h in layer(x)])

    compiled = compile(noisy, layer.parameters())
    with pytest.raises(CompileError, match=r"not deterministic.*first new node"):
        compiled(np.ones((2, 3)))


def test_batchnorm_in_training_is_refused():
    bn = nn.BatchNorm1d(2)
    compiled = compile(lambda x: Value.sum(bn([x])[0]), bn.parameters())
    with pytest.raises(CompileError, match=r"BatchNorm1d in training mode .* call eval\(\)"):
        compiled(np.ones((4, 2)))


def test_a_leaf_outside_params_that_requires_grad_is_refused():
    stray = Value(2.0, label="stray")
    compiled = compile(lambda x: x * stray, [])
    with pytest.raises(CompileError, match=r"label='stray'.*neither an input nor one of params"):
        compiled(np.ones(3))


BAD_CALLS = [
    (
        lambda: compile(lambda x: x, [], reduction="none")(np.ones(2)),
        ValueError,
        "reduction must be one of",
    ),
    (lambda: compile("f", []), TypeError, "fn must be callable"),
    (lambda: compile(lambda x: x, [1.0]), TypeError, "params must be Values"),
    (
        lambda: compile(lambda x: "loss", [])(np.ones(2)),
        TypeError,
        "must return a Value or a list of Values, got str",
    ),
    (
        lambda: compile(lambda x, t: x * t, [], labels={1: (0, 1)})(np.ones(2), [0, 2]),
        ValueError,
        r"label 2.0 \(argument 1, sample 1\) is not one of the declared \[0, 1\]",
    ),
    (lambda: compile(lambda x: x, [], labels={0: ()}), ValueError, "non-empty list"),
    (
        lambda: compile(lambda x: [x, x], [])(np.ones(2)),
        TypeError,
        "returns 2 values per sample; training needs one",
    ),
    (lambda: compile(lambda x: x, [])(np.float64(1.0)), ValueError, "pass a batch"),
    (
        lambda: compile(lambda x, y: x * y, [])(np.ones(2), np.ones(3)),
        ValueError,
        r"argument 1 has 3 samples, expected 2 \(as argument 0\)",
    ),
    (
        lambda: compile(lambda x: x, [])(np.ones(0)),
        ValueError,
        r"argument 0 is an empty batch \(0 samples\); a call needs at least one sample",
    ),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS)
def test_bad_use_is_refused_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_later_batch_of_another_shape_is_refused():
    compiled = compile(lambda x: Value.sum(x), [])
    compiled(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(4,\), but was traced with \(3,\)"):
        compiled(np.ones((2, 4)))


def test_the_same_arrays_changed_in_place_are_read_again():
    # A second call on the same arrays skips their checks: new numbers, new labels and
    # a new shape written into them in place must still be seen (and checked).
    w = Value(0.5)
    compiled = compile(lambda x, t: (w * x - t) ** 2, [w], labels={1: (0, 1)})
    X, y = np.array([1.0, 2.0, 3.0]), np.array([0, 1, 1])

    def eager() -> float:
        return sum((w.data * x - t) ** 2 for x, t in zip(X, y)) / len(X)

    assert compiled(X, y) == pytest.approx(eager(), rel=1e-15)
    X[:] = [4.0, -1.0, 0.5]
    y[:] = [1, 0, 0]
    assert compiled(X, y) == pytest.approx(eager(), rel=1e-15)
    y[0] = 2
    with pytest.raises(ValueError, match=r"label 2.0 \(argument 1, sample 0\) is not one"):
        compiled(X, y)
    y[0] = 1
    X.shape = (3, 1)
    with pytest.raises(ValueError, match=r"shape \(1,\), but was traced with \(\)"):
        compiled(X, y)


def test_pow_with_a_per_sample_exponent():
    a = Value(1.5)
    compiled = compile(lambda x: a**x + 2.0**x, [a])
    X = np.array([0.5, -1.0, 2.0])
    assert_close(compiled.forward(X), [1.5**x + 2.0**x for x in X])


def test_a_domain_error_names_the_op_and_the_node():
    compiled = compile(lambda x: (x * 2.0).log(), [])
    compiled(np.array([1.0, 2.0]))
    with pytest.raises(
        ValueError,
        match=r"compiled <lambda>: forward of 1 node\(s\) like log.*"
        r"log: input must be > 0, got -2.0",
    ):
        compiled(np.array([1.0, -1.0]))


def test_arguments_of_any_shape_and_several_labels():
    """A scalar, a 2x3 matrix and two label arguments per sample; batch of one too."""
    w = [Value(v) for v in (0.5, -1.0, 2.0)]

    def fn(scale, grid, sign, cls):
        rows = [Value.dot(w, row) for row in grid]
        return sign * (scale * rows[cls]).tanh() + rows[1 - cls] ** 2

    rng = np.random.default_rng(9)
    for size in (1, 5):
        scale, grid = rng.normal(size=size), rng.normal(size=(size, 2, 3))
        sign, cls = rng.choice([-1.0, 1.0], size=size), rng.integers(0, 2, size=size)
        batch = (scale, grid, sign, cls)
        labels = (2, 3)
        loss, expected = eager_mean(fn, batch, w, labels=labels)
        compiled, actual = compiled_mean(fn, batch, w, labels={2: (-1.0, 1.0), 3: (0, 1)})
        assert compiled == pytest.approx(loss, rel=TOL, abs=TOL)
        assert_close(actual, expected)


def test_an_output_that_is_an_input_or_a_parameter():
    p = Value(3.0)
    compiled = compile(lambda x: [x, p, x * p], [p])
    X = np.array([1.0, -2.0])
    assert_close(compiled.forward(X), [[1.0, 3.0, 3.0], [-2.0, 3.0, -6.0]])


def test_a_parameter_fn_never_reads_gets_no_gradient() -> None:
    """As in eager mode (and PyTorch): a call leaves an unread parameter's grad None,
    and gives the read ones theirs, in params order; a flat view holds 0 for it."""
    w, unread, b = Value(2.0), Value(5.0), Value(0.5)
    step = compile(lambda x: w * x[0] + b, [w, unread, b])
    X = np.array([[1.0], [3.0]])
    assert step(X) == 4.5
    assert (w.grad, unread.grad, b.grad) == (2.0, None, 1.0)
    flat = step.flat()  # starts from the parameters' gradients, None as 0
    step(X)
    assert flat.grad.tolist() == [4.0, 0.0, 2.0]
    flat.close()
