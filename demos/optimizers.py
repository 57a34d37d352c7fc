"""Ten optimizers on f(x, y) = x^2/20 + y^2 from (-7, 2), 30 steps each (article 001, figs 6-3..6-7)."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tapegrad import Value, optim

from ._common import look_for, progress, pyplot, save

START = (-7.0, 2.0)
DETERMINISTIC = True  # draws no random numbers: --seed would change nothing

# (name, factory, settings shown in the panel title). SGD, Momentum, AdaGrad and Adam
# use the book's learning rates; the others are chosen so that each reaches the
# minimum's neighbourhood in 30 steps without the first step leaving the plot.
OPTIMIZERS: list[tuple[str, Callable[[list[Value]], optim.Optimizer], str]] = [
    ("SGD", lambda p: optim.SGD(p, lr=0.95), "lr 0.95"),
    ("Momentum", lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "lr 0.1, momentum 0.9"),
    (
        "Nesterov",
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        "lr 0.1, momentum 0.9",
    ),
    ("AdaGrad", lambda p: optim.Adagrad(p, lr=1.5), "lr 1.5"),
    # alpha 0.9 instead of PyTorch's 0.99: with 0.99 the first steps are 10 lr long
    # (no bias correction), so a useful lr overshoots; 0.9 forgets the start faster.
    ("RMSprop", lambda p: optim.RMSprop(p, lr=0.3, alpha=0.9), "lr 0.3, alpha 0.9"),
    ("Adam", lambda p: optim.Adam(p, lr=0.3), "lr 0.3"),
    ("AdamW", lambda p: optim.AdamW(p, lr=0.3, weight_decay=0.01), "lr 0.3, weight decay 0.01"),
    # AdaDelta's first steps are about sqrt(eps) long: with PyTorch's eps = 1e-6 it
    # moves 0.003 per step and is still near the start after 30 steps.
    ("AdaDelta", lambda p: optim.Adadelta(p, lr=1.0, rho=0.9, eps=0.1), "lr 1, rho 0.9, eps 0.1"),
    ("AMSGrad", lambda p: optim.Adam(p, lr=0.3, amsgrad=True), "lr 0.3"),
    ("NAdam", lambda p: optim.NAdam(p, lr=0.4), "lr 0.4"),
]

# Why each one ends where it does after 30 steps (printed under its row).
WHY = {
    "SGD": "each step is lr x gradient, so x shrinks by 1 - lr/10 = 0.905 a step along the "
    "flat x axis while y flips sign and shrinks by 0.9: a steady, slow approach",
    "Momentum": "velocity piles up along x, carries it past the minimum and swings it back: "
    "it is still oscillating at the end",
    "Nesterov": "it takes the gradient where momentum is about to carry it, so it brakes "
    "earlier than Momentum and overshoots less",
    "AdaGrad": "it divides by the root of every past squared gradient: large first steps, "
    "then ever smaller ones, so it settles without oscillating",
    "RMSprop": "like AdaGrad but it forgets old gradients, so its steps do not shrink to "
    "nothing: it drops to the valley floor and slides along it",
    "Adam": "each coordinate moves about lr = 0.3 a step whatever the gradient's size, with "
    "momentum 0.9: it arrives fast, crosses y = 0 and swings back, ending higher "
    "than SGD, whose steps shrink with the gradient",
    "AdamW": "Adam plus a pull of lr x 0.01 x w towards 0: almost Adam's path",
    "AdaDelta": "its step is the ratio of two running averages (no learning rate to tune), "
    "so it shrinks with the gradient as plain SGD's does",
    "AMSGrad": "Adam whose denominator never shrinks; on this bowl it never needs to, so it "
    "follows Adam's path",
    "NAdam": "Adam with Nesterov's look-ahead: it overshoots y = 0 less than Adam and ends "
    "nearest the minimum of the Adam family",
}


def f(x: Value | np.ndarray, y: Value | np.ndarray) -> Value | np.ndarray:
    """The book's anisotropic bowl: f(x, y) = x^2 / 20 + y^2, minimum 0 at (0, 0)."""
    return x * x / 20 + y * y


def sgd_closed_form(lr: float, steps: int) -> tuple[float, float]:
    """Where plain gradient descent lands: each step multiplies x by 1 - lr/10 and
    y by 1 - 2 lr, because grad f = (x/10, 2y)."""
    return START[0] * (1 - lr / 10) ** steps, START[1] * (1 - 2 * lr) ** steps


def trajectory(
    make: Callable[[list[Value]], optim.Optimizer], steps: int
) -> list[tuple[float, float]]:
    """The points visited by ``steps`` updates of the optimizer ``make`` builds, start included."""
    x, y = Value(START[0], label="x"), Value(START[1], label="y")
    opt = make([x, y])
    path = [(x.data, y.data)]
    for _ in range(steps):
        opt.zero_grad()
        f(x, y).backward()
        opt.step()
        path.append((x.data, y.data))
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--steps", type=int, default=30, help="updates per optimizer (default: %(default)s)"
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    print(
        f"minimising f(x, y) = x^2/20 + y^2 from {START} with {len(OPTIMIZERS)} optimizers, "
        f"{args.steps} steps each"
    )
    paths = {}
    for name, make, _ in progress(OPTIMIZERS, "optimizers"):
        paths[name] = trajectory(make, args.steps)
    ends = {name: path[-1] for name, path in paths.items()}
    width = max(len(n) for n in ends)
    for name, _, settings in OPTIMIZERS:
        x, y = ends[name]
        print(f"  {name:<{width}}  end ({x:+.4f}, {y:+.4f})  f = {f(x, y):.2e}  [{settings}]")
        print(f"  {'':<{width}}  {WHY[name]}")
    _plot(paths, out)
    losses = {n: [f(x, y) for x, y in path] for n, path in paths.items()}
    steady = [n for n, fs in losses.items() if all(b <= a for a, b in itertools.pairwise(fs))]
    bounce = [n for n in losses if n not in steady]
    checks = look_for(
        "in the paths, how each method crosses the narrow y direction while creeping along "
        f"the flat x one; in the loss panel, the curves that fall steadily ({', '.join(steady)}) "
        f"and those that bounce ({', '.join(bounce)})",
        _why_checks(paths, losses),
    )
    return {
        "look_for": checks,
        "ends": ends,
        "f_end": {n: f(*e) for n, e in ends.items()},
        "losses": losses,
        "sgd_closed_form": sgd_closed_form(0.95, args.steps),
    }


def _why_checks(paths: dict, losses: dict) -> dict[str, bool]:
    """What WHY says of each path, measured on the paths."""
    xy = {n: np.array(path) for n, path in paths.items()}
    rises = {n: [b > a for a, b in itertools.pairwise(fs)] for n, fs in losses.items()}
    adam_family = ("Adam", "AdamW", "AMSGrad", "NAdam")
    return {
        "Momentum is still oscillating at the end (f rises in its last 5 steps)": any(
            rises["Momentum"][-5:]
        ),
        "Nesterov overshoots x = 0 less than Momentum": (
            xy["Nesterov"][:, 0].max() < xy["Momentum"][:, 0].max()
        ),
        "AdaGrad and RMSprop settle without going back up": not any(
            rises["AdaGrad"] + rises["RMSprop"]
        ),
        "Adam crosses y = 0 and ends higher than SGD": (
            xy["Adam"][:, 1].min() < 0 and losses["Adam"][-1] > losses["SGD"][-1]
        ),
        "AdamW stays within 5% of the starting distance of Adam's path": (
            np.abs(xy["AdamW"] - xy["Adam"]).max() < 0.05 * np.hypot(*START)
        ),
        "AMSGrad follows Adam's path": np.abs(xy["AMSGrad"] - xy["Adam"]).max() < 1e-2,
        "NAdam overshoots y = 0 less than Adam and ends nearest the minimum of the Adam family": (
            xy["NAdam"][:, 1].min() > xy["Adam"][:, 1].min()
            and min(adam_family, key=lambda n: losses[n][-1]) == "NAdam"
        ),
    }


def _plot(paths: dict[str, list[tuple[float, float]]], out: Path) -> None:
    plt = pyplot()
    xs, ys = np.meshgrid(np.linspace(-10, 10, 400), np.linspace(-5, 5, 200))
    zs = f(xs, ys)
    fig = plt.figure(figsize=(17, 9.4))
    grid = fig.add_gridspec(3, 5, height_ratios=[1, 1, 1.15])
    colors = plt.get_cmap("tab10").colors
    steps = len(next(iter(paths.values()))) - 1
    for i, (name, _, settings) in enumerate(OPTIMIZERS):
        ax = fig.add_subplot(grid[i // 5, i % 5])
        ax.contour(xs, ys, zs, levels=[0.1, 0.5, 1, 2, 3, 5, 7], colors="0.75", linewidths=0.8)
        px, py = zip(*paths[name])
        ax.plot(px, py, "o-", color=colors[i], markersize=2.5, linewidth=1)
        ax.plot(0, 0, "+", color="black", markersize=10)
        ax.set_title(f"{name} ({settings})", fontsize=9)
        ax.set(xlim=(-10, 10), ylim=(-5, 5))
        if i >= 5:
            ax.set_xlabel("x")
        if i % 5 == 0:
            ax.set_ylabel("y")
    ax = fig.add_subplot(grid[2, :])
    for i, (name, _, _) in enumerate(OPTIMIZERS):
        ax.semilogy(
            [f(x, y) for x, y in paths[name]], "o-", ms=2.5, lw=1.2, color=colors[i], label=name
        )
    ax.set(
        xlabel="step",
        ylabel="f(x, y) (log scale)",
        xlim=(0, steps),
        title="loss per step: the same colours as the paths above",
    )
    ax.legend(ncol=2, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"f(x, y) = x²/20 + y² from (-7, 2), {steps} steps each; + marks the minimum")
    fig.tight_layout()
    save(fig, out, "optimizers")
