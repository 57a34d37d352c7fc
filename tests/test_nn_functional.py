"""Losses, softmax, activations and penalties of nn.functional.

Reference numbers were computed with torch 2.13 (float64) and are kept as literals,
so these tests need no torch; ``test_live_against_torch`` repeats the comparison
when torch is installed.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import Value, gradcheck
from tapegrad.nn import functional as F

# (name, loss, predictions, targets, kwargs, torch loss, torch d loss / d prediction)
LOSS_CASES = [
    (
        "mse",
        F.mse_loss,
        [[0.5, -1.2], [2.0, 0.3], [-0.7, 1.1]],
        [[1.0, 0.0], [1.5, -0.5], [0.0, 2.0]],
        {},
        0.6466666666666666,
        [
            -0.16666666666666666,
            -0.39999999999999997,
            0.16666666666666666,
            0.26666666666666666,
            -0.2333333333333333,
            -0.29999999999999993,
        ],
    ),
    (
        "mse_sum",
        F.mse_loss,
        [[0.5, -1.2], [2.0, 0.3], [-0.7, 1.1]],
        [[1.0, 0.0], [1.5, -0.5], [0.0, 2.0]],
        {"reduction": "sum"},
        3.88,
        [-1.0, -2.4, 1.0, 1.6, -1.4, -1.7999999999999998],
    ),
    (
        "binary_cross_entropy",
        F.binary_cross_entropy,
        [0.9, 0.2, 0.6, 0.01],
        [1.0, 0.0, 0.3, 1.0],
        {},
        1.4320813631004583,
        [-0.2777777777777778, 0.31249999999999994, 0.3125, -24.999999999999996],
    ),
    (
        "binary_cross_entropy_with_logits",
        F.binary_cross_entropy_with_logits,
        [2.0, -1.0, 0.0, 1000.0, -1000.0, 30.0, -40.0],
        [1.0, 0.0, 0.5, 0.0, 1.0, 1.0, 0.0],
        {},
        285.8761909827316,
        [
            -0.017028988860302526,
            0.03842020305285644,
            0.0,
            0.14285714285714285,
            -0.14285714285714285,
            -1.3354396953348312e-14,
            6.069077507559413e-19,
        ],
    ),
    (
        "cross_entropy",
        F.cross_entropy,
        [[1.0, 2.0, 0.5], [1000.0, 0.0, -1000.0], [0.1, 0.1, 0.1], [-3.0, 4.0, 1000.0]],
        [1, 2, 0, 2],
        {},
        500.39074526819405,
        [
            0.05780597440553726,
            -0.09286707019705939,
            0.03506109579152212,
            0.25,
            0.0,
            -0.25,
            -0.16666666666666669,
            0.08333333333333333,
            0.08333333333333333,
            0.0,
            0.0,
            0.0,
        ],
    ),
    (
        "nll_loss",
        F.nll_loss,
        [[-0.5, -1.2, -2.0], [-0.1, -3.0, -2.5]],
        [2, 0],
        {},
        1.05,
        [0.0, 0.0, -0.5, -0.5, 0.0, 0.0],
    ),
    (
        "hinge",
        F.hinge_loss,
        [0.5, -2.0, 1.5, 0.0, 3.0],
        [1.0, 1.0, -1.0, -1.0, 1.0],
        {},
        1.4,
        [-0.2, -0.2, 0.2, 0.2, 0.0],
    ),
]


def _as_values(predictions):
    return [[Value(x) for x in p] if isinstance(p, list) else Value(p) for p in predictions]


def _flat(values):
    return [v for p in values for v in (p if isinstance(p, list) else [p])]


@pytest.mark.parametrize(
    "name, loss_fn, predictions, targets, kwargs, expected, expected_grad",
    LOSS_CASES,
    ids=[case[0] for case in LOSS_CASES],
)
def test_loss_matches_torch(name, loss_fn, predictions, targets, kwargs, expected, expected_grad):
    values = _as_values(predictions)
    loss = loss_fn(values, targets, **kwargs)
    loss.backward()
    assert loss.data == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # A prediction the loss does not read gets no gradient (None); PyTorch's tensor of
    # predictions holds 0 there.
    grads = [0.0 if v.grad is None else v.grad for v in _flat(values)]
    assert grads == pytest.approx(expected_grad, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(
    "name, loss_fn, predictions, targets, kwargs",
    [case[:5] for case in LOSS_CASES],
    ids=[case[0] for case in LOSS_CASES],
)
def test_loss_gradcheck(name, loss_fn, predictions, targets, kwargs):
    shapes = [len(p) if isinstance(p, list) else None for p in predictions]
    # Logits of +-1000 saturate: finite differences there only see rounding.
    point = [max(-5.0, min(5.0, x)) for x in _flat(predictions)]

    def f(xs):
        it = iter(xs)
        preds = [[next(it) for _ in range(n)] if n else next(it) for n in shapes]
        return loss_fn(preds, targets, **kwargs)

    assert gradcheck(f, point)


@pytest.mark.parametrize(
    "loss_fn, predictions, targets, expected",
    [
        (
            F.binary_cross_entropy_with_logits,
            [2.0, -1.0, 0.0, 1000.0, -1000.0, 30.0, -40.0],
            [1.0, 0.0, 0.5, 0.0, 1.0, 1.0, 0.0],
            [
                0.1269280110429725,
                0.3132616875182228,
                0.6931471805599453,
                1000.0,
                1000.0,
                9.357622968839737e-14,
                0.0,
            ],
        ),
        (
            F.cross_entropy,
            [[1.0, 2.0, 0.5], [1000.0, 0.0, -1000.0], [0.1, 0.1, 0.1], [-3.0, 4.0, 1000.0]],
            [1, 2, 0, 2],
            [0.4643687841079449, 2000.0, 1.0986122886681098, 0.0],
        ),
        # log(0) and log(1 - 1) are clamped at -100, as in torch.
        (
            F.binary_cross_entropy,
            [0.0, 1.0, 1e-50, 1.0],
            [1.0, 0.0, 1.0, 1.0],
            [100.0, 100.0, 100.0, 0.0],
        ),
    ],
    ids=["bce_with_logits", "cross_entropy", "bce_clamped"],
)
def test_per_sample_losses_match_torch(loss_fn, predictions, targets, expected):
    losses = loss_fn(_as_values(predictions), targets, reduction="none")
    assert [v.data for v in losses] == pytest.approx(expected, rel=1e-12, abs=1e-15)


# Near a loss of 0 every digit is kept, as PyTorch's log1p forms do (binary_cross_entropy
# takes log(1 - p) as log1p(-p)), and the with-logits gradient is sigmoid(x) - t, not a
# difference that cancels. Expected numbers by the definitions in 60-digit decimal
# arithmetic (decimal.Decimal, then rounded to the nearest float): -ln(1 - 1e-12) =
# 1.0000000000005e-12, its derivative 1 / (1 - 1e-12) = 1.000000000001;
# ln(1 + e^-40) = sigmoid(-40) = 4.248354255291589e-18; ln(1 + e^-20) =
# 2.061153620314381e-09 and sigmoid(-20) = 2.0611536181902037e-09.
PRECISION_CASES = [
    ("bce p=1e-12 t=0", F.binary_cross_entropy, 1e-12, 0.0, 1.0000000000005e-12, 1.000000000001),
    (
        "with logits x=-40 t=0",
        F.binary_cross_entropy_with_logits,
        -40.0,
        0.0,
        4.248354255291589e-18,
        4.248354255291589e-18,
    ),
    (
        "with logits x=40 t=1",
        F.binary_cross_entropy_with_logits,
        40.0,
        1.0,
        4.248354255291589e-18,
        -4.248354255291589e-18,
    ),
    (
        "with logits x=-20 t=0",
        F.binary_cross_entropy_with_logits,
        -20.0,
        0.0,
        2.061153620314381e-09,
        2.0611536181902037e-09,
    ),
]


@pytest.mark.parametrize(
    "loss_fn, x, t, expected, expected_grad",
    [case[1:] for case in PRECISION_CASES],
    ids=[case[0] for case in PRECISION_CASES],
)
def test_binary_losses_keep_every_digit_near_zero(loss_fn, x, t, expected, expected_grad):
    v = Value(x)
    loss = loss_fn([v], [t])
    loss.backward()
    assert loss.data == pytest.approx(expected, rel=1e-15, abs=0.0)
    assert v.grad == pytest.approx(expected_grad, rel=1e-15, abs=0.0)


@given(st.floats(0.0, 0.999), st.floats(0.0, 1.0))
def test_binary_cross_entropy_is_torch_formula_with_log1p(p, t):
    # torch: (t - 1) * max(log1p(-p), -100) - t * max(log(p), -100), on floats
    expected = (t - 1) * math.log1p(-p) - t * (max(math.log(p), -100.0) if p else -100.0)
    loss = F.binary_cross_entropy([Value(p)], [t])
    assert loss.data == pytest.approx(expected, rel=1e-14, abs=0.0)


# Where a log is clamped at -100 (p = 0, or underflowed, with target 1; p = 1 with
# target 0) the loss is still a function of p, with gradient 0 there, so backward()
# reaches p; the other log of a soft target keeps its gradient (-0.5 * d/dp log(1 - p)
# = 0.5 at p = 0).
CLAMPED_CASES = [
    ("p=0 t=1", lambda x: x, 0.0, 1.0, 100.0, 0.0),
    ("p=1 t=0", lambda x: x, 1.0, 0.0, 100.0, 0.0),
    ("p=1e-50 t=1", lambda x: x, 1e-50, 1.0, 100.0, 0.0),
    ("sigmoid underflowed t=1", Value.sigmoid, -800.0, 1.0, 100.0, 0.0),
    ("p=0 t=0.5", lambda x: x, 0.0, 0.5, 50.0, 0.5),
]


@pytest.mark.parametrize(
    "to_p, x, t, expected, expected_grad",
    [case[1:] for case in CLAMPED_CASES],
    ids=[case[0] for case in CLAMPED_CASES],
)
def test_a_clamped_binary_cross_entropy_stays_a_function_of_p(to_p, x, t, expected, expected_grad):
    v = Value(x)
    loss = F.binary_cross_entropy([to_p(v)], [t])
    loss.backward()
    assert loss.data == expected
    assert v.grad == expected_grad


def test_cross_entropy_is_finite_for_huge_logits():
    logits = [Value(1000.0), Value(999.0), Value(-1000.0)]
    loss = F.cross_entropy([logits], [1])
    loss.backward()
    assert loss.data == pytest.approx(1.0 + math.log1p(math.exp(-1.0)), rel=1e-12)
    assert all(math.isfinite(v.grad) for v in logits)


def test_mse_half_sum_form_has_derivative_p_minus_t():
    p = [Value(3.0), Value(-1.0)]
    (0.5 * F.mse_loss(p, [1.0, 2.0], reduction="sum")).backward()
    assert [v.grad for v in p] == [2.0, -3.0]


def test_hinge_is_micrograds_formula():
    scores = [Value(s) for s in (0.3, -0.4, 2.0)]
    ys = [1, -1, -1]
    expected = sum(max(0.0, 1 - y * s.data) for y, s in zip(ys, scores)) / 3
    assert F.hinge_loss(scores, ys).data == pytest.approx(expected, rel=1e-15)


def test_model_outputs_pair_with_scalar_targets():
    outputs = [[Value(1.0)], [Value(3.0)]]  # what a one-output model returns per sample
    assert F.mse_loss(outputs, [0.0, 1.0]).data == 2.5


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: F.mse_loss([Value(1.0)], [1.0, 2.0]), ValueError, "1 predictions but 2"),
        (lambda: F.mse_loss([], []), ValueError, "empty batch"),
        (lambda: F.mse_loss([[Value(1.0), Value(2.0)]], [[1.0]]), ValueError, "sample 0 has 2"),
        (lambda: F.mse_loss(Value(1.0), 1.0), TypeError, "wrap a single sample"),
        (lambda: F.mse_loss([Value(1.0)], ["a"]), TypeError, "target 0 must be a number"),
        (lambda: F.mse_loss([Value(1.0)], [1.0], reduction="avg"), ValueError, "reduction"),
        (lambda: F.binary_cross_entropy([Value(1.5)], [1.0]), ValueError, "not a probability"),
        (lambda: F.cross_entropy([[Value(1.0)] * 3], [3]), ValueError, "out of range"),
        (lambda: F.cross_entropy([[Value(1.0)] * 3], [1.0]), TypeError, "class index"),
        (lambda: F.nll_loss([[Value(-1.0)] * 2], [-1]), ValueError, "out of range"),
        (lambda: F.hinge_loss([Value(1.0)], [0]), ValueError, "must be -1 or \\+1"),
        (lambda: F.softmax([]), ValueError, "empty"),
        (lambda: F.activation("swish"), ValueError, "unknown activation 'swish'"),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_softmax_and_log_softmax_match_torch():
    z = [Value(x) for x in (1.0, 2.0, 0.5, -1.0)]
    assert [v.data for v in F.softmax(z)] == pytest.approx(
        [0.22420781804820114, 0.6094600375988771, 0.1359889157935055, 0.030343228559416225],
        rel=1e-14,
    )
    assert [v.data for v in F.log_softmax(z)] == pytest.approx(
        [-1.495181898085856, -0.49518189808585605, -1.995181898085856, -3.495181898085856],
        rel=1e-14,
    )


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_gradcheck(fn):
    weights = [0.3, -1.0, 2.0, 0.5]
    assert gradcheck(lambda xs: Value.dot(weights, fn(xs)), [1.0, 2.0, 0.5, -1.0])


logit_lists = st.lists(st.floats(-50, 50), min_size=1, max_size=6)


@given(logit_lists, st.data())
def test_cross_entropy_equals_nll_of_log_softmax(logits, data):
    target = data.draw(st.integers(0, len(logits) - 1))
    z = [Value(x) for x in logits]
    ce = F.cross_entropy([z], [target])
    nll = F.nll_loss([F.log_softmax(z)], [target])
    assert ce.data == pytest.approx(nll.data, rel=1e-12, abs=1e-12)
    assert ce.data >= 0.0


@given(st.lists(st.floats(-1000, 1000), min_size=1, max_size=6))
def test_softmax_is_a_distribution(logits):
    probs = [p.data for p in F.softmax([Value(x) for x in logits])]
    assert sum(probs) == pytest.approx(1.0, rel=1e-12)
    assert all(0.0 <= p <= 1.0 for p in probs)


@given(st.floats(-15, 15), st.sampled_from([0.0, 1.0, 0.25]))
def test_bce_with_logits_equals_bce_of_sigmoid(x, t):
    # |x| <= 15 because bce on probabilities loses digits in 1 - p as p nears 1.
    p = 1 / (1 + math.exp(-x))
    a = F.binary_cross_entropy_with_logits([Value(x)], [t]).data
    b = F.binary_cross_entropy([Value(p)], [t]).data
    assert a == pytest.approx(b, rel=1e-8, abs=1e-9)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("relu", [0.0, 0.0, 2.0]),
        ("leaky_relu", [-0.01, 0.0, 2.0]),
        ("sigmoid", [1 / (1 + math.e), 0.5, 1 / (1 + math.exp(-2))]),
        ("tanh", [math.tanh(-1), 0.0, math.tanh(2)]),
        ("linear", [-1.0, 0.0, 2.0]),
    ],
)
def test_activations_by_name(name, expected):
    fn = F.activation(name)
    assert [fn(Value(x)).data for x in (-1.0, 0.0, 2.0)] == pytest.approx(expected, rel=1e-15)


def test_penalties_are_one_node_each_with_exact_gradients():
    params = [Value(x) for x in (1.5, -2.0, 0.0)]
    l1, l2 = F.l1_penalty(params), F.l2_penalty(params)
    assert (l1.op, l1.data, l2.op, l2.data) == ("sum", 3.5, "dot", 6.25)
    assert l2.parents == (*params, *params)
    (l1 + l2).backward()
    assert [p.grad for p in params] == [1.0 + 3.0, -1.0 - 4.0, 0.0]


def test_live_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    torch_losses = {
        "mse": tf.mse_loss,
        "mse_sum": lambda p, t: tf.mse_loss(p, t, reduction="sum"),
        "binary_cross_entropy": tf.binary_cross_entropy,
        "binary_cross_entropy_with_logits": tf.binary_cross_entropy_with_logits,
        "cross_entropy": tf.cross_entropy,
        "nll_loss": tf.nll_loss,
        "hinge": lambda s, y: torch.relu(1 - y * s).mean(),
    }
    for name, loss_fn, predictions, targets, kwargs, _, _ in LOSS_CASES:
        p = torch.tensor(predictions, dtype=torch.float64, requires_grad=True)
        t = torch.tensor(
            targets, dtype=torch.int64 if name in ("cross_entropy", "nll_loss") else torch.float64
        )
        expected = torch_losses[name](p, t)
        expected.backward()
        values = _as_values(predictions)
        loss = loss_fn(values, targets, **kwargs)
        loss.backward()
        assert loss.data == pytest.approx(expected.item(), rel=1e-12), name
        # A Value the loss never reads (nll_loss's other classes) gets no gradient: None
        # here, where a tensor holds 0 in that element.
        got = [0.0 if v.grad is None else v.grad for v in _flat(values)]
        assert got == pytest.approx(p.grad.flatten().tolist(), rel=1e-9, abs=1e-15), name
