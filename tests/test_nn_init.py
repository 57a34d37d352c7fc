"""Initialisation schemes: statistics on wide layers, PyTorch's formulas, reproducibility,
article 001's lessons."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from tapegrad import nn, no_grad
from tapegrad.nn import init

FAN_IN, FAN_OUT, COUNT = 400, 100, 40_000

# (name, expected std for fan_in=400, fan_out=100, bound of |w| or None)
STATISTICS = [
    ("normal", 1.0, None),
    ("uniform", 1 / math.sqrt(3), 1.0),
    ("lecun_normal", math.sqrt(1 / FAN_IN), None),
    ("lecun_uniform", math.sqrt(1 / FAN_IN), math.sqrt(3 / FAN_IN)),
    ("xavier", math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    ("xavier_normal", math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    ("xavier_uniform", math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("glorot_normal", math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    ("glorot_uniform", math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he", math.sqrt(2 / FAN_IN), None),
    ("he_normal", math.sqrt(2 / FAN_IN), None),
    ("kaiming_normal", math.sqrt(2 / FAN_IN), None),
    ("he_uniform", math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    ("kaiming_uniform", math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
]


@pytest.mark.parametrize("name, std, bound", STATISTICS, ids=[s[0] for s in STATISTICS])
def test_named_init_statistics(name, std, bound):
    w = np.array(init.get(name)(FAN_IN, FAN_OUT, COUNT, np.random.default_rng(0)))
    # 40,000 draws: the sample std is within ~1% of the true one (3 sigma), mean ~0.
    assert w.std() == pytest.approx(std, rel=0.03)
    assert abs(w.mean()) < 4 * std / math.sqrt(COUNT)
    if bound is not None:
        assert np.abs(w).max() <= bound


@pytest.mark.parametrize(
    "initializer, std",
    [
        (init.normal(0.01), 0.01),
        (init.normal(std=2.0, mean=0.0), 2.0),
        (init.uniform(-0.5, 0.5), 1 / math.sqrt(12)),
        (init.xavier_normal(gain=5 / 3), 5 / 3 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
        (init.xavier_uniform(2.0), 2 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
        (init.he_uniform(), math.sqrt(2 / FAN_IN)),
        (init.kaiming_normal(mode="fan_out"), math.sqrt(2 / FAN_OUT)),
        (init.kaiming_uniform(a=1.0), math.sqrt(1 / FAN_IN)),
        (init.kaiming_normal(nonlinearity="tanh"), 5 / 3 / math.sqrt(FAN_IN)),
    ],
    ids=[
        "normal(0.01)",
        "normal(2)",
        "uniform(-0.5, 0.5)",
        "xavier gain 5/3",
        "xavier_uniform gain 2",
        "he_uniform",
        "kaiming fan_out",
        "kaiming_uniform slope 1",
        "kaiming tanh",
    ],
)
def test_init_functions(initializer, std):
    w = np.array(initializer(FAN_IN, FAN_OUT, COUNT, np.random.default_rng(1)))
    assert w.std() == pytest.approx(std, rel=0.03)


class Recorder:
    """Stands in for the generator: records the distribution an initialiser asks for."""

    def normal(self, mean: float, std: float, count: int) -> np.ndarray:
        self.asked = ("normal", mean, std)
        return np.zeros(count)

    def uniform(self, low: float, high: float, count: int) -> np.ndarray:
        self.asked = ("uniform", low, high)
        return np.zeros(count)


def asked_for(initializer: init.Initializer) -> tuple:
    recorder = Recorder()
    initializer(FAN_IN, FAN_OUT, 1, recorder)
    return recorder.asked


# PyTorch 2.13's std and bounds for a (100, 400) weight (fan_in 400, fan_out 100),
# float64 by its formulas: gain * sqrt(2 / (fan_in + fan_out)), gain / sqrt(fan), and
# sqrt(3) * std for the uniform ones, gain = torch.nn.init.calculate_gain(nonlinearity, a).
# The std of kaiming_* is computed as sqrt(gain^2 / fan), which can differ from gain /
# sqrt(fan) in the last bit: hence rel=1e-15.
TORCH_FORMULAS = [
    ("xavier_normal", init.xavier_normal(), ("normal", 0.06324555320336758)),
    ("xavier_normal-tanh-gain", init.xavier_normal(5 / 3), ("normal", 0.10540925533894598)),
    ("xavier_uniform", init.xavier_uniform(), ("uniform", 0.10954451150103321)),
    ("kaiming_normal", init.kaiming_normal(), ("normal", 0.07071067811865475)),
    (
        "kaiming_normal-slope-0.2-fan_out",
        init.kaiming_normal(a=0.2, mode="fan_out"),
        ("normal", 0.1386750490563073),
    ),
    (
        "kaiming_normal-tanh",
        init.kaiming_normal(nonlinearity="tanh"),
        ("normal", 0.08333333333333334),
    ),
    (
        "kaiming_normal-selu-fan_out",
        init.kaiming_normal(mode="fan_out", nonlinearity="selu"),
        ("normal", 0.075),
    ),
    ("kaiming_uniform", init.kaiming_uniform(), ("uniform", 0.1224744871391589)),
    (
        "kaiming_uniform-relu-fan_out",
        init.kaiming_uniform(mode="fan_out", nonlinearity="relu"),
        ("uniform", 0.2449489742783178),
    ),
]


@pytest.mark.parametrize(
    ("initializer", "expected"), [t[1:] for t in TORCH_FORMULAS], ids=[t[0] for t in TORCH_FORMULAS]
)
def test_pytorch_formula_numbers(initializer, expected):
    kind, width = expected
    asked = asked_for(initializer)
    assert asked[0] == kind
    if kind == "normal":
        assert asked[1] == 0.0 and asked[2] == pytest.approx(width, rel=1e-15)
    else:
        assert asked[1] == -asked[2] and asked[2] == pytest.approx(width, rel=1e-15)


@pytest.mark.parametrize("fan_in", [3, 6, 400])
def test_default_kaiming_is_sqrt_2_over_fan_in_to_the_last_bit(fan_in):
    # The "auto" scheme of every ReLU layer. For fan_in 3 and 6, sqrt(2) / sqrt(fan_in)
    # is one bit away from sqrt(2 / fan_in).
    for activation, variance in (("relu", 2.0), ("tanh", 1.0)):
        recorder = Recorder()
        init.get("auto", activation)(fan_in, 1, 1, recorder)
        assert recorder.asked == ("normal", 0.0, math.sqrt(variance / fan_in))
    assert math.sqrt(2.0) / math.sqrt(fan_in) != math.sqrt(2.0 / fan_in) or fan_in == 400


def test_glorot_and_he_are_the_same_functions_as_xavier_and_kaiming():
    assert init.glorot_normal is init.xavier_normal
    assert init.glorot_uniform is init.xavier_uniform
    assert init.he_normal is init.kaiming_normal
    assert init.he_uniform is init.kaiming_uniform


# torch.nn.init.calculate_gain's values, float64.
GAINS = [
    ("linear", None, 1.0),
    ("sigmoid", None, 1.0),
    ("tanh", None, 1.6666666666666667),
    ("relu", None, 1.4142135623730951),
    ("leaky_relu", None, 1.4141428569978354),
    ("leaky_relu", 0.2, 1.3867504905630728),
    ("selu", None, 0.75),
]


@pytest.mark.parametrize(("nonlinearity", "param", "gain"), GAINS)
def test_calculate_gain_is_pytorchs(nonlinearity, param, gain):
    assert init.calculate_gain(nonlinearity, param) == gain


def test_constant_and_zeros():
    rng = np.random.default_rng(0)
    assert init.constant(0.3)(2, 2, 3, rng) == [0.3, 0.3, 0.3]
    assert init.get("zeros")(2, 2, 2, rng) == [0.0, 0.0]


def test_wide_layer_weights_have_the_scheme_std():
    layer = nn.Linear(FAN_IN, FAN_OUT, "relu", init="he", seed=0)
    w = np.array([p.data for n in layer.neurons for p in n.w])
    assert w.std() == pytest.approx(math.sqrt(2 / FAN_IN), rel=0.03)
    assert all(n.b.data == 0.0 for n in layer.neurons)


@pytest.mark.parametrize(
    "activation, std",
    [
        ("relu", math.sqrt(2 / 200)),
        ("leaky_relu", math.sqrt(2 / 200)),
        ("sigmoid", math.sqrt(1 / 200)),
        ("tanh", math.sqrt(1 / 200)),
    ],
)
def test_auto_init_is_he_for_relu_and_lecun_otherwise(activation, std):
    layer = nn.Linear(200, 100, activation, seed=0)
    w = np.array([p.data for n in layer.neurons for p in n.w])
    assert w.std() == pytest.approx(std, rel=0.03)


def test_same_seed_same_weights():
    """A seed fixes the weights; another seed, or none, draws others."""
    draw = init.get("he_uniform")
    seven = draw(3, 3, 5, init.make_rng(seed=7))
    assert seven == draw(3, 3, 5, init.make_rng(seed=7))
    assert seven != draw(3, 3, 5, init.make_rng(seed=8))
    assert draw(3, 3, 5, init.make_rng()) != draw(3, 3, 5, init.make_rng())

    def weights(seed):
        return [p.data for p in nn.MLP(3, [4, 1], seed=seed).parameters()]

    assert weights(7) == weights(7)
    assert weights(7) != weights(8)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: init.get("lecun"), ValueError, "unknown init 'lecun'; choose one of: auto"),
        (
            lambda: init.xavier_normal("fan_avg"),
            TypeError,
            re.escape(
                "xavier_normal: gain must be a real number, got str 'fan_avg' (xavier_* is "
                "PyTorch's Glorot scheme and takes no mode; for variance 1/fan_in use "
                "lecun_normal"
            ),
        ),
        (lambda: init.xavier_uniform(0), ValueError, "xavier_uniform: gain must be a positive"),
        (
            lambda: init.kaiming_normal(mode="fan_avg"),
            ValueError,
            re.escape("Mode fan_avg not supported, please use one of ['fan_in', 'fan_out']"),
        ),
        (
            lambda: init.kaiming_uniform(nonlinearity="gelu"),
            ValueError,
            "Unsupported nonlinearity gelu",
        ),
        (
            lambda: init.calculate_gain("leaky_relu", "0.2"),
            ValueError,
            "negative_slope 0.2 not a valid number",
        ),
        (lambda: init.normal(-1.0), ValueError, "std must be a positive number"),
        (lambda: init.uniform(1.0, -1.0), ValueError, "need low < high"),
        (lambda: nn.Linear(2, 2, init="bogus", seed=0), ValueError, "unknown init 'bogus'"),
        # A string is never parsed as a number.
        (
            lambda: init.constant("3"),
            TypeError,
            "constant: value must be a real number, got str '3'",
        ),
        (
            lambda: init.constant(b"3"),
            TypeError,
            "constant: value must be a real number, got bytes",
        ),
        (lambda: init.constant(None), TypeError, "constant: value must be a real number, got None"),
        (lambda: init.constant(True), TypeError, "constant: value must be a real number, got bool"),
        (lambda: init.constant(10**400), OverflowError, r"constant: value \(1\d+\) is too large"),
    ],
)
def test_bad_init_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _sgd_steps(model: nn.Module, X, Y, steps: int, lr: float = 0.5) -> None:
    for _ in range(steps):
        loss = nn.functional.mse_loss([model(x) for x in X], Y)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad


@pytest.mark.parametrize("scheme", ["zeros", init.constant(0.5)], ids=["zeros", "constant"])
def test_equal_init_keeps_hidden_units_identical(scheme):
    """Article 001: with equal initial weights every hidden unit gets the same gradient,
    so after any number of steps the layer still acts as one unit."""
    X, y = nn.data.make_moons(20, seed=0)
    model = nn.MLP(2, [4, 1], "sigmoid", init=scheme, seed=0)
    _sgd_steps(model, X, y, steps=10)
    hidden = [[p.data for p in n.parameters()] for n in model.layers[0].neurons]
    assert all(unit == hidden[0] for unit in hidden)
    initial = [0.0, 0.0, 0.0] if scheme == "zeros" else [0.5, 0.5, 0.0]
    assert hidden[0] != initial  # the units did learn, all in the same way


def test_random_init_breaks_the_symmetry():
    X, y = nn.data.make_moons(20, seed=0)
    model = nn.MLP(2, [4, 1], "sigmoid", init="lecun_normal", seed=0)
    _sgd_steps(model, X, y, steps=10)
    hidden = [[p.data for p in n.parameters()] for n in model.layers[0].neurons]
    assert len({tuple(unit) for unit in hidden}) == 4


def _last_layer_activations(scheme) -> np.ndarray:
    """Article 001's experiment, small: a 5-layer sigmoid net of width 50, random inputs."""
    model = nn.MLP(50, [50] * 5, "sigmoid", "sigmoid", init=scheme, seed=0)
    X = np.random.default_rng(0).normal(size=(40, 50)).tolist()
    with no_grad():
        return np.array([[v.data for v in model(x)] for x in X])


def test_seed_001_activation_distributions():
    saturated = _last_layer_activations(init.normal(1.0))
    collapsed = _last_layer_activations(init.normal(0.01))
    lecun = _last_layer_activations("lecun_normal")
    # std 1: activations pile up near 0 and 1 (vanishing gradients).
    assert np.mean((saturated < 0.1) | (saturated > 0.9)) > 0.5
    # std 0.01: all near 0.5, units say the same thing ("limited expressiveness").
    assert collapsed.std() < 0.02
    # The article's "Xavier" (LeCun's 1/fan_in): a real spread, without saturation.
    assert 0.05 < lecun.std() < saturated.std()
    assert np.mean((lecun < 0.1) | (lecun > 0.9)) < 0.1
