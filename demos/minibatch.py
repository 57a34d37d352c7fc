"""Full batch against mini-batches and batch size 1: noisy against smooth, time per epoch, accuracy."""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from tapegrad import nn, optim

from ._common import classifier_programs, look_for, progress, pyplot, save


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--samples",
        type=int,
        default=200,
        help="two-moons training points (as many again for validation) (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=30,
        help="passes over the training points, the same for every batch size "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[32, 8, 1],
        help="mini-batch sizes besides the full batch (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=0.1,
        help="SGD learning rate, the same for every run (default: %(default)s)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    X, y = nn.data.make_moons(args.samples, noise=0.2, seed=args.seed)
    X_val, y_val = nn.data.make_moons(args.samples, noise=0.2, seed=args.seed + 1)
    sizes = [len(X)] + [b for b in args.batch_sizes if b < len(X)]
    print(
        f"a 2-16-16-2 ReLU network on {len(X)} noisy two-moons points (validation: "
        f"{len(X_val)} others); cross-entropy, SGD lr {args.lr}, {args.epochs} epochs for each "
        f"batch size {sizes}, from the same initial weights, compiled mode"
    )
    print(
        "each update follows the gradient of its batch's loss: a small batch's gradient is "
        "a noisy estimate of the full one, but there are len(X) / batch of them per epoch"
    )
    model = nn.MLP(2, [16, 16, 2], activation="relu", seed=args.seed)
    params = model.parameters()
    start = [p.data for p in params]
    loss_fn, scores_fn = classifier_programs(model, params, 2)
    # Trace both programs now, so the first run's time per epoch does not include it.
    loss_fn.forward(np.array(X[:2]), np.array(y[:2]))
    scores_fn.forward(np.array(X[:2]))
    runs = {}
    for size in progress(sizes, "batch sizes"):
        for p, value in zip(params, start):
            p.data = value
        began = time.perf_counter()
        history = nn.fit(
            scores_fn,
            loss_fn,
            (X, y),
            optim.SGD(params, lr=args.lr),
            epochs=args.epochs,
            batch_size=size,
            val=(X_val, y_val),
            accuracy="argmax",
            seed=args.seed,
            progress=False,
        )
        runs[size] = {
            "history": history,
            "seconds_per_epoch": (time.perf_counter() - began) / args.epochs,
        }
    print(
        f"  {'batch':>6} {'updates':>8} {'s/epoch':>8} {'val loss':>9} {'train acc':>10} "
        f"{'val acc':>8} {'spread of batch losses':>23}"
    )
    for size, r in runs.items():
        h = r["history"]
        r["updates"] = len(h.step_loss)
        # The batch losses of the last epoch, std / mean: 0 for the full batch (one batch,
        # the whole set), larger the fewer samples each batch holds.
        last = np.array(h.step_loss[-(r["updates"] // len(h.epochs)) :])
        r["spread"] = float(last.std() / last.mean())
        label = "full" if size == len(X) else str(size)
        print(
            f"  {label:>6} {r['updates']:>8} {r['seconds_per_epoch']:>8.3f} "
            f"{h.val_loss[-1]:>9.4f} {h.train_acc[-1]:>10.1%} {h.val_acc[-1]:>8.1%} "
            f"{r['spread']:>23.2f}"
        )
    _plot(runs, len(X), out)
    full, smallest = runs[len(X)], runs[sizes[-1]]
    spreads = [runs[size]["spread"] for size in sizes]  # largest batch first
    val = {size: r["history"].val_loss[-1] for size, r in runs.items()}
    checks = look_for(
        "the full batch's smooth but slow curve against the jagged curves of small batches "
        f"(spread of the last epoch's batch losses {', '.join(f'{x:.2f}' for x in spreads)}, "
        f"from the full batch to batch {sizes[-1]}), which end lower after as many epochs because they "
        f"update more often (validation loss after {args.epochs} epochs: full "
        f"{val[len(X)]:.3f}, "
        + ", ".join(f"batch {size} {val[size]:.3f}" for size in sizes[1:])
        + f"); and what that costs: batch {sizes[-1]} takes "
        f"{smallest['seconds_per_epoch'] / full['seconds_per_epoch']:.0f}x the full batch's "
        "time per epoch",
        {
            "the smaller the batch, the noisier its losses": all(
                a < b for a, b in itertools.pairwise(spreads)
            ),
            "every mini-batch size ends below the full batch": all(
                val[size] < val[len(X)] for size in sizes[1:]
            ),
        },
    )
    return {"look_for": checks, "sizes": sizes, "runs": runs, "train_size": len(X)}


def _plot(runs: dict, n: int, out: Path) -> None:
    plt = pyplot()
    fig, (ax_step, ax_epoch, ax_time) = plt.subplots(
        1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1.3, 1, 0.8]}
    )
    colors = dict(zip(runs, plt.get_cmap("tab10").colors))
    for size, r in reversed(runs.items()):  # the noisiest behind, the full batch on top
        h = r["history"]
        label = "full batch" if size == n else f"batch {size}"
        per_epoch = r["updates"] / len(h.epochs)
        ax_step.plot(
            np.arange(1, r["updates"] + 1) / per_epoch,
            h.step_loss,
            lw=2 if size == n else 0.7,
            color=colors[size],
            # batch size 1's thousands of updates would hide the others
            alpha=1 if size == n else 0.3 if size == 1 else 0.8,
            label=f"{label}: {r['updates']} updates",
        )
    for size, r in runs.items():
        h = r["history"]
        label = "full batch" if size == n else f"batch {size}"
        ax_epoch.plot(h.epochs, h.val_loss, "o-", ms=3, color=colors[size], label=label)
    full = runs[n]["history"].step_loss
    ax_step.set(
        xlabel="epoch",
        ylabel="cross-entropy of the batch just used",
        ylim=(0, 1.5 * max(full)),
        title="loss at every update: smooth against noisy",
    )
    handles, labels = ax_step.get_legend_handles_labels()
    ax_step.legend(handles[::-1], labels[::-1], fontsize=8, loc="upper right", framealpha=1)
    ax_epoch.set(
        xlabel="epoch",
        ylabel="validation cross-entropy",
        yscale="log",
        title="validation loss after each epoch",
    )
    ax_epoch.legend(fontsize=8)
    labels = ["full" if s == n else str(s) for s in runs]
    bars = ax_time.bar(
        labels, [r["seconds_per_epoch"] for r in runs.values()], color=[colors[s] for s in runs]
    )
    for bar, r in zip(bars, runs.values()):
        ax_time.annotate(
            f"val acc\n{r['history'].val_acc[-1]:.0%}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax_time.set(xlabel="batch size", ylabel="seconds per epoch", title="time per epoch")
    ax_time.margins(y=0.25)
    fig.tight_layout()
    save(fig, out, "minibatch")
