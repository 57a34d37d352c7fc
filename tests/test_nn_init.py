"""Initialisation schemes: statistics on wide layers, reproducibility, article 001's lessons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tapegrad import nn, no_grad
from tapegrad.nn import init

FAN_IN, FAN_OUT, COUNT = 400, 100, 40_000

# (name, expected std for fan_in=400, fan_out=100, bound of |w| or None)
STATISTICS = [
    ("normal", 1.0, None),
    ("uniform", 1 / math.sqrt(3), 1.0),
    ("xavier", math.sqrt(1 / FAN_IN), None),
    ("xavier_normal", math.sqrt(1 / FAN_IN), None),
    ("xavier_uniform", math.sqrt(1 / FAN_IN), math.sqrt(3 / FAN_IN)),
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
        (init.xavier_normal("fan_avg"), math.sqrt(2 / (FAN_IN + FAN_OUT))),
        (init.he_uniform(), math.sqrt(2 / FAN_IN)),
    ],
    ids=["normal(0.01)", "normal(2)", "uniform(-0.5, 0.5)", "xavier fan_avg", "he_uniform"],
)
def test_init_functions(initializer, std):
    w = np.array(initializer(FAN_IN, FAN_OUT, COUNT, np.random.default_rng(1)))
    assert w.std() == pytest.approx(std, rel=0.03)


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
def test_auto_init_is_he_for_relu_and_xavier_otherwise(activation, std):
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
        (lambda: init.normal(-1.0), ValueError, "std must be a positive number"),
        (lambda: init.uniform(1.0, -1.0), ValueError, "need low < high"),
        (lambda: init.xavier_normal("fan_out"), ValueError, "mode must be 'fan_in' or 'fan_avg'"),
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
    model = nn.MLP(2, [4, 1], "sigmoid", init="xavier", seed=0)
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
    xavier = _last_layer_activations("xavier")
    # std 1: activations pile up near 0 and 1 (vanishing gradients).
    assert np.mean((saturated < 0.1) | (saturated > 0.9)) > 0.5
    # std 0.01: all near 0.5, units say the same thing ("limited expressiveness").
    assert collapsed.std() < 0.02
    # Xavier: a real spread, without saturation.
    assert 0.05 < xavier.std() < saturated.std()
    assert np.mean((xavier < 0.1) | (xavier > 0.9)) < 0.1
