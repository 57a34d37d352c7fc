"""The demos regularization, batchnorm, vanishing, hessian, finite_differences and
search, run with small settings: each is run once per module and its measured
numbers are checked, not only that it ran."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from demo_runner import assert_files_written, assert_says_what_to_look_for, run_demo, run_demos

pytestmark = [
    pytest.mark.slow,  # the demos run, if with small settings
    pytest.mark.usefixtures("quiet"),  # no progress bars in test output
]

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

# (demo, options): small enough that all six run in about ten seconds.
SMALL = {
    "regularization": ["--test-size", "300"],
    # Notebook 001's settings: enough training for BatchNorm to learn at every scale.
    "batchnorm": ["--panels", "3", "--train-size", "200", "--epochs", "6", "--workers", "1"],
    "vanishing": ["--depth", "6", "--samples", "16", "--inits", "1", "--graph-depth", "3"],
    "hessian": ["--steps", "20", "--neuron-steps", "50", "--samples", "50"],
    "finite_differences": ["--widths", "1", "4", "16", "--repeats", "1", "--samples", "8"],
    "search": [
        "--rounds",
        "2",
        "--trials",
        "4",
        "--keep",
        "2",
        "--repeats",
        "2",
        "--lr-range",
        "0.01",
        "1",
        "--epochs",
        "3",
        "--train-size",
        "100",
        "--val-size",
        "300",
        "--test-size",
        "50",
        "--hidden",
        "8",
        "--executor",
        "thread",
        "--workers",
        "2",
    ],
}

FILES = {
    "regularization": ["regularization.png"],
    "batchnorm": ["batchnorm.png"],
    "vanishing": ["vanishing.png", "vanishing_chain.png"],
    "hessian": ["hessian.png"],
    "finite_differences": ["finite_differences.png"],
    "search": ["search.png"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_demos(tmp_path_factory, SMALL)


@pytest.mark.parametrize("name", list(FILES))
def test_every_demo_writes_its_files(results, name):
    assert_files_written(results[name][1], FILES[name])


@pytest.mark.parametrize("name", list(FILES))
def test_every_demo_says_what_to_look_for_in_its_figure(results, name):
    assert_says_what_to_look_for(*results[name])


# --- regularization ----------------------------------------------------------------


def test_unregularized_network_memorises_and_regularization_narrows_the_gap(results):
    summary = results["regularization"][0]["summary"]
    assert summary["none"]["train"] == 1.0
    for kind in ("weight decay", "dropout"):
        assert summary[kind]["gap"] < summary["none"]["gap"], kind
        assert summary[kind]["train"] < 1.0, kind  # no longer memorises every point
    for kind, numbers in summary.items():
        assert numbers["test"] > 0.75, kind  # chance is 0.5
        assert numbers["gap"] == pytest.approx(numbers["train"] - numbers["test"])


def test_regularization_curves_start_at_chance_and_rise(results):
    history = results["regularization"][0]["history"]
    for kind, h in history.items():
        assert h["step"][0] == 0 and h["step"][-1] == 1000
        assert h["train"][0] < 0.7 and h["train"][-1] > 0.9, kind


# --- batchnorm ---------------------------------------------------------------------


def test_batchnorm_learns_at_every_scale_and_per_sample_norms_at_the_largest(results):
    r, _ = results["batchnorm"]
    assert [s["std"] for s in r["summary"]] == pytest.approx([1.0, 0.01, 1e-4])
    assert r["better"]["batch"] == 3
    for s in r["summary"]:
        assert s["final_batch"] < s["final_none"]
    largest = r["summary"][0]
    assert largest["final_layer"] < largest["final_none"]
    assert largest["final_group"] < largest["final_none"]
    # Tiny weights without normalisation: the output stays uniform, loss stuck at ln 10.
    tiny = r["summary"][-1]
    assert tiny["final_none"] == pytest.approx(math.log(10), abs=0.01)
    assert tiny["final_batch"] < math.log(10) - 0.05


# --- vanishing ---------------------------------------------------------------------


def test_sigmoid_gradients_vanish_and_relu_he_gradients_do_not(results):
    r, _ = results["vanishing"]
    per_layer = r["factor_per_layer"]
    assert per_layer["sigmoid, Xavier"] < 0.3  # the sigmoid's slope is at most 1/4
    assert r["first_to_last_ratio"]["sigmoid, Xavier"] < 1e-3
    assert 0.5 < per_layer["ReLU, He"] < 2.0
    assert per_layer["sigmoid, Xavier"] < per_layer["tanh, Xavier"] < 1.0
    layers = r["layer_gradients"]["sigmoid, Xavier"]
    assert len(layers) == 6 + 1
    assert all(a < b for a, b in itertools.pairwise(layers))  # smaller towards the input


def test_the_drawn_sigmoid_chain_fades_towards_the_input_and_relu_does_not(results):
    chains = results["vanishing"][0]["chains"]
    sigmoid, relu = chains["sigmoid, Xavier"].gradients, chains["ReLU, He"].gradients
    assert len(sigmoid) == len(relu) == 3 + 1
    assert all(a < b for a, b in itertools.pairwise(sigmoid))
    assert sigmoid[0] < 0.01 * sigmoid[-1]
    assert relu[0] > 10 * sigmoid[0]


def test_each_arrow_of_the_chain_is_the_factor_backward_multiplies_by(results):
    # The arrows' factors w f'(z) come from the forward numbers alone; backprop's
    # gradient at each unit is the next unit's times that factor.
    for chain in results["vanishing"][0]["chains"].values():
        for i, factor in enumerate(chain.factors):
            assert chain.gradients[i] == pytest.approx(
                chain.gradients[i + 1] * abs(factor), rel=1e-12
            )
    slopes = results["vanishing"][0]["chains"]["sigmoid, Xavier"].slopes
    assert all(0 < f <= 0.25 for f in slopes)


# --- hessian -----------------------------------------------------------------------


def test_bowl_hessian_and_the_stable_learning_rate(results):
    r, _ = results["hessian"]
    assert r["bowl_hessian"] == [[0.1, 0.0], [0.0, 2.0]]
    assert r["bowl_eigenvalues"] == pytest.approx([0.1, 2.0], abs=1e-15)
    assert r["bowl_lr_max"] == pytest.approx(1.0, abs=1e-15)


def test_gradient_descent_just_below_and_above_two_over_lambda_max(results):
    r, _ = results["hessian"]

    def closed_form(lr, k):  # x and y shrink by (1 - lr H_ii) per step
        return 49 * (1 - 0.1 * lr) ** (2 * k) / 20 + 4 * (1 - 2 * lr) ** (2 * k)

    below, above = r["bowl_loss_below"], r["bowl_loss_above"]
    assert below == pytest.approx([closed_form(0.95, k) for k in range(len(below))], rel=1e-9)
    assert above == pytest.approx([closed_form(1.05, k) for k in range(len(above))], rel=1e-9)
    assert below[-1] < 0.2 < 100 < above[-1]


def test_neuron_minimum_is_strict_and_its_learning_rate_limit_holds(results):
    r, _ = results["hessian"]
    eigenvalues = np.array(r["neuron_eigenvalues"])
    assert r["neuron_positive_definite"] and (eigenvalues > 0).all()
    assert eigenvalues == pytest.approx(np.linalg.eigvalsh(r["neuron_hessian"]), rel=1e-9)
    assert r["neuron_lr_max"] == pytest.approx(2 / eigenvalues.max(), rel=1e-12)
    assert r["neuron_newton_steps"] <= 10
    below, above = r["neuron_excess_below"], r["neuron_excess_above"]
    assert below[-1] < 1e-3 * below[0]
    assert above[-1] > above[0]


# --- finite differences ------------------------------------------------------------


def test_numeric_gradients_agree_and_cost_two_passes_per_parameter(results):
    r, _ = results["finite_differences"]
    assert r["parameters"] == [5, 17, 65]  # 2-h-1 networks: 4h + 1 parameters
    assert r["loss_evaluations"] == [10, 34, 130]
    assert max(r["max_error"]) < 1e-8
    # Backprop costs about one forward and one backward pass whatever the size; the
    # numeric gradient's cost grows with the number of parameters.
    assert r["time_ratio"][2] > 2 * r["time_ratio"][0]


@pytest.mark.parametrize("a, b, k", [(1e-3, 2e-6, 2.0), (2.5e-4, 1e-5, 1.0), (0.0, 3e-7, 1.5)])
def test_the_cost_fit_separates_a_fixed_cost_from_the_growth(a, b, k):
    from demos.finite_differences import fit_power

    n = np.array([5, 9, 17, 33, 65, 129, 257, 513])
    fitted = fit_power(n, a + b * n**k)
    assert fitted == pytest.approx((a, b, k), rel=1e-6, abs=1e-12)


def test_finite_differences_fits_a_plus_b_n_to_the_k_only_from_three_sizes(results, tmp_path):
    r, _ = results["finite_differences"]
    for key in ("fit_backprop", "fit_numeric"):
        a, b, k = r[key]
        assert a >= 0 and b > 0 and 0.5 <= k <= 3
    two = run_demo(
        "finite_differences", tmp_path, ["--widths", "1", "2", "--repeats", "1", "--samples", "4"]
    )
    assert two["fit_backprop"] is None and two["fit_numeric"] is None


# --- search ------------------------------------------------------------------------


def test_search_reports_its_rounds_and_averages_the_seeds(results):
    r, _ = results["search"]
    rounds = r["rounds"]
    assert [h.number for h in rounds] == [1, 2]
    assert rounds[0].ranges == {"lr": (0.01, 1.0), "weight_decay": (1e-8, 1e-4)}
    assert rounds[1].ranges == rounds[0].next_ranges
    for h in rounds:
        assert len(h.trials) == 4
        assert all(len(t.runs) == 2 for t in h.trials)  # --repeats 2: two seeds averaged
        for t in h.trials:
            assert t.accuracy * 300 * 2 == pytest.approx(round(t.accuracy * 600), abs=1e-9)


def test_search_reports_the_noise_and_the_trials_it_cannot_tell_apart(results):
    r, _ = results["search"]
    best = r["best"]
    assert best.accuracy == max(t.accuracy for h in r["rounds"] for t in h.trials) > 0.25
    assert r["standard_error"] == pytest.approx(
        math.sqrt(best.accuracy * (1 - best.accuracy) / 300)
    )
    trials = [t for h in r["rounds"] for t in h.trials]
    assert best in r["tied"]
    assert r["tied"] == [t for t in trials if best.accuracy - t.accuracy <= 2 * r["standard_error"]]
    correct = r["test_accuracy"] * 50  # a share of the 50 test digits
    assert correct == pytest.approx(round(correct), abs=1e-9)


def test_the_search_demo_says_what_to_look_for_and_each_range_it_widens(tmp_path, capsys):
    r = run_demo(
        "search",
        tmp_path,
        [
            "--rounds",
            "2",
            "--trials",
            "3",
            "--keep",
            "1",
            "--epochs",
            "2",
            "--train-size",
            "60",
            "--val-size",
            "100",
            "--test-size",
            "20",
            "--hidden",
            "4",
            "--executor",
            "thread",
            "--workers",
            "1",
        ],
    )
    out = capsys.readouterr().out
    assert "look for: the plateau of good rates" in out
    assert "standard error of" in out and "not told apart" in out
    widened = [
        (name.replace("_", " "), {"up": "top", "down": "bottom"}[side])
        for h in r["rounds"]
        for name, side in h.widened
    ]
    assert out.count("sits at the") == len(widened)
    for name, edge in widened:
        assert f"the best {name} sits at the {edge} edge of its range" in out
    assert (tmp_path / "search.png").stat().st_size > 1000


def test_boundary_length_counts_the_cell_sides_between_two_classes():
    from demos.regularization import boundary_length

    straight = np.zeros((4, 6), dtype=bool)
    straight[:, 3:] = True  # a vertical boundary, 4 cells high
    assert boundary_length(straight, (0.5, 0.25)) == 4 * 0.25
    island = np.zeros((5, 5), dtype=bool)
    island[2, 2] = True  # one cell of the other class: its 4 sides
    assert boundary_length(island, (1.0, 1.0)) == 4.0
