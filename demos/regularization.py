"""Overfitting a small training set, then weight decay, then dropout: train and test accuracy."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tapegrad import Value, compile, nn, optim
from tapegrad.nn import functional as F

from ._common import (
    argmax_accuracy,
    classifier_programs,
    look_for,
    progress,
    pyplot,
    save,
    weights_of,
)

RUNS = ("none", "weight decay", "dropout")


def dropped_forward(model: nn.MLP, x: list, mask: list) -> list[Value]:
    """The model with each hidden unit multiplied by its entry of ``mask``.

    This is nn.Dropout written out: the mask holds 0 (dropped) or 1/(1-p) (kept and
    scaled, inverted dropout). It arrives as an input because compiled mode traces
    the graph once and refuses a random layer; a mask drawn outside is just data.
    """
    start = 0
    for layer in model.layers[:-1]:
        x = layer(x)
        x = [v * m for v, m in zip(x, mask[start : start + len(x)])]
        start += len(x)
    return model.layers[-1](x)


def train_run(
    kind: str, model: nn.MLP, data: dict, args: argparse.Namespace
) -> dict[str, list[float] | np.ndarray]:
    """Full-batch SGD with momentum on one per-sample loss, compiled once; the train
    and test accuracy every ``args.eval_every`` steps and the scores on the plot grid."""
    params = model.parameters()
    hidden = sum(layer.nout for layer in model.layers[:-1])
    # Evaluation always scores with all units, no mask; the regularized runs replace
    # the plain loss (compile traces lazily, so the replaced one costs nothing).
    step, scores = classifier_programs(model, params, 2)
    if kind == "weight decay":
        weights = weights_of(model)

        def loss(x: list, y: int) -> Value:
            # Article 001's penalty 1/2 lambda W^2: it adds lambda W to every weight's gradient.
            return F.cross_entropy([model(x)], [y]) + 0.5 * args.weight_decay * F.l2_penalty(
                weights
            )

        step = compile(loss, params, labels={1: range(2)})
    elif kind == "dropout":
        step = compile(
            lambda x, mask, y: F.cross_entropy([dropped_forward(model, x, mask)], [y]),
            params,
            labels={2: range(2)},
        )
    X, y, X_test, y_test = data["X"], data["y"], data["X_test"], data["y_test"]
    rng = np.random.default_rng(args.seed)
    # The optimizer steps all parameters as one array; the Values are written back
    # (sync) only before the evaluation program reads them.
    flat = step.flat()
    optimizer = optim.SGD([flat], lr=args.lr, momentum=0.9)
    history: dict[str, list[float]] = {"step": [], "train": [], "test": []}

    def evaluate(k: int) -> None:
        flat.sync()
        history["step"].append(k)
        history["train"].append(argmax_accuracy(scores, X, y))
        history["test"].append(argmax_accuracy(scores, X_test, y_test))

    for k in progress(range(args.steps), kind):
        if k % args.eval_every == 0:
            evaluate(k)
        optimizer.zero_grad()
        if kind == "dropout":
            mask = (rng.random((len(X), hidden)) >= args.dropout) / (1.0 - args.dropout)
            step(X, mask, y)
        else:
            step(X, y)
        optimizer.step()
    evaluate(args.steps)
    flat.close()
    history["grid"] = scores.forward(data["grid"])
    return history


def boundary_length(classes: np.ndarray, cell: tuple[float, float]) -> float:
    """The length of the decision boundary drawn on a grid of predicted classes (rows
    along y): the cell sides between two cells of different classes. A boundary that
    wraps around single points is longer than a smooth one between the classes."""
    across_x = np.count_nonzero(classes[:, 1:] != classes[:, :-1]) * cell[1]
    across_y = np.count_nonzero(classes[1:, :] != classes[:-1, :]) * cell[0]
    return float(across_x + across_y)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--train-size",
        type=int,
        default=40,
        help="training points: few, so that the network can memorise them (default: %(default)s)",
    )
    parser.add_argument(
        "--test-size", type=int, default=1000, help="test points (default: %(default)s)"
    )
    parser.add_argument(
        "--noise", type=float, default=0.3, help="two-moons noise (default: %(default)s)"
    )
    parser.add_argument(
        "--width", type=int, default=32, help="units per hidden layer (default: %(default)s)"
    )
    parser.add_argument("--depth", type=int, default=3, help="hidden layers (default: %(default)s)")
    parser.add_argument(
        "--steps",
        type=int,
        default=1000,
        help="full-batch SGD steps per run (default: %(default)s)",
    )
    parser.add_argument(
        "--lr", type=float, default=0.05, help="learning rate, momentum 0.9 (default: %(default)s)"
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=0.01,
        help="lambda of the 1/2 lambda W^2 penalty (default: %(default)s)",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.3,
        help="probability of dropping a hidden unit (default: %(default)s)",
    )
    parser.add_argument(
        "--eval-every",
        type=int,
        default=25,
        help="steps between accuracy measurements (default: %(default)s)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    X, y = nn.data.make_moons(args.train_size, noise=args.noise, seed=args.seed)
    X_test, y_test = nn.data.make_moons(args.test_size, noise=args.noise, seed=args.seed + 1)
    gx, gy = np.meshgrid(np.linspace(-1.6, 2.6, 120), np.linspace(-1.3, 1.8, 90))
    data = {
        "X": np.array(X),
        "y": np.array(y),
        "X_test": np.array(X_test),
        "y_test": np.array(y_test),
        "grid": np.c_[gx.ravel(), gy.ravel()],
    }
    sizes = [args.width] * args.depth + [2]
    print(
        f"MLP(2, {sizes}) on {args.train_size} noisy two-moons points "
        f"(tested on {args.test_size}); {args.steps} full-batch SGD steps per run"
    )
    results = {}
    for kind in RUNS:
        model = nn.MLP(2, sizes, seed=args.seed)  # the same initial weights for every run
        results[kind] = train_run(kind, model, data, args)
    labels = {
        "none": "no regularization",
        "weight decay": f"weight decay, λ = {args.weight_decay:g}",
        "dropout": f"dropout, p = {args.dropout:g}",
    }
    summary = {}
    cell = (gx[0, 1] - gx[0, 0], gy[1, 0] - gy[0, 0])
    for kind, h in results.items():
        train, test = h["train"][-1], h["test"][-1]
        z = h["grid"]
        length = boundary_length((z[:, 1] > z[:, 0]).reshape(gx.shape), cell)
        summary[kind] = {"train": train, "test": test, "gap": train - test, "boundary": length}
        print(
            f"  {labels[kind]:<24} train {train:.3f}  test {test:.3f}  "
            f"gap {summary[kind]['gap']:.3f}  boundary length {length:.1f}"
        )

    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(14, 8), height_ratios=[1, 1.1])
    for col, kind in enumerate(RUNS):
        h = results[kind]
        ax = axes[0, col]
        ax.plot(h["step"], h["train"], color="tab:blue", label="train")
        ax.plot(h["step"], h["test"], color="tab:orange", label="test")
        ax.set(
            ylim=(0.4, 1.02),
            xlabel="step",
            ylabel="accuracy",
            title=f"{labels[kind]}: gap {summary[kind]['gap']:.3f}",
        )
        ax.legend(loc="lower right")
        ax = axes[1, col]
        z = h["grid"]
        ax.contourf(
            gx,
            gy,
            (z[:, 1] - z[:, 0]).reshape(gx.shape),
            levels=[-1e9, 0, 1e9],
            colors=["#f4cccc", "#cfe2f3"],
        )
        ax.scatter(
            data["X"][:, 0], data["X"][:, 1], c=data["y"], cmap="coolwarm_r", edgecolors="k", s=28
        )
        ax.set(
            xticks=[],
            yticks=[],
            title=f"decision boundary over the {args.train_size} training points\n"
            f"accuracy: train {summary[kind]['train']:.3f}, test {summary[kind]['test']:.3f}; "
            f"boundary length {summary[kind]['boundary']:.1f}",
        )
    fig.suptitle(
        f"Deep Learning from Scratch, 6.4: a big network memorises {args.train_size} points; weight "
        "decay and dropout narrow the train/test gap",
        fontsize=12,
    )
    fig.tight_layout()
    save(fig, out, "regularization")
    none, decay, drop = (summary[kind] for kind in RUNS)
    checks = look_for(
        "without regularization the boundary wraps around single noisy points (train "
        f"accuracy {none['train']:.3f}, test {none['test']:.3f}); weight decay draws a shorter, "
        f"smoother boundary (length {decay['boundary']:.1f} against {none['boundary']:.1f}); "
        f"both narrow the train/test gap (weight decay {decay['gap']:.3f}, dropout "
        f"{drop['gap']:.3f}, against {none['gap']:.3f}), dropout mostly by training less "
        f"exactly: its test accuracy moves by {drop['test'] - none['test']:+.3f}, its train "
        f"accuracy by {drop['train'] - none['train']:+.3f}",
        {
            "without regularization every training point is learned": none["train"] == 1.0,
            "without regularization the test accuracy is lower": none["test"] < none["train"],
            "weight decay's boundary is shorter": decay["boundary"] < none["boundary"],
            "weight decay and dropout narrow the gap": max(decay["gap"], drop["gap"]) < none["gap"],
            "dropout moves the train accuracy more than the test accuracy": abs(
                drop["test"] - none["test"]
            )
            < abs(drop["train"] - none["train"]),
        },
    )
    return {
        "look_for": checks,
        "summary": summary,
        "history": {k: {n: h[n] for n in ("step", "train", "test")} for k, h in results.items()},
    }
