"""Universal approximation: one hidden layer of width 1 to 64 fitted to a bumpy function."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from tapegrad import nn, optim

from ._common import look_for, output_program, progress, pyplot, save, squared_error_program


def bumpy(x: np.ndarray) -> np.ndarray:
    """The target: sin 2x + sin(5x) / 2 + 0.3 sin 11x, three bumps of different widths."""
    return np.sin(2 * x) + 0.5 * np.sin(5 * x) + 0.3 * np.sin(11 * x)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--widths",
        type=int,
        nargs="+",
        default=[1, 2, 4, 8, 16, 64],
        help="hidden units of the one hidden layer (default: %(default)s)",
    )
    parser.add_argument(
        "--points", type=int, default=200, help="training points on [-2, 2] (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=3000,
        help="full-batch Adam steps per width (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=0.05,
        help="Adam's starting rate, cosine-annealed to 0 (default: %(default)s)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    xs = np.linspace(-2, 2, args.points)
    X, Y = xs[:, None], bumpy(xs)
    # Scored between the training points too: a fit, not a memorised table.
    grid = np.linspace(-2, 2, 1001)
    print(
        f"fitting sin 2x + sin(5x)/2 + 0.3 sin 11x at {args.points} points of [-2, 2] with "
        f"1-w-1 networks (tanh hidden layer, linear output), w = {args.widths}; full-batch "
        f"Adam, {args.epochs} steps, lr {args.lr} cosine-annealed, compiled mode"
    )
    print(
        "the universal approximation theorem: one hidden layer of enough units approximates "
        "any continuous function on an interval as closely as wanted; each unit adds one "
        "tanh step that the output layer shifts and scales"
    )
    fits, errors, parameters = {}, {}, {}
    for width in progress(args.widths, "widths"):
        model = nn.MLP(1, [width, 1], activation="tanh", seed=args.seed)
        params = model.parameters()
        loss_fn = squared_error_program(model, params)
        opt = optim.Adam(params, lr=args.lr)
        nn.fit(
            None,
            loss_fn,
            (X, Y),
            opt,
            epochs=args.epochs,
            seed=args.seed,
            scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs),
            progress=False,
        )
        fits[width] = output_program(model, params).forward(grid[:, None])
        errors[width] = float(np.mean(loss_fn.forward(grid[:, None], bumpy(grid))))
        parameters[width] = len(params)
        print(
            f"  width {width:3d}: {parameters[width]:4d} parameters, mean squared error on "
            f"1001 points {errors[width]:.2e}"
        )
    _plot(grid, fits, errors, parameters, out)
    widths = list(args.widths)
    narrow, wide = errors[widths[0]], errors[widths[-1]]
    checks = look_for(
        "each added unit lets the curve bend once more, so the narrow networks miss the small "
        "bumps (or settle on a poor fit such as a sloping line) and the wide ones follow "
        f"them; the error falls with the width, from {narrow:.2g} (width {widths[0]}) to "
        f"{wide:.2g} (width {widths[-1]}), {narrow / wide:.0f} times smaller",
        {
            "the error falls with the width": all(
                errors[a] > errors[b] for a, b in itertools.pairwise(widths)
            ),
            "the widest network's error is under a tenth of the narrowest's": wide < 0.1 * narrow,
        },
    )
    return {
        "look_for": checks,
        "widths": list(args.widths),
        "errors": errors,
        "parameters": parameters,
        "fits": fits,
        "grid": grid,
    }


def _plot(grid, fits, errors, parameters, out: Path) -> None:
    plt = pyplot()
    fig, (ax, ax_err) = plt.subplots(
        1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.5, 1]}
    )
    ax.plot(grid, bumpy(grid), color="black", lw=3, label="target")
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(fits)))
    for (width, fit), color in zip(fits.items(), colors):
        ax.plot(grid, fit, color=color, lw=1.4, label=f"{width} hidden unit{'s' * (width > 1)}")
    ax.set(xlabel="x", ylabel="y", title="one hidden layer (tanh) of each width, fitted")
    ax.legend(fontsize=8, ncol=2)
    widths = list(errors)
    ax_err.loglog(widths, [errors[w] for w in widths], "o-", color="tab:blue")
    for w in widths:
        ax_err.annotate(
            f"{parameters[w]} params",
            (w, errors[w]),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7.5,
        )
    ax_err.set_xticks(widths, [str(w) for w in widths])
    ax_err.minorticks_off()
    ax_err.margins(x=0.12)  # room for the last point's label
    ax_err.set(
        xlabel="hidden units (log scale)",
        ylabel="mean squared error (log scale)",
        title="error over [-2, 2], between the training points too",
    )
    fig.tight_layout()
    save(fig, out, "universal")
