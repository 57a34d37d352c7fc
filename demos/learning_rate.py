"""Learning rates from far too small to too large: which crawl, which diverge, and 2/lambda_max."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from tapegrad import hessian_wrt, nn, optim
from tapegrad.nn import functional as F

from ._common import progress, pyplot, save, squared_error_program
from .sine import build

CRAWL = 0.5  # a run whose loss has not even halved by the end crawls


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs",
        type=int,
        default=300,
        help="full-batch gradient-descent steps per rate (default: %(default)s)",
    )
    parser.add_argument(
        "--points",
        type=int,
        default=100,
        help="points of 1 + sin(pi/4 p) on [-2, 2] (default: %(default)s)",
    )
    parser.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=np.geomspace(1e-3, 10, 9).round(4).tolist(),
        help="learning rates tried (default: 9 from 0.001 to 10, a factor 3.16 apart)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    X, Y = nn.data.make_sine(args.points)
    model = build(args.seed)
    params = model.parameters()
    start = [p.data for p in params]
    print(
        f"the 1-2-1 sigmoid network of 'A glimpse of neural networks' ({len(params)} "
        f"parameters) fitting 1 + sin(pi/4 p) at {len(X)} points; mean squared error, "
        "full-batch gradient descent for "
        f"{args.epochs} steps at each rate, from the same initial weights"
    )

    # Near the start the loss is ~ L0 + g.d + d.H.d/2: a step of lr multiplies the error
    # along H's top eigenvector by (1 - lr lambda_max), which grows past lr = 2/lambda_max.
    eigenvalues = np.linalg.eigvalsh(hessian_wrt(F.mse_loss([model(x) for x in X], Y), params))
    lr_max = 2 / float(eigenvalues[-1])
    print(
        f"Hessian of the loss at the initial weights: eigenvalues "
        f"{np.array2string(eigenvalues, precision=3)}; largest stable rate "
        f"2/lambda_max = {lr_max:.3g}"
    )

    loss_fn = squared_error_program(model, params)
    curves = {}
    for lr in progress(args.rates, "learning rates"):
        for p, value in zip(params, start):
            p.data = value
        # A diverging run overflows to inf and NaN: that is its result, not a warning.
        with np.errstate(all="ignore"):
            history = nn.fit(
                None,
                loss_fn,
                (X, Y),
                optim.SGD(params, lr=lr),
                epochs=args.epochs,
                seed=args.seed,
                progress=False,
            )
        curves[lr] = history.train_loss  # full batch: the loss at the start of each step
    first = curves[args.rates[0]][0]
    final = {lr: c[-1] for lr, c in curves.items()}
    diverged = [lr for lr, f in final.items() if not f < first]  # NaN counts as diverged
    crawled = [lr for lr, f in final.items() if lr not in diverged and f > CRAWL * first]
    best = min((lr for lr in final if lr not in diverged), key=final.get, default=None)
    for lr, f in final.items():
        verdict = (
            "diverges"
            if lr in diverged
            else "crawls"
            if lr in crawled
            else "best"
            if lr == best
            else "converges"
        )
        side = "above" if lr > lr_max else "below"
        print(f"  lr {lr:<8g} ({side} 2/lambda_max)  loss {first:.3g} -> {f:<10.3g} {verdict}")
    _plot(curves, final, diverged, best, lr_max, out)
    print(
        "look for: the small rates' curves barely leaving the top, the rates past the "
        "dashed line 2/lambda_max shooting up, and the best rate just below it"
    )
    return {
        "rates": list(args.rates),
        "curves": curves,
        "final": final,
        "first": first,
        "diverged": diverged,
        "crawled": crawled,
        "best": best,
        "lr_max": lr_max,
        "eigenvalues": eigenvalues.tolist(),
        "start": start,
    }


def _plot(curves, final, diverged, best, lr_max: float, out: Path) -> None:
    plt = pyplot()
    fig, (ax, ax_end) = plt.subplots(
        1, 2, figsize=(12.5, 4.6), gridspec_kw={"width_ratios": [1.4, 1]}
    )
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.95, len(curves)))
    first = next(iter(curves.values()))[0]
    for (lr, curve), color in zip(curves.items(), colors):
        shown = [c if math.isfinite(c) and c < 1e3 * first else np.nan for c in curve]
        style = "--" if lr in diverged else "-"
        ax.semilogy(
            range(len(curve)),
            shown,
            style,
            color=color,
            lw=2 if lr == best else 1.2,
            label=f"lr {lr:g}" + (" (best)" if lr == best else ""),
        )
    ax.set(
        xlabel="step",
        ylabel="mean squared error (log scale)",
        title="loss per step; dashed: diverged (cut where it leaves the plot)",
    )
    ax.legend(fontsize=7.5, ncol=2, loc="lower left")
    rates = list(final)
    ends = [final[lr] if math.isfinite(final[lr]) else np.nan for lr in rates]
    ax_end.loglog(rates, ends, "o-", color="tab:blue", label="loss after the last step")
    for lr in diverged:
        ax_end.plot(lr, first, "x", color="tab:red", ms=9)
    ax_end.plot([], [], "x", color="tab:red", label="diverged (NaN or above the start)")
    ax_end.axhline(first, color="0.6", lw=1, label="loss at the start")
    ax_end.axvline(lr_max, color="tab:red", ls="--", label=f"2/λmax = {lr_max:.3g}")
    ax_end.set(
        xlabel="learning rate (log scale)",
        ylabel="final loss (log scale)",
        title="where each rate ends",
    )
    ax_end.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out, "learning_rate")
