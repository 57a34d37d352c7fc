"""Exploding gradients: a deep ReLU net with large initial weights, with and without clip_grad_norm_."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from tapegrad import nn, optim

from ._common import look_for, output_program, progress, pyplot, save, squared_error_program


class ClippedOptimizer:
    """``optimizer`` with ``clip_grad_norm_(params, max_norm)`` before each step; records
    the gradients' norm before clipping. ``max_norm = inf`` records and never clips.

    It has what ``nn.fit`` uses of an optimizer (param_groups, zero_grad, step), so
    fit trains with clipping unchanged."""

    def __init__(self, optimizer: optim.Optimizer, max_norm: float) -> None:
        self.optimizer, self.max_norm = optimizer, max_norm
        self.param_groups = optimizer.param_groups
        self.norms: list[float] = []

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self) -> None:
        params = [p for group in self.param_groups for p in group["params"]]
        self.norms.append(optim.clip_grad_norm_(params, self.max_norm))
        self.optimizer.step()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--depth", type=int, default=6, help="hidden ReLU layers of 16 units (default: %(default)s)"
    )
    parser.add_argument(
        "--std",
        type=float,
        default=1.0,
        help="std of the initial weights; He's would be sqrt(2/16) = 0.35 (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=300,
        help="full-batch SGD steps per run (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=0.1,
        help="SGD learning rate of both runs (default: %(default)s)",
    )
    parser.add_argument(
        "--max-norm",
        type=float,
        default=1.0,
        help="clip the gradients' joint norm to this (default: %(default)s)",
    )
    parser.add_argument(
        "--samples", type=int, default=100, help="two-moons points (default: %(default)s)"
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    X, labels = nn.data.make_moons(args.samples, noise=0.1, seed=args.seed)
    X, Y = np.array(X), np.array([2.0 * t - 1.0 for t in labels])  # targets -1 / +1
    growth = args.std * math.sqrt(16 / 2)
    print(
        f"a 2-{'-'.join(['16'] * args.depth)}-1 ReLU network, weights ~ N(0, {args.std:g}^2), "
        f"on {len(X)} two-moons points, squared error to -1/+1; full-batch SGD lr {args.lr}, "
        f"{args.epochs} steps, compiled mode"
    )
    print(
        f"each layer multiplies the signal, and the gradient on its way back, by about "
        f"std * sqrt(16 / 2) = {growth:.2f}: {growth:.2f}^{args.depth} = "
        f"{growth**args.depth:.3g} over the depth, so the first gradient is huge and one "
        "step of lr * gradient throws the weights far away"
    )
    runs = {}
    for label, max_norm in progress(
        (("no clipping", math.inf), (f"clip_grad_norm_ to {args.max_norm:g}", args.max_norm)),
        "runs",
    ):
        model = nn.MLP(
            2,
            [16] * args.depth + [1],
            activation="relu",
            init=nn.init.normal(args.std),
            seed=args.seed,
        )
        params = model.parameters()
        loss_fn = squared_error_program(model, params)
        opt = ClippedOptimizer(optim.SGD(params, lr=args.lr), max_norm)
        # Without clipping the numbers overflow to inf and NaN: that is the result shown.
        with np.errstate(all="ignore"):
            history = nn.fit(
                None, loss_fn, (X, Y), opt, epochs=args.epochs, seed=args.seed, progress=False
            )
            scores = output_program(model, params).forward(X)
        losses, norms = np.array(history.train_loss), np.array(opt.norms)
        broken = np.flatnonzero(~np.isfinite(losses))
        runs[label] = {
            "losses": losses.tolist(),
            "norms": norms.tolist(),
            "first_nonfinite": int(broken[0]) if len(broken) else None,
            "accuracy": float(np.mean((scores > 0) == (Y > 0))),
        }
    for label, r in runs.items():
        at = r["first_nonfinite"]
        end = (
            f"the loss overflows (inf, then NaN) at step {at + 1}"
            if at is not None
            else f"loss {r['losses'][0]:.3g} -> {r['losses'][-1]:.3g}, accuracy {r['accuracy']:.0%}"
        )
        print(f"  {label:<22} gradient norm at the start {r['norms'][0]:.3g}: {end}")
    print(
        f"clipping rescales the whole gradient to norm {args.max_norm:g} when it is larger: "
        f"the direction is kept, each step moves the weights at most lr * max_norm = "
        f"{args.lr * args.max_norm:g}"
    )
    _plot(runs, args.max_norm, out)
    free, clipped = runs.values()
    at = free["first_nonfinite"]
    norms, losses = clipped["norms"], clipped["losses"]
    checks = look_for(
        "without clipping the loss and the gradient norm shoot up within a few steps and end "
        f"(NaN, at step {at + 1 if at is not None else 'never'}); with clipping the norm comes "
        f"down by itself ({norms[0]:.3g} -> {norms[-1]:.3g}) and the loss falls ({losses[0]:.3g} "
        f"-> {losses[-1]:.3g})",
        {
            "without clipping the loss overflows within 10 steps": at is not None and at < 10,
            "with clipping the gradient norm comes down": norms[-1] < norms[0],
            "with clipping the loss falls": losses[-1] < losses[0],
        },
    )
    return {"look_for": checks, "runs": runs, "growth_per_layer": growth}


def _plot(runs: dict, max_norm: float, out: Path) -> None:
    plt = pyplot()
    fig, (ax_norm, ax_loss) = plt.subplots(1, 2, figsize=(13, 4.6))
    top = 1e40  # beyond this (or inf, NaN) a number is drawn as the overflow marker
    for (label, r), color in zip(runs.items(), ("tab:red", "tab:blue")):
        for ax, key in ((ax_norm, "norms"), (ax_loss, "losses")):
            values = np.array(r[key])
            steps = np.arange(1, len(values) + 1)
            shown = np.where(np.isfinite(values) & (values < top), values, np.nan)
            ax.loglog(
                steps,
                shown,
                "o-" if r["first_nonfinite"] is not None else "-",
                ms=4,
                color=color,
                label=label,
            )
            if r["first_nonfinite"] is not None:
                ax.plot(
                    r["first_nonfinite"] + 1,
                    top,
                    "X",
                    color=color,
                    ms=11,
                    clip_on=False,
                    label=f"overflow (inf, then NaN) at step {r['first_nonfinite'] + 1}",
                )
    ax_norm.axhline(
        max_norm,
        color="0.4",
        ls=":",
        label=f"max_norm {max_norm:g}: larger gradients are scaled down to it",
    )
    ax_norm.set(
        xlabel="step (log scale)",
        ylabel="gradient norm before clipping (log scale)",
        title="size of the whole gradient at each step",
    )
    ax_loss.set(
        xlabel="step (log scale)",
        ylabel="mean squared error (log scale)",
        title="loss at each step",
    )
    for ax in (ax_norm, ax_loss):
        ax.set_ylim(top=top * 10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out, "exploding")
