"""Learning rates from far too small to too large: which crawl, which diverge, and 2/lambda_max."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from tapegrad import hessian_wrt, nn, optim
from tapegrad.nn import functional as F

from ._common import look_for, progress, pyplot, save, squared_error_program
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

    # Near a minimum the loss is ~ L0 + d.H.d/2: a step of lr multiplies the error along
    # H's top eigenvector by (1 - lr lambda_max), which grows past lr = 2/lambda_max.
    eigenvalues = _eigenvalues(model, params, X, Y)
    lr_max = 2 / float(eigenvalues[-1])
    negative = int(np.sum(eigenvalues < 0))
    print(
        f"Hessian of the loss at the initial weights: eigenvalues "
        f"{np.array2string(eigenvalues, precision=3)}; 2/lambda_max = {lr_max:.3g}"
    )
    print(
        "  near a minimum (every eigenvalue >= 0) 2/lambda_max is the largest stable rate; "
        f"these weights are not one ({negative} negative eigenvalues), so here it is a guide; "
        "the largest eigenvalue, which sets it, is measured again at the end of the best run"
    )

    loss_fn = squared_error_program(model, params)
    curves, reached = {}, {}
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
        reached[lr] = [p.data for p in params]
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
    lr_max_end = None
    if best is not None:
        for p, value in zip(params, reached[best]):
            p.data = value
        end_eigenvalues = _eigenvalues(model, params, X, Y)
        lr_max_end = 2 / float(end_eigenvalues[-1])
        print(
            f"at the end of the best run (lr {best:g}) the eigenvalues are "
            f"{np.array2string(end_eigenvalues, precision=3)}: 2/lambda_max = {lr_max_end:.3g}"
        )
    _plot(curves, final, diverged, best, lr_max, lr_max_end, out)
    bounds = [lr_max] if lr_max_end is None else [lr_max, lr_max_end]
    below = [lr for lr in args.rates if lr < min(bounds)]
    checks = look_for(
        f"the small rates' curves barely leaving the top (lr {_rates(crawled)}: the loss not "
        f"even halved), the rates past the dashed lines 2/lambda_max = {lr_max:.3g} (start) "
        f"and {lr_max_end or float('nan'):.3g} (end of the best run) shooting up (lr "
        f"{_rates(diverged)}), and the best rate, {best}, the largest below them",
        {
            "every rate above 2/lambda_max (at the start and at the end) diverges": diverged
            == [lr for lr in args.rates if lr > max(bounds)],
            "every rate below both converges": not set(below) & set(diverged),
            "some small rates crawl": bool(crawled),
            "the best rate is the largest below 2/lambda_max": bool(below) and best == max(below),
        },
    )
    return {
        "look_for": checks,
        "lr_max_end": lr_max_end,
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


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{lr:g}" for lr in rates) or "none"


def _eigenvalues(model: nn.Module, params: list, X: list, Y: list) -> np.ndarray:
    """The eigenvalues of the Hessian of the mean squared error at the current weights."""
    return np.linalg.eigvalsh(hessian_wrt(F.mse_loss([model(x) for x in X], Y), params))


def _plot(curves, final, diverged, best, lr_max: float, lr_max_end, out: Path) -> None:
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
    ax_end.axvline(lr_max, color="tab:red", ls="--", label=f"2/λmax at the start = {lr_max:.3g}")
    if lr_max_end is not None:
        ax_end.axvline(
            lr_max_end,
            color="tab:red",
            ls=":",
            label=f"2/λmax at the best run's end = {lr_max_end:.3g}",
        )
    ax_end.set(
        xlabel="learning rate (log scale)",
        ylabel="final loss (log scale)",
        title="where each rate ends",
    )
    ax_end.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out, "learning_rate")
