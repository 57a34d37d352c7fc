"""nn.fit: the same numbers as a hand-written loop, eager or compiled; validation,
accuracy, schedules, early stopping, printed rows, History.plot, argument errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tapegrad import compile, nn, optim
from tapegrad.nn import functional as F


def _moons():
    return nn.data.make_moons(40, noise=0.1, seed=0), nn.data.make_moons(20, noise=0.1, seed=1)


def _hand_loop(model, opt, X, y, epochs, batch_size, seed):
    """The loop fit replaces, written out: per-update losses and per-epoch means."""
    steps, means = [], []
    batches = nn.data.DataLoader(X, y, batch_size, shuffle=True, seed=seed)
    for _ in range(epochs):
        total = 0.0
        for xb, yb in batches:
            opt.zero_grad()
            loss = F.cross_entropy([model(x) for x in xb], yb)
            loss.backward()
            opt.step()
            steps.append(loss.data)
            total += loss.data * len(xb)
        means.append(total / len(X))
    return steps, means


def test_fit_reproduces_a_hand_written_loop_exactly():
    (X, y), _ = _moons()
    a, b = nn.MLP(2, [6, 2], seed=3), nn.MLP(2, [6, 2], seed=3)
    steps, means = _hand_loop(a, optim.SGD(a.parameters(), lr=0.1, momentum=0.9), X, y, 3, 16, 7)
    history = nn.fit(
        b,
        F.cross_entropy,
        (X, y),
        optim.SGD(b.parameters(), lr=0.1, momentum=0.9),
        epochs=3,
        batch_size=16,
        seed=7,
    )
    assert len(steps) == 9  # 3 epochs of batches 16, 16, 8
    assert history.step_loss == steps
    assert history.train_loss == means
    assert history.epochs == [1, 2, 3]
    assert history.lr == [0.1, 0.1, 0.1]
    assert [p.data for p in b.parameters()] == [p.data for p in a.parameters()]


def _compiled_classifier(model):
    params = model.parameters()
    loss = compile(lambda x, t: F.cross_entropy([model(x)], [t]), params, labels={1: range(2)})
    return loss, compile(lambda x: model(x), params)


@pytest.mark.parametrize("flat", [False, True], ids=["values", "flat"])
def test_compiled_and_eager_give_the_same_history(flat):
    (X, y), val = _moons()
    eager, traced = nn.MLP(2, [6, 2], seed=4), nn.MLP(2, [6, 2], seed=4)
    opt = optim.Adam(eager.parameters(), lr=0.05)
    h1 = nn.fit(
        eager,
        F.cross_entropy,
        (X, y),
        opt,
        epochs=4,
        batch_size=8,
        val=val,
        accuracy="argmax",
        scheduler=optim.lr_scheduler.StepLR(opt, 2, 0.5),
        seed=0,
    )
    loss, scores = _compiled_classifier(traced)
    opt = optim.Adam([loss.flat()] if flat else traced.parameters(), lr=0.05)
    h2 = nn.fit(
        scores,
        loss,
        (X, y),
        opt,
        epochs=4,
        batch_size=8,
        val=val,
        accuracy="argmax",
        scheduler=optim.lr_scheduler.StepLR(opt, 2, 0.5),
        seed=0,
    )
    for name in ("step_loss", "train_loss", "val_loss"):
        np.testing.assert_allclose(getattr(h2, name), getattr(h1, name), rtol=0, atol=1e-12)
    assert len(h1.step_loss) == 20
    assert h2.train_acc == h1.train_acc and h2.val_acc == h1.val_acc
    assert h2.lr == h1.lr == [0.05, 0.05, 0.025, 0.025]
    # fit writes a flat vector back into the Values when it returns
    np.testing.assert_allclose(
        [p.data for p in traced.parameters()],
        [p.data for p in eager.parameters()],
        rtol=0,
        atol=1e-12,
    )


def test_a_compiled_loss_trains_without_a_model_and_restores_nothing_it_did_not_set():
    model = nn.Neuron(1, "linear", init="zeros", bias=False)
    loss = compile(lambda x, t: (model(x) - t) ** 2, model.parameters())
    history = nn.fit(None, loss, ([[1.0]], [2.0]), optim.SGD([loss.flat()], lr=0.1), epochs=3)
    np.testing.assert_allclose(history.step_loss, [4.0, 2.56, 1.6384], rtol=1e-15)
    assert model.w[0].data == pytest.approx(2 - 2 * 0.8**3, abs=1e-15)  # synced from flat


def _line(lr=0.1):
    """y = w x from w = 0 on the single sample (1, 2): w_t = 2 - 2 (1 - 2 lr)^t."""
    model = nn.Neuron(1, "linear", init="zeros", bias=False)
    return model, optim.SGD(model.parameters(), lr=lr)


def test_validation_loss_follows_the_closed_form():
    model, opt = _line()
    history = nn.fit(model, F.mse_loss, ([[1.0]], [2.0]), opt, epochs=4, val=([[1.0]], [1.0]))
    w = [2 - 2 * 0.8**t for t in range(5)]
    np.testing.assert_allclose(history.step_loss, [(wt - 2) ** 2 for wt in w[:4]], atol=1e-12)
    np.testing.assert_allclose(history.val_loss, [(wt - 1) ** 2 for wt in w[1:]], atol=1e-12)
    assert model.w[0].data == pytest.approx(w[4], abs=1e-12)


def test_early_stopping_stops_patience_epochs_after_the_best():
    # validation target 1: (w_t - 1)^2 = 0.36, 0.0784, 0.000576, 0.0327, 0.1187: best at 3
    model, opt = _line()
    history = nn.fit(
        model, F.mse_loss, ([[1.0]], [2.0]), opt, epochs=20, val=([[1.0]], [1.0]), early_stopping=2
    )
    assert history.epochs == [1, 2, 3, 4, 5]
    assert history.best_epoch == 3
    assert history.stopped_early
    assert model.w[0].data == pytest.approx(2 - 2 * 0.8**5, abs=1e-12)


def test_early_stopping_does_not_stop_while_validation_improves():
    model, opt = _line()
    history = nn.fit(
        model, F.mse_loss, ([[1.0]], [2.0]), opt, epochs=6, val=([[1.0]], [2.0]), early_stopping=1
    )
    assert history.epochs == [1, 2, 3, 4, 5, 6]
    assert history.best_epoch == 6 and not history.stopped_early


def test_scheduler_rates_are_recorded_per_epoch():
    model, opt = _line(lr=0.4)
    schedule = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    history = nn.fit(model, F.mse_loss, ([[1.0]], [2.0]), opt, epochs=5, scheduler=schedule)
    assert history.lr == [0.4, 0.4, 0.2, 0.2, 0.1]
    assert opt.param_groups[0]["lr"] == 0.1  # after 5 steps: 0.4 * 0.5 ** (5 // 2)


def test_plateau_scheduler_gets_the_validation_loss():
    model, opt = _line()
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    history = nn.fit(
        model, F.mse_loss, ([[1.0]], [2.0]), opt, epochs=6, val=([[1.0]], [1.0]), scheduler=plateau
    )
    # val loss falls for 3 epochs, rises at epoch 4: the rate halves from epoch 5 on
    assert history.lr[:5] == [0.1, 0.1, 0.1, 0.1, 0.05]
    assert plateau.best == history.val_loss[2]


def _fixed_classifier():
    """Two outputs (x0, x1) exactly: the predicted class is the larger coordinate."""
    model = nn.Linear(2, 2, init="zeros")
    model.neurons[0].w[0].data = 1.0
    model.neurons[1].w[1].data = 1.0
    return model


@pytest.mark.parametrize(
    "accuracy, expected",
    [("argmax", [0.75, 0.5]), (lambda out, t: float(out[:, 1] @ t), [4.0, 0.0])],
    ids=["argmax", "function"],
)
def test_accuracy_is_measured_on_training_and_validation(accuracy, expected):
    model = _fixed_classifier()
    X, y = [[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 3.0]], [0, 1, 1, 1]
    val = ([[1.0, -1.0], [-1.0, 1.0]], [1, 1])
    opt = optim.SGD(model.parameters(), lr=0.0)
    history = nn.fit(model, F.cross_entropy, (X, y), opt, val=val, accuracy=accuracy)
    assert [history.train_acc[0], history.val_acc[0]] == expected


def test_sign_accuracy_for_a_single_output():
    model = nn.Neuron(1, "linear", init="zeros")
    model.w[0].data = 1.0
    X, y = [[-2.0], [-1.0], [1.0], [3.0]], [-1, 1, 1, -1]
    history = nn.fit(
        model, F.hinge_loss, (X, y), optim.SGD(model.parameters(), lr=0.0), accuracy="sign"
    )
    assert history.train_acc == [0.5]


def test_threshold_accuracy_reads_a_sigmoid_output_as_a_probability():
    model = nn.Neuron(1, "sigmoid", init="zeros")
    model.w[0].data = 1.0
    X, y = [[-2.0], [-1.0], [1.0], [3.0], [0.0]], [0, 1, 1, 0, 0]  # p = 1/2 at 0 is class 0
    history = nn.fit(
        model, F.mse_loss, (X, y), optim.SGD(model.parameters(), lr=0.0), accuracy="threshold"
    )
    assert history.train_acc == [0.6]


def test_verbose_prints_one_row_per_epoch_and_no_bar_off_a_terminal(capsys):
    model, opt = _line()
    nn.fit(model, F.mse_loss, ([[1.0]], [2.0]), opt, epochs=2, verbose=True)
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "epoch   1  lr 0.1  train loss 4.0000",
        "epoch   2  lr 0.1  train loss 2.5600",
    ]
    assert err == ""


def test_progress_bar_goes_to_stderr_and_rows_stay_whole(capsys):
    pytest.importorskip("tqdm")
    model, opt = _line()
    nn.fit(model, F.mse_loss, ([[1.0]], [2.0]), opt, epochs=2, verbose=True, progress=True)
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "epoch   1  lr 0.1  train loss 4.0000",
        "epoch   2  lr 0.1  train loss 2.5600",
    ]
    bars = err.replace("epoch 1/2", "").replace("epoch 2/2", "")
    assert "epoch 1/2" in err and "epoch" not in bars


def test_history_plot_draws_loss_accuracy_and_rate():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    model = _fixed_classifier()
    X, y = [[1.0, 0.0], [0.0, 1.0]], [0, 1]
    history = nn.fit(
        model,
        F.cross_entropy,
        (X, y),
        optim.SGD(model.parameters(), lr=0.1),
        epochs=3,
        val=(X, y),
        accuracy="argmax",
    )
    fig = history.plot("two points")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "each update",
        "training (epoch mean)",
        "validation",
        "lowest validation loss (epoch 3)",
    ]
    assert list(fig.axes[2].get_lines()[0].get_ydata()) == [0.1, 0.1, 0.1]


def test_history_plot_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    history = nn.History(step_loss=[1.0], epochs=[1], lr=[0.1], train_loss=[1.0])
    with pytest.raises(ImportError, match="History.plot needs matplotlib"):
        history.plot()


def _bad_calls():
    model, opt = _line()
    data = ([[1.0]], [2.0])
    return (
        model,
        opt,
        [
            (dict(epochs=0), ValueError, "epochs must be an int >= 1, got 0"),
            (dict(epochs=1.5), ValueError, "epochs must be an int"),
            (dict(batch_size=0), ValueError, "batch_size must be an int >= 1"),
            (dict(data=([[1.0]], [1.0, 2.0])), ValueError, "data has 1 inputs but 2 targets"),
            (dict(data=([], [])), ValueError, "data is empty"),
            (dict(data=[[1.0]]), TypeError, "data must be a pair"),
            (dict(early_stopping=2), ValueError, "early_stopping watches the validation loss"),
            (dict(early_stopping=0, val=data), ValueError, "early_stopping must be an int >= 1"),
            (dict(accuracy="top5"), ValueError, "accuracy must be a function"),
            (dict(loss_fn=3), TypeError, "loss_fn must be callable"),
            (dict(loss_fn=lambda p, t: 1.0), TypeError, "loss_fn must return a Value, got float"),
            (dict(model="net"), TypeError, "model must be an nn.Module"),
            (dict(optimizer=object()), TypeError, "optimizer must be an optim.Optimizer"),
            (
                dict(scheduler=optim.lr_scheduler.StepLR(optim.SGD(model.parameters(), lr=1.0), 1)),
                ValueError,
                "scheduler must be a learning-rate schedule of this optimizer",
            ),
        ],
    )


@pytest.mark.parametrize("case", range(len(_bad_calls()[2])))
def test_bad_arguments_raise_clear_errors_and_change_nothing(case):
    model, opt, cases = _bad_calls()
    kwargs, error, message = cases[case]
    call = dict(model=model, loss_fn=F.mse_loss, data=([[1.0]], [2.0]), optimizer=opt) | kwargs
    with pytest.raises(error, match=message):
        nn.fit(
            call.pop("model"), call.pop("loss_fn"), call.pop("data"), call.pop("optimizer"), **call
        )
    assert model.w[0].data == 0.0
