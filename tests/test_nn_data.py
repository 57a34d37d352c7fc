"""Data sets, the train/validation/test split and the mini-batch iterator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tapegrad.nn import data

GENERATORS = [
    ("moons", lambda **kw: data.make_moons(101, **kw), 101, {0, 1}),
    ("circles", lambda **kw: data.make_circles(60, **kw), 60, {0, 1}),
    ("spirals", lambda **kw: data.make_spirals(30, 3, **kw), 90, {0, 1, 2}),
]


@pytest.mark.parametrize("name, make, n, labels", GENERATORS, ids=[g[0] for g in GENERATORS])
def test_generated_sets_shape_labels_and_reproducibility(name, make, n, labels):
    X, y = make(seed=0)
    assert len(X) == len(y) == n
    assert all(isinstance(x, list) and len(x) == 2 and all(type(v) is float for v in x) for x in X)
    assert set(y) == labels and all(type(t) is int for t in y)
    assert make(seed=0) == (X, y)
    assert make(seed=1) != (X, y)
    assert make(rng=np.random.default_rng(0)) == (X, y)


def test_moons_without_noise_lie_on_the_two_half_circles():
    X, y = data.make_moons(50, noise=0.0, seed=0)
    for (a, b), t in zip(X, y):
        if t == 0:
            assert math.hypot(a, b) == pytest.approx(1.0) and b >= -1e-12
        else:
            assert math.hypot(a - 1, b - 0.5) == pytest.approx(1.0) and b <= 0.5 + 1e-12
    assert sorted(y) == [0] * 25 + [1] * 25


def test_circles_without_noise_have_two_radii():
    X, y = data.make_circles(40, noise=0.0, factor=0.3, seed=0)
    radii = {t: {round(math.hypot(*x), 12) for x, s in zip(X, y) if s == t} for t in (0, 1)}
    assert radii == {0: {1.0}, 1: {0.3}}


def test_black_box_table_of_seed_003():
    X, y = data.black_box()
    assert X == [[1.0], [1.1], [1.2], [2.0]]
    assert y == [2.21, 2.431, 2.652, 4.42]


def test_sine_target_of_seed_004():
    X, y = data.make_sine()
    assert len(X) == 100 and X[0] == [-2.0] and X[-1] == [2.0]
    assert y[0] == pytest.approx(0.0, abs=1e-15) and y[-1] == pytest.approx(2.0)
    assert all(
        t == pytest.approx(1 + math.sin(math.pi / 4 * x[0]), rel=1e-15) for x, t in zip(X, y)
    )


def test_split_is_a_shuffled_partition():
    X = [[float(i)] for i in range(100)]
    y = list(range(100))
    (xt, yt), (xv, yv), (xs, ys) = data.train_val_test_split(X, y, 0.2, 0.1, seed=0)
    assert (len(yt), len(yv), len(ys)) == (70, 20, 10)
    assert sorted(yt + yv + ys) == y
    assert all(x == [float(t)] for x, t in zip(xt + xv + xs, yt + yv + ys))
    assert yt != sorted(yt)  # shuffled before cutting (article 001, 6.5)
    assert data.train_val_test_split(X, y, 0.2, 0.1, seed=0)[2] == (xs, ys)


@pytest.mark.parametrize(
    "args, match",
    [
        (([[0.0]] * 3, [0, 1]), "3 inputs but 2 targets"),
        (([[0.0]] * 10, [0] * 10, 1.0, 0.0), "val_fraction must be in"),
        (([[0.0]] * 10, [0] * 10, 0.5, 0.5), "leave no training data"),
    ],
)
def test_split_refuses_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        data.train_val_test_split(*args, seed=0)


def test_loader_batches_cover_each_epoch_and_reshuffle():
    X = [[float(i)] for i in range(10)]
    y = list(range(10))
    loader = data.DataLoader(X, y, batch_size=4, shuffle=True, seed=0)
    epochs = [[yb for _, yb in loader] for _ in range(2)]
    assert len(loader) == 3
    for batches in epochs:
        assert [len(b) for b in batches] == [4, 4, 2]  # the last batch is smaller
        assert sorted(t for b in batches for t in b) == y
    assert epochs[0] != epochs[1]  # a new order every epoch
    for xb, yb in loader:
        assert xb == [[float(t)] for t in yb]


def test_loader_keeps_the_order_by_default_as_pytorch():
    loader = data.DataLoader([[0.0]] * 5, list(range(5)), 2)
    assert not loader.shuffle
    assert [yb for _, yb in loader] == [[0, 1], [2, 3], [4]]
    assert [yb for _, yb in loader] == [[0, 1], [2, 3], [4]]
    # an explicit shuffle=False may come with a seed (fit passes its own)
    ordered = data.DataLoader([[0.0]] * 3, [0, 1, 2], 3, shuffle=False, seed=0)
    assert [yb for _, yb in ordered] == [[0, 1, 2]]
    with pytest.raises(TypeError, match="DataLoader: shuffle must be True or False, got 1"):
        data.DataLoader([[0.0]], [0], 1, shuffle=1)


def test_loader_drop_last_and_no_shuffle():
    loader = data.DataLoader([[0.0]] * 10, list(range(10)), 4, shuffle=False, drop_last=True)
    assert len(loader) == 2
    assert [yb for _, yb in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: data.DataLoader([[0.0]], [0], 0), "batch_size must be an int >= 1"),
        (lambda: data.DataLoader([], [], 2), "empty data set"),
        (
            lambda: data.DataLoader([[0.0]], [0], 1, seed=0),
            "DataLoader: a seed or rng without shuffle; the default is shuffle=False "
            "\\(as PyTorch\\): pass shuffle=True",
        ),
        (
            lambda: data.DataLoader([[0.0]], [0], 1, rng=np.random.default_rng(0)),
            "a seed or rng without shuffle",
        ),
        (lambda: data.make_moons(1), "n_samples must be an int >= 2"),
        (lambda: data.make_moons(10, noise=-1), "noise must be a number >= 0"),
        (lambda: data.make_circles(10, factor=1.5), "factor must be in \\(0, 1\\)"),
        (lambda: data.make_spirals(10, 1), "n_classes must be an int >= 2"),
    ],
)
def test_data_arguments_are_checked(call, match):
    with pytest.raises(ValueError, match=match):
        call()
