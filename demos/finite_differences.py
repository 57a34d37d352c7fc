"""Numeric gradients (finite differences) against backpropagation: cost and accuracy as parameters grow."""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from tapegrad import nn, no_grad
from tapegrad.nn import functional as F

from ._common import look_for, progress, pyplot, save

T = TypeVar("T")


def make_model(hidden: int, seed: int) -> nn.MLP:
    """Article 000's 2-h-1 network with a sigmoid output read as a probability. The hidden
    units are sigmoids too: finite differences need a smooth loss, and a ReLU unit
    sitting within eps of its kink would make the difference quotient wrong."""
    return nn.MLP(2, [hidden, 1], activation="sigmoid", output_activation="sigmoid", seed=seed)


def mse(model: nn.MLP, X: list, y: list) -> float:
    """Squared error averaged over the data set, as a plain number (no graph)."""
    with no_grad():
        return F.mse_loss([model(x) for x in X], y).data


def backprop_gradient(model: nn.MLP, X: list, y: list) -> list[float]:
    """One forward pass that records the graph, one backward pass: every dL/dw at once."""
    model.zero_grad()
    F.mse_loss([model(x) for x in X], y).backward()
    return [p.grad for p in model.parameters()]


def numeric_gradient(
    model: nn.MLP, X: list, y: list, eps: float, central: bool = True
) -> tuple[list[float], int]:
    """dL/dw_i ~ (L(w + eps e_i) - L(w - eps e_i)) / 2 eps for every parameter (or the
    forward difference (L(w + eps e_i) - L(w)) / eps): two loss evaluations (one) per
    parameter. Returns the gradient and the number of loss evaluations."""
    params = model.parameters()
    base = None if central else mse(model, X, y)
    gradient = []
    for p in params:
        w = p.data
        p.data = w + eps
        up = mse(model, X, y)
        if central:
            p.data = w - eps
            gradient.append((up - mse(model, X, y)) / (2 * eps))
        else:
            gradient.append((up - base) / eps)
        p.data = w
    return gradient, 2 * len(params) if central else len(params) + 1


def fit_power(n: np.ndarray, t: np.ndarray) -> tuple[float, float, float]:
    """The a >= 0, b, k of t ~ a + b n^k that minimise the relative squared error
    sum ((a + b n^k - t) / t)^2, k searched on a grid of step 0.01 in [0.5, 3]: a is the
    fixed cost of a call, b n^k the part that grows with n."""
    n, t = np.asarray(n, dtype=float), np.asarray(t, dtype=float)
    best = (float("inf"), 0.0, 0.0, 0.0)
    for k in np.linspace(0.5, 3.0, 251):
        grow = n**k / t  # relative: each point weighs the same whatever its size
        (a, b), *_ = np.linalg.lstsq(np.c_[1 / t, grow], np.ones_like(t), rcond=None)
        if a < 0:  # a cost cannot be negative: the best fit without a fixed part
            a, b = 0.0, float(np.sum(grow) / np.sum(grow**2))
        error = float(np.sum((a / t + b * grow - 1) ** 2))
        if error < best[0]:
            best = (error, float(a), float(b), float(k))
    return best[1:]


def _best_time(fn: Callable[[], T], repeats: int) -> tuple[float, T | None]:
    """The fastest of ``repeats`` runs of fn() and what fn returned, with the cyclic
    garbage collector off as timeit does (its passes land on random runs and are not
    the method's cost)."""
    best, result = float("inf"), None
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            result = fn()
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best, result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--widths",
        type=int,
        nargs="+",
        default=[1, 2, 4, 8, 16, 32, 64, 128],
        help="hidden widths h of the 2-h-1 networks; parameters = 4h + 1 (default: %(default)s)",
    )
    parser.add_argument(
        "--samples", type=int, default=16, help="data points in the loss (default: %(default)s)"
    )
    parser.add_argument(
        "--eps", type=float, default=1e-6, help="finite-difference step (default: %(default)s)"
    )
    parser.add_argument(
        "--sweep-width",
        type=int,
        default=8,
        help="hidden width of the network whose error is swept over eps (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timings per size, the fastest counts; finite differences slower "
        "than 0.1 s are timed once (default: %(default)s)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    X, labels = nn.data.make_moons(args.samples, noise=0.1, seed=args.seed)
    y = [float(t) for t in labels]
    print(
        f"2-h-1 sigmoid networks, squared error over {len(X)} points; "
        f"central differences with eps = {args.eps:g}"
    )
    print(
        f"  {'params':>7} {'backprop':>10} {'numeric':>10} {'ratio':>7} {'loss evals':>10} "
        f"{'max |error|':>11}"
    )
    sizes, t_back, t_num, errors, evals, largest = [], [], [], [], [], []
    for hidden in progress(args.widths, "network sizes"):
        model = make_model(hidden, args.seed)
        n = len(model.parameters())
        backprop, exact = _best_time(partial(backprop_gradient, model, X, y), args.repeats)
        numeric_fn = partial(numeric_gradient, model, X, y, args.eps)
        numeric_time, (numeric, count) = _best_time(numeric_fn, 1)
        if numeric_time < 0.1:  # cheap enough to time again, as backprop is
            numeric_time = min(numeric_time, _best_time(numeric_fn, args.repeats)[0])
        error = float(np.max(np.abs(np.array(numeric) - exact)))
        sizes.append(n)
        t_back.append(backprop)
        t_num.append(numeric_time)
        errors.append(error)
        largest.append(float(np.max(np.abs(exact))))
        evals.append(count)
        print(
            f"  {n:>7} {backprop * 1e3:>8.2f}ms {numeric_time * 1e3:>8.1f}ms "
            f"{numeric_time / backprop:>7.1f} {count:>10} {error:>11.2e}"
        )
    ratio = np.array(t_num) / np.array(t_back)
    # Slopes on log-log axes: time ~ n^slope.
    log_n = np.log(sizes)
    slope_back = float(np.polyfit(log_n, np.log(t_back), 1)[0])
    slope_num = float(np.polyfit(log_n, np.log(t_num), 1)[0])
    slope_ratio = float(np.polyfit(log_n, np.log(ratio), 1)[0])
    print(
        f"  straight lines on log-log axes: time ~ n^{slope_back:.2f} for backprop, "
        f"n^{slope_num:.2f} for finite differences; their ratio grows as n^{slope_ratio:.2f}"
    )
    # a, b and k need three sizes at least; with fewer only the straight lines are drawn.
    fits = len(set(sizes)) >= 3
    fit_back = fit_power(sizes, t_back) if fits else None
    fit_num = fit_power(sizes, t_num) if fits else None
    if fits:
        print(
            f"  fitted t = a + b n^k: backprop a = {fit_back[0] * 1e3:.2f} ms, "
            f"k = {fit_back[2]:.2f}; finite differences a = {fit_num[0] * 1e3:.2f} ms, "
            f"k = {fit_num[2]:.2f}"
        )
    print(
        "  theory says n for backprop (one pass over a graph of ~n nodes) and n^2 for finite "
        "differences (2n passes of ~n each); a straight line through the log-log points reads "
        "the exponent low when a fixed cost per call (Python calls, the per-sample loss nodes, "
        "clearing gradients) dominates the small networks"
        + (
            ": the fit's a takes that cost out"
            if fits
            else " (give three widths or more to fit t = a + b n^k)"
        )
    )

    # Accuracy against the step: truncation error (eps^2 central, eps forward) against
    # round-off (machine epsilon * L / eps).
    model = make_model(args.sweep_width, args.seed)
    exact = np.array(backprop_gradient(model, X, y))
    steps = np.logspace(-1, -13, 25)
    err_central, err_forward = [], []
    for eps in progress(steps, "step sizes"):
        err_central.append(np.max(np.abs(np.array(numeric_gradient(model, X, y, eps)[0]) - exact)))
        err_forward.append(
            np.max(np.abs(np.array(numeric_gradient(model, X, y, eps, central=False)[0]) - exact))
        )
    best = int(np.argmin(err_central))
    print(
        f"  {len(model.parameters())} parameters: central differences are most accurate at "
        f"eps = {steps[best]:.0e} (error {err_central[best]:.1e}), forward differences at "
        f"eps = {steps[int(np.argmin(err_forward))]:.0e} "
        f"(error {min(err_forward):.1e})"
    )

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    ax = axes[0]
    ax.loglog(
        sizes,
        t_num,
        "o-",
        color="tab:red",
        label=f"finite differences: 2n forward passes (~n^{slope_num:.1f})",
    )
    ax.loglog(
        sizes,
        t_back,
        "o-",
        color="tab:blue",
        label=f"backprop: 1 forward + 1 backward (~n^{slope_back:.1f})",
    )
    dense = np.geomspace(sizes[0], sizes[-1], 100)
    for fit, color in ((fit_num, "tab:red"), (fit_back, "tab:blue")):
        if fit is not None:
            a, b, k = fit
            ax.loglog(
                dense,
                a + b * dense**k,
                "--",
                color=color,
                lw=1,
                label=f"fit {a * 1e3:.2g} ms + b n^{k:.2f}",
            )
    ax.annotate(
        "",
        xy=(sizes[-1], t_num[-1]),
        xytext=(sizes[-1], t_back[-1]),
        arrowprops={"arrowstyle": "<->", "color": "0.4"},
    )
    ax.annotate(
        f"{ratio[-1]:.0f}x slower",
        (sizes[-1], (t_num[-1] * t_back[-1]) ** 0.5),
        xytext=(-6, 0),
        textcoords="offset points",
        ha="right",
        va="center",
        fontsize=9,
    )
    ax.set(xlabel="parameters n", ylabel="seconds per gradient", title="time for one full gradient")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.loglog(sizes, errors, "o-", color="tab:purple", label="max |numeric - backprop|")
    ax.loglog(sizes, largest, "s--", color="0.5", label="max |gradient|, for scale")
    ax.set_ylim(1e-16, 1)
    ax.legend(fontsize=8, loc="center right")
    ax.set(
        xlabel="parameters n",
        ylabel="absolute value",
        title=f"agreement at eps = {args.eps:g} (central differences)",
    )
    ax = axes[2]
    ax.loglog(
        steps, err_central, "o-", ms=3, color="tab:red", label="central (f(w+ε) - f(w-ε)) / 2ε"
    )
    ax.loglog(
        steps, err_forward, "o-", ms=3, color="tab:orange", label="forward (f(w+ε) - f(w)) / ε"
    )
    ax.axvline(args.eps, color="0.6", ls=":", lw=1)
    ax.set(
        xlabel="step ε",
        ylabel="max |numeric - backprop|",
        title=f"error against the step ({len(model.parameters())} parameters)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out, "finite_differences")
    checks = look_for(
        "the red line pulling away from the blue one as n grows (finite differences cost "
        f"{ratio[0]:.1f}x backprop at n = {sizes[0]}, {ratio[-1]:.0f}x at n = {sizes[-1]}"
        + ("; the dashed fits bend because of the fixed cost" if fits else "")
        + f"), errors at most {max(errors):.0e} whatever the size, and the V of error against "
        f"eps: truncation on the right, round-off on the left, lowest at eps = {steps[best]:.0e}",
        {
            "finite differences fall further behind as n grows": ratio[-1] > ratio[0],
            "the two gradients agree to 1e-8 at every size": max(errors) < 1e-8,
            "the error is lowest between the largest and the smallest step": (
                err_central[best] < min(err_central[0], err_central[-1])
            ),
        },
    )

    return {
        "look_for": checks,
        "parameters": sizes,
        "backprop_seconds": t_back,
        "numeric_seconds": t_num,
        "time_ratio": ratio.tolist(),
        "loss_evaluations": evals,
        "max_error": errors,
        "slope_backprop": slope_back,
        "slope_numeric": slope_num,
        "slope_ratio": slope_ratio,
        "fit_backprop": fit_back,
        "fit_numeric": fit_num,
        "steps": steps.tolist(),
        "error_central": [float(e) for e in err_central],
        "error_forward": [float(e) for e in err_forward],
        "best_step_central": float(steps[best]),
    }
