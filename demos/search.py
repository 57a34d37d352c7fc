"""Random hyper-parameter search on a validation split, narrowing the ranges round by round, trials in parallel."""

from __future__ import annotations

import argparse
import math
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from tapegrad import nn
from tapegrad import optim
from tapegrad import Compiled

from ._common import argmax_accuracy, classifier_programs, progress, pyplot, save
from ._mnist import load_digits

LR_RANGE = (1e-6, 1e-2)  # seed 001 6.5: lr = 10^U(-6, -2)
WEIGHT_DECAY_RANGE = (1e-8, 1e-4)  # and weight decay = 10^U(-8, -4)

_LOCAL = threading.local()  # each worker thread (or process) keeps its own programs
_TRACE_LOCK = threading.Lock()


def _programs(nin: int, hidden: tuple[int, ...]) -> tuple[nn.MLP, Compiled, Compiled]:
    """The model, its compiled training loss and its compiled scores: traced once per
    worker (thread or process), then reused by every trial with new initial weights."""
    cache = _LOCAL.__dict__.setdefault("programs", {})
    key = (nin, hidden)
    if key not in cache:
        model = nn.MLP(nin, [*hidden, 10])
        step, scores = classifier_programs(model, model.parameters(), 10)
        # compile() marks "tracing" in a process-wide flag: threads take turns to trace.
        with _TRACE_LOCK:
            step.forward(np.zeros((1, nin)), np.zeros(1))
            scores.forward(np.zeros((1, nin)))
        cache[key] = model, step, scores
    return cache[key]


def train_trial(task: dict) -> dict:
    """Train one network with the task's lr and weight decay; its validation accuracy
    after every epoch. A top-level function of plain data, so that a process pool (or
    a Dask cluster) can pickle it and run it anywhere.

    task: X, y (training), X_val, y_val, lr, weight_decay, hidden (layer widths),
    epochs, batch_size, seed (of the initial weights and of the batch order).
    """
    X, y, X_val, y_val = task["X"], task["y"], task["X_val"], task["y_val"]
    hidden = tuple(task["hidden"])
    model, step, scores = _programs(X.shape[1], hidden)
    model.load_state_dict(nn.MLP(X.shape[1], [*hidden, 10], seed=task["seed"]).state_dict())
    flat = step.flat()  # all parameters as one array for the optimizer
    flat.reload()
    # SGD's weight_decay adds lambda * w to each gradient: the derivative of seed 001's
    # 1/2 lambda W^2 penalty (PyTorch's convention: biases are decayed too).
    optimizer = optim.SGD([flat], lr=task["lr"], weight_decay=task["weight_decay"])
    batches = nn.data.DataLoader(X, y, task["batch_size"], seed=task["seed"])
    curve = []
    for _ in range(task["epochs"]):
        for xb, yb in batches:
            optimizer.zero_grad()
            step(np.array(xb), np.array(yb))
            optimizer.step()
        flat.sync()  # the scoring program reads the Values
        curve.append(argmax_accuracy(scores, X_val, y_val))
    return {"lr": task["lr"], "weight_decay": task["weight_decay"],
            "val_accuracy": curve[-1], "curve": curve}


def _log_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """n samples of 10^U(log10 low, log10 high)."""
    return 10.0 ** rng.uniform(math.log10(low), math.log10(high), n)


def search(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    rounds: int = 3,
    trials: int = 16,
    keep: int = 4,
    lr_range: tuple[float, float] = LR_RANGE,
    weight_decay_range: tuple[float, float] = WEIGHT_DECAY_RANGE,
    hidden: tuple[int, ...] = (50, 50),
    epochs: int = 30,
    batch_size: int = 20,
    seed: int = 0,
    executor: Executor | None = None,
) -> list[dict]:
    """Seed 001's random search, narrowed round by round.

    Each round samples ``trials`` pairs lr = 10^U(a, b), weight decay = 10^U(c, d)
    from the current ranges, trains them (each on the training set, scored on the
    validation set) and narrows each range to the span of the ``keep`` best trials'
    values for the next round. Trials run through ``executor``: any
    ``concurrent.futures.Executor`` (a thread pool, a process pool, a Dask cluster's
    ``client.get_executor()``); by default a process pool with one worker per CPU.
    Returns one dict per round: its ranges, its trials (best first) and the ranges
    narrowed from them.
    """
    if not 1 <= keep <= trials:
        raise ValueError(f"search: keep must be between 1 and trials ({trials}), got {keep}")
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=os.cpu_count() or 1)
    rng = np.random.default_rng(seed)
    ranges = {"lr": tuple(lr_range), "weight_decay": tuple(weight_decay_range)}
    history = []
    try:
        for r in range(rounds):
            lrs = _log_uniform(rng, *ranges["lr"], trials)
            decays = _log_uniform(rng, *ranges["weight_decay"], trials)
            tasks = [{"X": X, "y": y, "X_val": X_val, "y_val": y_val, "lr": float(lr),
                      "weight_decay": float(wd), "hidden": tuple(hidden), "epochs": epochs,
                      "batch_size": batch_size, "seed": seed * 1000 + r * trials + i}
                     for i, (lr, wd) in enumerate(zip(lrs, decays))]
            futures = [executor.submit(train_trial, task) for task in tasks]
            for _ in progress(as_completed(futures), f"round {r + 1}/{rounds}", total=len(futures)):
                pass
            results = sorted((f.result() for f in futures),
                             key=lambda t: (-t["val_accuracy"], t["lr"]))
            best = results[:keep]
            narrowed = {name: (min(t[name] for t in best), max(t[name] for t in best))
                        for name in ranges}
            history.append({"round": r + 1, "ranges": ranges, "trials": results,
                            "narrowed": narrowed})
            ranges = narrowed
    finally:
        if own:
            executor.shutdown()
    return history


def score_on_test(task: dict, X_test: np.ndarray, y_test: np.ndarray) -> float:
    """Train with the task's settings on the training set, score once on the test set."""
    return train_trial({**task, "X_val": X_test, "y_val": y_test})["val_accuracy"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of search (default: %(default)s)")
    parser.add_argument("--trials", type=int, default=20,
                        help="trials per round (default: %(default)s)")
    parser.add_argument("--keep", type=int, default=5,
                        help="best trials whose span is the next round's range (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=30,
                        help="epochs per trial: few, to keep trials cheap (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=20,
                        help="mini-batch size (default: %(default)s)")
    parser.add_argument("--digits", type=int, default=500,
                        help="MNIST digits for training + validation, 20%% validation "
                             "(default: %(default)s, as the book)")
    parser.add_argument("--test-size", type=int, default=1000,
                        help="held-out digits scored once with the best setting (default: %(default)s)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[50, 50],
                        help="hidden layer widths (default: %(default)s)")
    parser.add_argument("--executor", choices=("process", "thread"), default="process",
                        help="where trials run in parallel (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="parallel trials (default: %(default)s, the CPU count)")


def run(args: argparse.Namespace, out: Path) -> dict:
    (X_all, y_all), (X_test, y_test) = load_digits(args.digits, args.test_size, seed=args.seed)
    (X, y), (X_val, y_val), _ = nn.data.train_val_test_split(
        list(X_all), list(y_all), val_fraction=0.2, test_fraction=0.0, seed=args.seed)
    X, y, X_val, y_val = np.array(X), np.array(y), np.array(X_val), np.array(y_val)
    # Standardise with the training set's statistics only: SGD learns far faster on
    # zero-mean, unit-variance inputs, and validation and test must not leak into them.
    mean, std = X.mean(), X.std()
    X, X_val, X_test = (X - mean) / std, (X_val - mean) / std, (X_test - mean) / std
    print(f"MNIST 14x14, MLP(196, {[*args.hidden, 10]}), SGD, {args.epochs} epochs per trial; "
          f"{len(X)} training and {len(X_val)} validation digits (shuffled, then split)")
    print(f"{args.rounds} rounds of {args.trials} trials on {args.workers} {args.executor} "
          f"workers; the {args.keep} best of a round set the next round's ranges")
    pool = (ProcessPoolExecutor if args.executor == "process" else ThreadPoolExecutor)(
        max_workers=args.workers)
    with pool:
        history = search(X, y, X_val, y_val, rounds=args.rounds, trials=args.trials,
                         keep=args.keep, hidden=tuple(args.hidden), epochs=args.epochs,
                         batch_size=args.batch_size,
                         seed=args.seed, executor=pool)
    for h in history:
        lr, wd, best = h["ranges"]["lr"], h["ranges"]["weight_decay"], h["trials"][0]
        learned = sum(t["val_accuracy"] > 0.5 for t in h["trials"])
        print(f"  round {h['round']}: lr in [{lr[0]:.1e}, {lr[1]:.1e}], weight decay in "
              f"[{wd[0]:.1e}, {wd[1]:.1e}]: {learned}/{len(h['trials'])} trials above 50%; best "
              f"{best['val_accuracy']:.2f} (lr {best['lr']:.2e}, weight decay "
              f"{best['weight_decay']:.1e})")
    final = history[-1]["narrowed"]
    print(f"  narrowed to lr in [{final['lr'][0]:.1e}, {final['lr'][1]:.1e}], weight decay in "
          f"[{final['weight_decay'][0]:.1e}, {final['weight_decay'][1]:.1e}]")
    best = max((t for h in history for t in h["trials"]), key=lambda t: t["val_accuracy"])
    test = score_on_test({"X": X, "y": y, "lr": best["lr"], "weight_decay": best["weight_decay"],
                          "hidden": tuple(args.hidden), "epochs": args.epochs,
                          "batch_size": args.batch_size, "seed": args.seed}, X_test, y_test)
    print(f"  best: validation {best['val_accuracy']:.3f}; touched once, the test set gives "
          f"{test:.3f}")
    _plot(history, out)
    return {"rounds": history, "best": best, "test_accuracy": test, "narrowed": final}


def _plot(history: list[dict], out: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(history)))
    ax = axes[0]
    for h, color in zip(history, colors):
        t = h["trials"]
        ax.scatter([x["lr"] for x in t], [x["val_accuracy"] for x in t], color=color, s=22,
                   label=f"round {h['round']}")
    ax.axhline(0.1, color="0.7", lw=0.8, ls=":")
    ax.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy",
           title="every trial (dotted: chance)")
    ax.legend(fontsize=8)
    ax = axes[1]
    for h, color in zip(history, colors):
        (l0, l1), (w0, w1) = h["ranges"]["lr"], h["ranges"]["weight_decay"]
        ax.add_patch(plt.Rectangle((l0, w0), l1 - l0, w1 - w0, fill=False, ec=color, lw=1.5))
        t = h["trials"]
        ax.scatter([x["lr"] for x in t], [x["weight_decay"] for x in t], color=color, s=14)
    ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="weight decay",
           title="each round's range (box) and samples")
    ax.autoscale_view()
    ax = axes[2]
    last = history[-1]["trials"]
    for rank, t in enumerate(last[:5]):
        ax.plot(np.arange(1, len(t["curve"]) + 1), t["curve"], color=plt.cm.tab10(rank),
                label=f"best-{rank + 1}: lr {t['lr']:.1e}, wd {t['weight_decay']:.0e}")
    ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1),
           title=f"round {history[-1]['round']}: the five best trials")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save(fig, out, "search")
