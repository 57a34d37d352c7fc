"""A 1-2-1 sigmoid network fits 1 + sin(pi/4 p) on [-2, 2] by per-sample SGD (article 004)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tapegrad import nn, no_grad, optim

from ._common import look_for, pyplot, save


def build(seed: int) -> nn.MLP:
    """Article 004's network: one input, two sigmoid units, one linear output, every
    weight and bias drawn from N(0, 1) (its np.random.randn)."""
    rng = np.random.default_rng(seed)
    model = nn.MLP(1, [2, 1], activation="sigmoid", init=nn.init.normal(1.0), rng=rng)
    for layer in model.layers:
        for neuron in layer.neurons:
            neuron.b.data = float(rng.normal())
    return model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs",
        type=int,
        default=1000,
        help="passes over the points (default: %(default)s; the article's full "
        "run is 5000, about five times as long)",
    )
    parser.add_argument(
        "--lr", type=float, default=0.01, help="learning rate (default: %(default)s)"
    )
    parser.add_argument(
        "--points",
        type=int,
        default=100,
        help="evenly spaced training points on [-2, 2] (default: %(default)s)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    X, Y = nn.data.make_sine(args.points)
    model = build(args.seed)
    params = model.parameters()
    opt = optim.SGD(params, lr=args.lr)
    print(f"fitting 1 + sin(pi/4 p) at {len(X)} points of [-2, 2] with {model!r}")
    print(f"per-sample SGD, lr {args.lr}, {args.epochs} epochs ({args.epochs * len(X):,} updates)")
    with no_grad():
        before = [model(x)[0].data for x in X]
    # In order, one sample per update, as in the article; the loss (z - t)^2 / 2 has the
    # article's output_error = z - t as its gradient.
    history = nn.fit(
        model,
        lambda z, t: 0.5 * (z[0][0] - t[0]) ** 2,
        (X, Y),
        opt,
        epochs=args.epochs,
        batch_size=1,
        shuffle=False,
        progress=False,
    )
    history = [2 * loss for loss in history.train_loss]  # mean squared error of each epoch
    with no_grad():
        after = [model(x)[0].data for x in X]
    mse = sum((z - t) ** 2 for z, t in zip(after, Y)) / len(Y)
    max_error = max(abs(z - t) for z, t in zip(after, Y))
    print(
        f"mean squared error over the points: {history[0]:.5f} in epoch 1 -> {mse:.2e} "
        f"after epoch {args.epochs}; largest |error| {max_error:.4f}"
    )
    _plot(X, Y, before, after, history, out)
    tenth = min(max(1, args.epochs // 10), args.epochs - 1)  # one epoch: no tenth
    checks = look_for(
        f"two sigmoid units bend the line into the sine's shape (largest error {max_error:.3f}); "
        f"the loss falls fast, then slowly for most of the epochs ({history[0]:.3g} -> "
        f"{history[tenth]:.2g} in the first {tenth}, -> {mse:.2g} in the other "
        f"{args.epochs - tenth})",
        {
            "the first tenth of the epochs lowers the loss more than all the others": (
                history[0] - history[tenth] > history[tenth] - mse
            ),
            "the fit ends at least ten times better than it starts": mse < 0.1 * history[0],
        },
    )
    return {
        "look_for": checks,
        "mse": mse,
        "max_error": max_error,
        "losses": history,
        "parameters": len(params),
    }


def _plot(X, Y, before, after, history, out: Path) -> None:
    plt = pyplot()
    ps = [x[0] for x in X]
    fig, (ax_fit, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax_fit.plot(ps, Y, color="black", linewidth=2.5, label="target 1 + sin(πp/4)")
    ax_fit.plot(ps, before, "--", color="0.6", label="network before training")
    ax_fit.plot(ps, after, color="tab:orange", label=f"after {len(history)} epochs")
    ax_fit.set(xlabel="p", ylabel="F(p)", title="function approximation, 1-2-1 sigmoid network")
    ax_fit.legend(fontsize=8)
    ax_loss.semilogy(range(1, len(history) + 1), history, color="tab:blue")
    ax_loss.set(
        xlabel="epoch",
        ylabel="mean squared error (log scale)",
        title=f"loss during training: {history[-1]:.2e} at the end",
    )
    fig.tight_layout()
    save(fig, out, "sine")
