"""The training demos learning-rate, minibatch, universal, schedules and exploding, run
with small settings: each once per module, its reported numbers checked."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from demo_runner import assert_files_written, assert_says_what_to_look_for, run_demos

from demos.learning_rate import CRAWL

pytestmark = [
    pytest.mark.slow,  # the demos run, if with small settings
    pytest.mark.usefixtures("quiet"),  # no progress bars in test output
]

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

SMALL = {
    "learning_rate": [
        "--epochs",
        "60",
        "--points",
        "30",
        "--rates",
        "0.001",
        "0.01",
        "0.1",
        "0.3",
        "1",
        "3",
    ],
    "minibatch": ["--samples", "60", "--epochs", "4", "--batch-sizes", "16", "1"],
    "universal": ["--widths", "1", "4", "16", "--epochs", "1000", "--points", "60"],
    "schedules": ["--epochs", "30", "--samples", "60", "--batch-size", "10"],
    "exploding": ["--epochs", "150", "--samples", "40"],
}

FILES = {
    "learning_rate": ["learning_rate.png"],
    "minibatch": ["minibatch.png"],
    "universal": ["universal.png"],
    "schedules": ["schedules.png"],
    "exploding": ["exploding.png"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_demos(tmp_path_factory, SMALL)


@pytest.mark.parametrize("name", list(FILES))
def test_every_demo_writes_its_files_and_says_what_to_look_for(results, name):
    assert_files_written(results[name][1], FILES[name])
    assert_says_what_to_look_for(*results[name])


# --- learning-rate -----------------------------------------------------------------


def _finite_difference_hessian(start: list[float], points: int, eps: float = 1e-5) -> np.ndarray:
    """The loss's Hessian at ``start`` from central differences of backprop gradients."""
    from demos.sine import build
    from tapegrad import nn
    from tapegrad.nn import functional as F

    X, Y = nn.data.make_sine(points)
    model = build(0)
    params = model.parameters()

    def gradient(values):
        for p, v in zip(params, values):
            p.data = v
        model.zero_grad()
        F.mse_loss([model(x) for x in X], Y).backward()
        return np.array([p.grad for p in params])

    columns = []
    for i in range(len(start)):
        up, down = list(start), list(start)
        up[i] += eps
        down[i] -= eps
        columns.append((gradient(up) - gradient(down)) / (2 * eps))
    return np.array(columns)


def test_the_stable_rate_is_two_over_the_largest_hessian_eigenvalue(results):
    r, _ = results["learning_rate"]
    h = _finite_difference_hessian(r["start"], 30)
    assert r["eigenvalues"] == pytest.approx(np.linalg.eigvalsh((h + h.T) / 2), abs=1e-6)
    assert r["lr_max"] == pytest.approx(2 / max(r["eigenvalues"]), rel=1e-12)
    assert 0.3 < r["lr_max"] < 1  # between the grid's best rate and its first diverging one


def test_rates_above_two_over_lambda_max_diverge_and_tiny_ones_crawl(results):
    r, _ = results["learning_rate"]
    assert r["diverged"] == [rate for rate in r["rates"] if rate > r["lr_max"]] == [1.0, 3.0]
    assert r["crawled"] == [0.001, 0.01]
    assert r["best"] == 0.3
    first = r["first"]
    for curve in r["curves"].values():  # every rate starts from the same weights
        assert len(curve) == 60
        assert curve[0] == pytest.approx(first, rel=1e-12)
    assert r["final"][0.3] < 0.01 * first
    assert r["final"][0.001] > CRAWL * first
    assert not math.isfinite(r["final"][3.0]) or r["final"][3.0] > 1e6 * first


# --- minibatch ---------------------------------------------------------------------


def test_smaller_batches_make_more_and_noisier_updates_per_epoch(results):
    r, _ = results["minibatch"]
    runs = r["runs"]
    assert r["sizes"] == [60, 16, 1]
    assert [runs[b]["updates"] for b in r["sizes"]] == [4, 4 * 4, 4 * 60]  # ceil(60 / b) a epoch
    full = runs[60]["history"]
    assert full.step_loss == full.train_loss  # one update an epoch, on the whole set
    assert all(b < a for a, b in zip(full.step_loss, full.step_loss[1:]))  # smooth descent
    spreads = [runs[b]["spread"] for b in r["sizes"]]
    assert spreads[0] == 0.0 < spreads[1] < spreads[2]


def test_batch_size_one_costs_the_most_time_per_epoch_and_accuracies_are_shares(results):
    r, _ = results["minibatch"]
    runs = r["runs"]
    assert runs[1]["seconds_per_epoch"] > 3 * runs[60]["seconds_per_epoch"]  # 60 calls against 1
    for b in r["sizes"]:
        h = runs[b]["history"]
        assert len(h.val_loss) == len(h.val_acc) == 4
        correct = h.val_acc[-1] * 60  # a share of the 60 validation points
        assert correct == pytest.approx(round(correct), abs=1e-9)
    # For the same epochs, more updates get further (here, at this learning rate).
    assert runs[1]["history"].val_loss[-1] < runs[60]["history"].val_loss[-1]


# --- universal ---------------------------------------------------------------------


def test_wider_hidden_layers_fit_the_bumpy_function_better(results):
    from demos.universal import bumpy

    r, _ = results["universal"]
    assert r["parameters"] == {1: 4, 4: 13, 16: 49}  # 1-w-1: 3w + 1
    grid = r["grid"]
    assert len(grid) == 1001 and (grid[0], grid[-1]) == (-2.0, 2.0)
    for w, fit in r["fits"].items():  # the reported error is the plotted fit's
        assert r["errors"][w] == pytest.approx(np.mean((fit - bumpy(grid)) ** 2), rel=1e-9)
    errors = [r["errors"][w] for w in r["widths"]]
    assert all(b < a for a, b in itertools.pairwise(errors))
    assert errors[0] < np.var(bumpy(grid))  # even one unit beats the best constant


# --- schedules ---------------------------------------------------------------------


def test_each_schedule_sets_the_rate_by_its_formula(results):
    r, _ = results["schedules"]
    h = r["histories"]
    epochs = range(30)
    assert h["constant"].lr == [0.1] * 30
    assert h["StepLR"].lr == pytest.approx([0.1 * 0.3 ** (e // 7) for e in epochs], rel=1e-12)
    assert h["ExponentialLR"].lr == pytest.approx([0.1 * 0.93**e for e in epochs], rel=1e-12)
    assert h["CosineAnnealingLR"].lr == pytest.approx(
        [0.1 * (1 + math.cos(math.pi * e / 30)) / 2 for e in epochs], rel=1e-12
    )


def test_reduce_on_plateau_halves_the_rate_after_three_epochs_without_a_new_best(results):
    h = results["schedules"][0]["histories"]["ReduceLROnPlateau"]
    lr, best, bad, expected = 0.1, math.inf, 0, []
    for loss in h.val_loss:  # PyTorch's rule, threshold 1e-4 relative
        expected.append(lr)
        if loss < best * (1 - 1e-4):
            best, bad = loss, 0
        else:
            bad += 1
        if bad > 3:
            lr, bad = lr * 0.5, 0
    assert h.lr == pytest.approx(expected, rel=1e-12)
    assert h.lr[-1] <= 0.025  # it did stall, at least twice


def test_every_schedule_starts_from_the_same_weights_and_batches(results):
    histories = results["schedules"][0]["histories"]
    first_steps = {name: h.step_loss[:6] for name, h in histories.items()}  # the first epoch
    reference = first_steps["constant"]
    for name, steps in first_steps.items():
        assert len(steps) == 6  # 60 points in batches of 10
        assert steps == pytest.approx(reference, rel=1e-12), name
    # Over the last quarter the constant rate still jumps; every decayed rate sits lower.
    tail = {name: np.mean(h.val_loss[-7:]) for name, h in histories.items()}
    assert all(tail[name] < tail["constant"] for name in histories if name != "constant")


# --- exploding ---------------------------------------------------------------------


def test_without_clipping_the_loss_overflows_and_with_clipping_it_trains(results):
    r, _ = results["exploding"]
    plain, clipped = r["runs"]["no clipping"], r["runs"]["clip_grad_norm_ to 1"]
    assert r["growth_per_layer"] == pytest.approx(math.sqrt(8), rel=1e-12)  # std 1, 16 units
    assert plain["norms"][0] == clipped["norms"][0] > 1e3  # the same huge first gradient
    assert plain["first_nonfinite"] is not None and plain["first_nonfinite"] < 10
    assert plain["norms"][1] > 1e6 * plain["norms"][0]  # one full step made it explode
    assert clipped["first_nonfinite"] is None
    assert all(math.isfinite(v) for v in clipped["losses"] + clipped["norms"])
    assert clipped["losses"][-1] < 1e-3 * clipped["losses"][0]
    assert clipped["accuracy"] > 0.65  # chance is 0.5
    correct = clipped["accuracy"] * 40
    assert correct == pytest.approx(round(correct), abs=1e-9)


def test_the_clipping_optimizer_scales_the_gradient_to_max_norm_before_the_step():
    from demos.exploding import ClippedOptimizer
    from tapegrad import Value, optim

    w = [Value(1.0), Value(2.0)]
    opt = ClippedOptimizer(optim.SGD(w, lr=0.5), max_norm=1.0)
    opt.zero_grad()
    (3.0 * w[0] + 4.0 * w[1]).backward()  # gradient (3, 4), norm 5
    opt.step()
    scale = 1.0 / (5.0 + 1e-6)  # PyTorch's clip_grad_norm_ rule
    assert opt.norms == [5.0]
    assert [p.data for p in w] == pytest.approx(
        [1 - 0.5 * 3 * scale, 2 - 0.5 * 4 * scale], rel=1e-15
    )
    unclipped = ClippedOptimizer(optim.SGD(w, lr=0.5), max_norm=math.inf)
    unclipped.zero_grad()
    (3.0 * w[0]).backward()
    before = w[0].data
    unclipped.step()
    assert unclipped.norms == [3.0] and w[0].data == before - 1.5
