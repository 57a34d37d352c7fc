"""Random hyper-parameter search on a validation split: ranges narrowed round by round, widened at an edge."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tapegrad import tune

from ._common import look_for, progress, pyplot, save
from ._mnist import load_digits

_SIDE = {"up": ("top", "up to"), "down": ("bottom", "down to")}
_SHOWN = {"lr": "lr", "weight_decay": "weight decay"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of search (default: %(default)s)"
    )
    parser.add_argument(
        "--trials", type=int, default=12, help="settings sampled per round (default: %(default)s)"
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=4,
        help="best settings whose span is the next round's range (default: %(default)s)",
    )
    parser.add_argument(
        "--lr-range",
        type=float,
        nargs=2,
        default=list(tune.LR_RANGE),
        metavar=("LOW", "HIGH"),
        help="the first round's learning rates, sampled on a log scale "
        "(default: %(default)s, the book's)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="seeds each setting is trained from, averaged (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=15,
        help="epochs per run: few, to keep runs cheap (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=20, help="mini-batch size (default: %(default)s)"
    )
    parser.add_argument(
        "--train-size",
        type=int,
        default=400,
        help="MNIST digits the networks train on (default: %(default)s)",
    )
    parser.add_argument(
        "--val-size",
        type=int,
        default=1500,
        help="validation digits that rank the settings: more digits, less "
        "noise (default: %(default)s)",
    )
    parser.add_argument(
        "--test-size",
        type=int,
        default=1000,
        help="held-out digits scored once with the best setting (default: %(default)s)",
    )
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=[50, 50],
        help="hidden layer widths (default: %(default)s)",
    )
    parser.add_argument(
        "--executor",
        choices=("process", "thread"),
        default="process",
        help="where runs go in parallel (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel runs (default: %(default)s, the CPU count)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    # --seed draws the digits, the sampled settings and the initial weights.
    (X, y), (X_test, y_test) = load_digits(
        args.train_size + args.val_size, args.test_size, seed=args.seed
    )
    # load_digits draws at random: slicing is the shuffled split the book asks for.
    X_val, y_val = X[args.train_size :], y[args.train_size :]
    X, y = X[: args.train_size], y[: args.train_size]
    # Standardise with the training set's statistics only: SGD learns far faster on
    # zero-mean, unit-variance inputs, and validation and test must not leak into them.
    mean, std = X.mean(), X.std()
    X, X_val, X_test = (X - mean) / std, (X_val - mean) / std, (X_test - mean) / std
    print(
        f"MNIST 14x14, MLP(196, {[*args.hidden, 10]}), SGD, {args.epochs} epochs per run; "
        f"{len(X)} training, {len(X_val)} validation and {len(X_test)} test digits"
    )
    print(
        f"{args.rounds} rounds of {args.trials} settings x {args.repeats} seed(s) on "
        f"{args.workers} {args.executor} workers; the {args.keep} best of a round, and all "
        "that its validation digits cannot tell from the best, set the next round's ranges"
    )
    pool = (ProcessPoolExecutor if args.executor == "process" else ThreadPoolExecutor)(
        max_workers=args.workers
    )
    with pool:
        history = tune.search(
            X,
            y,
            X_val,
            y_val,
            rounds=args.rounds,
            trials=args.trials,
            keep=args.keep,
            repeats=args.repeats,
            lr_range=tuple(args.lr_range),
            hidden=args.hidden,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            executor=pool,
            on_run=_progress_bars(),
        )
    for h in history:
        _print_round(h, args.keep, last=h is history[-1])

    trials = [t for h in history for t in h.trials]
    best = min(trials, key=lambda t: (-t.accuracy, t.lr))
    noise = tune.standard_error(best.accuracy, len(y_val))
    tied = [t for t in trials if best.accuracy - t.accuracy <= 2 * noise]
    print(
        f"  noise: on {len(y_val)} validation digits an accuracy of {best.accuracy:.3f} has a "
        f"standard error of {noise:.3f}, so settings within {2 * noise:.3f} of the best are "
        f"not told apart: {len(tied)} of the {len(trials)}, lr {min(t.lr for t in tied):.1e} "
        f"to {max(t.lr for t in tied):.1e}"
    )
    if args.repeats > 1:
        print(
            f"  over {args.repeats} seeds the best setting's mean has a standard error of "
            f"{best.spread:.3f}"
        )
    test = tune.run_task(
        tune.Task(
            X,
            y,
            X_test,
            y_test,
            lr=best.lr,
            weight_decay=best.weight_decay,
            hidden=tuple(args.hidden),
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
        )
    ).accuracy
    print(
        f"  best: lr {best.lr:.2e}, weight decay {best.weight_decay:.1e}, validation "
        f"{best.accuracy:.3f} +- {noise:.3f}; touched once, the test set gives {test:.3f}"
    )
    _plot(history, best, noise, out)
    plateau = (min(t.lr for t in tied), max(t.lr for t in tied))
    slowest = min(trials, key=lambda t: t.lr)
    diverged = [t for t in trials if t.diverged]
    first, last = history[0].ranges["lr"], history[-1].ranges["lr"]
    checks = look_for(
        f"the plateau of good rates (lr {plateau[0]:.1e} to {plateau[1]:.1e}, within two "
        f"standard errors of the best) between a slow slope (lr {slowest.lr:.1e} reaches "
        f"{slowest.accuracy:.3f}) and a cliff ({len(diverged)} runs diverged, "
        + (f"from lr {min(t.lr for t in diverged):.1e} up" if diverged else "none in this run")
        + f"), and the boxes moving up to it and closing in (lr range {first[0]:.1e}-"
        f"{first[1]:.1e} in round 1, {last[0]:.1e}-{last[1]:.1e} in round {len(history)})",
        {
            "the smallest rate tried is below the plateau's accuracy": (
                best.accuracy - slowest.accuracy > 2 * noise
            ),
            "every diverged rate lies above the plateau": all(t.lr > plateau[1] for t in diverged),
            "the last round's range holds the best rate and is narrower than the first's": (
                last[0] <= best.lr <= last[1] and last[1] / last[0] < first[1] / first[0]
            ),
        },
    )
    return {
        "look_for": checks,
        "rounds": history,
        "best": best,
        "standard_error": noise,
        "tied": tied,
        "test_accuracy": test,
    }


def _progress_bars() -> Callable[[int, int, int], None]:
    """An ``on_run`` callback for ``tune.search``: one progress bar per round."""
    bars: dict = {}

    def on_run(number: int, done: int, total: int) -> None:
        if number not in bars:
            bars[number] = progress(range(total), f"round {number}", total=total)
        next(bars[number])
        if done == total:
            next(bars.pop(number), None)  # the bar ends when its iterator does

    return on_run


def _print_round(h: tune.Round, keep: int, last: bool) -> None:
    lr, wd, best = h.ranges["lr"], h.ranges["weight_decay"], h.best
    learned = sum(t.accuracy > 0.5 for t in h.trials)
    diverged = sum(t.diverged for t in h.trials)
    print(
        f"  round {h.number}: lr in [{lr[0]:.1e}, {lr[1]:.1e}], weight decay in "
        f"[{wd[0]:.1e}, {wd[1]:.1e}]: {learned}/{len(h.trials)} above 50%, {diverged} "
        f"diverged; best {best.accuracy:.3f} (lr {best.lr:.2e}, weight decay "
        f"{best.weight_decay:.1e})"
    )
    if h.kept > keep:
        print(
            f"    {h.kept - keep} more within 2 standard errors ({2 * h.noise:.3f}) of the best "
            f"are kept with the {keep} best: the validation digits cannot rank them"
        )
    for name, side in h.widened:
        edge, reach = _SIDE[side]
        bound = h.next_ranges[name][1 if side == "up" else 0]
        then = "a next round would reach" if last else f"round {h.number + 1} reaches"
        print(
            f"    the best {_SHOWN[name]} sits at the {edge} edge of its range, so the best "
            f"may lie outside it: {then} {reach} {bound:.1e}"
        )


def _across_rates(trials: list[tune.Trial], best: tune.Trial, n: int = 6) -> list[tune.Trial]:
    """The trial nearest to each of n rates spread evenly (log scale) over those tried,
    and the best, ordered by rate."""
    logs = np.log10([t.lr for t in trials])
    chosen = {id(best): best}
    for target in np.linspace(logs.min(), logs.max(), n):
        t = trials[int(np.argmin(abs(logs - target)))]
        chosen.setdefault(id(t), t)
    return sorted(chosen.values(), key=lambda t: t.lr)


def _plot(history: list[tune.Round], best: tune.Trial, noise: float, out: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(history)))
    ax = axes[0]
    for h, color in zip(history, colors):
        for diverged, marker in ((False, "o"), (True, "x")):
            t = [t for t in h.trials if t.diverged == diverged]
            label = f"round {h.number}" + (" (diverged)" if diverged else "")
            if t:
                ax.scatter(
                    [x.lr for x in t],
                    [x.accuracy for x in t],
                    color=color,
                    s=24,
                    marker=marker,
                    label=label,
                )
    ax.axhspan(
        best.accuracy - 2 * noise,
        best.accuracy + 2 * noise,
        color="tab:orange",
        alpha=0.2,
        label=f"best +- 2 standard errors ({2 * noise:.3f})",
    )
    ax.axhline(0.1, color="0.5", lw=0.8, ls=":", label="chance (0.1)")
    ax.set(
        xscale="log",
        xlabel="learning rate",
        ylabel="validation accuracy",
        ylim=(0, 1),
        title="every setting: accuracy against learning rate",
    )
    ax.legend(fontsize=8, loc="center left")
    ax = axes[1]
    for h, color in zip(history, colors):
        (l0, l1), (w0, w1) = h.ranges["lr"], h.ranges["weight_decay"]
        ax.add_patch(
            plt.Rectangle(
                (l0, w0),
                l1 - l0,
                w1 - w0,
                fill=False,
                ec=color,
                lw=1.8,
                label=f"round {h.number}'s range",
            )
        )
        ax.scatter([t.lr for t in h.trials], [t.weight_decay for t in h.trials], color=color, s=14)
    ax.scatter(
        [best.lr],
        [best.weight_decay],
        marker="*",
        s=220,
        color="tab:orange",
        edgecolor="k",
        zorder=3,
        label="best setting",
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="learning rate",
        ylabel="weight decay",
        title="each round's range (box) and its samples (dots)",
    )
    ax.autoscale_view()
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[2]
    for t in _across_rates([t for h in history for t in h.trials], best):
        style = "--" if t.diverged else "-"
        width = 2.5 if t is best else 1.2
        ax.plot(
            np.arange(1, len(t.curve) + 1),
            t.curve,
            style,
            lw=width,
            label=f"lr {t.lr:.1e}"
            + (" (best)" if t is best else "")
            + (" (diverged)" if t.diverged else ""),
        )
    ax.set(
        xlabel="epoch",
        ylabel="validation accuracy",
        ylim=(0, 1),
        title="training curves from small rates to large ones",
    )
    ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 0.16))
    fig.tight_layout()
    save(fig, out, "search")
