"""End-to-end training with a hand-written SGD loop (p.data -= lr * p.grad)."""

from __future__ import annotations

import pytest
from helpers import collector_off, live_values

from tapegrad import nn, optim
from tapegrad.nn import functional as F


def _sgd(params, lr: float) -> None:
    for p in params:
        p.data -= lr * p.grad


def test_moons_mlp_reaches_full_training_accuracy():
    """micrograd's demo: 2-16-16-1 ReLU MLP, hinge loss + 1e-4 L2, lr 1 - 0.9 k/100.
    With these seeds accuracy is 100% from step 45 on; we check after 55 steps."""
    X, y = nn.data.make_moons(100, noise=0.1, seed=0)
    Y = [2 * t - 1 for t in y]
    model = nn.MLP(2, [16, 16, 1], seed=2)
    for k in range(55):
        params = model.parameters()
        loss = F.hinge_loss([model(x) for x in X], Y) + 1e-4 * F.l2_penalty(params)
        model.zero_grad()
        loss.backward()
        _sgd(params, 1.0 - 0.9 * k / 100)
    scores = [model(x)[0].data for x in X]
    assert sum((s > 0) == (t > 0) for s, t in zip(scores, Y)) == 100


def test_black_box_of_seed_003_is_cracked():
    """Article 003's loop: initialise, forward, loss, backward, update until loss < 0.001."""
    X, y = nn.data.black_box()
    neuron = nn.Neuron(1, "linear", bias=False, seed=0)  # y = w x
    for step in range(200):
        loss = F.mse_loss([neuron(x) for x in X], y)
        if loss.data < 1e-3:
            break
        neuron.zero_grad()
        loss.backward()
        _sgd(neuron.parameters(), 0.3)
    assert loss.data < 1e-3 and step < 200
    # The box multiplies by 2.21: loss = 1.9125 (w - 2.21)^2 < 0.001 means |w - 2.21| < 0.023.
    assert abs(neuron.w[0].data - 2.21) < 0.023


class BatchNet(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout -> Linear, called on a mini-batch."""

    def __init__(self, seed: int) -> None:
        self.hidden = nn.Linear(2, 8, seed=seed)
        self.norm = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.1, seed=seed)
        self.out = nn.Linear(8, 2, seed=seed + 1)

    def forward(self, batch):
        h = self.norm([self.hidden(x) for x in batch])
        return [self.out(self.drop([v.relu() for v in row])) for row in h]


def test_minibatch_training_with_batchnorm_and_dropout():
    X, y = nn.data.make_circles(80, noise=0.05, seed=0)
    (Xt, yt), (Xv, yv), _ = nn.data.train_val_test_split(X, y, 0.25, 0.0, seed=0)
    model = BatchNet(seed=0)
    loader = nn.data.DataLoader(
        Xt, yt, batch_size=15, shuffle=True, seed=0
    )  # reshuffles every epoch
    for _ in range(30):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            model.zero_grad()
            loss.backward()
            _sgd(model.parameters(), 0.3)
    model.eval()

    def accuracy(X, y):
        return sum((o[1].data > o[0].data) == (t == 1) for o, t in zip(model(X), y)) / len(y)

    assert accuracy(Xt, yt) >= 0.95
    assert accuracy(Xv, yv) >= 0.9


def test_training_steps_leave_nothing_for_the_cyclic_collector():
    """The README's advice: an eager loop may run with the collector paused, because
    reference counting alone frees each step's graph (nn and optim make no cycles)."""
    X, y = nn.data.make_moons(20, noise=0.1, seed=0)
    Y = [2 * t - 1 for t in y]
    model = nn.MLP(2, [8, 1], seed=0)
    opt = optim.Adam(model.parameters(), lr=0.01)

    with collector_off():
        before = live_values()
        for _ in range(3):
            loss = F.hinge_loss([model(x) for x in X], Y) + 1e-4 * F.l2_penalty(model.parameters())
            opt.zero_grad()
            loss.backward()
            opt.step()
        del loss
        after = live_values()
    assert after == before, f"{after - before} Values outlived their step"


def _benchmark_module():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "benchmarks" / "moons.py"
    spec = importlib.util.spec_from_file_location("moons_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("other", ["torch", "micrograd"])
def test_benchmark_frameworks_compute_the_same_losses(other):
    """The moons benchmark times the same computation everywhere: losses agree."""
    pytest.importorskip(other)
    bench = _benchmark_module()
    X, y = nn.data.make_moons(100, noise=0.1, seed=0)
    Y = [2 * t - 1 for t in y]
    steps = 3 if other == "torch" else 1  # a micrograd step takes a good fraction of a second
    ours, _ = bench.run_tapegrad(nn.MLP(2, [16, 16, 1], seed=0), X, Y, steps)
    if other == "torch":
        theirs, _ = bench.run_torch(nn.MLP(2, [16, 16, 1], seed=0), X, Y, steps)
    else:
        weights = [p.data for p in nn.MLP(2, [16, 16, 1], seed=0).parameters()]
        theirs, _ = bench.run_micrograd(weights, X, Y, steps)
    assert ours == pytest.approx(theirs, rel=1e-12)
