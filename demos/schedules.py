"""Learning-rate decay: constant, step, exponential, cosine and on-plateau schedules; rate and loss per epoch."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tapegrad import nn, optim
from tapegrad.optim import lr_scheduler

from ._common import look_for, progress, pyplot, save, squared_error_program
from .universal import bumpy

NOISE = 0.1  # std of the noise added to the targets


def schedules(epochs: int) -> dict[str, tuple[Callable[[optim.Optimizer], object], str]]:
    """name -> (the schedule for an optimizer (None: constant), how it sets the rate)."""
    return {
        "constant": (lambda opt: None, "lr = lr0 every epoch"),
        "StepLR": (
            lambda opt: lr_scheduler.StepLR(opt, step_size=epochs // 4, gamma=0.3),
            f"x 0.3 every {epochs // 4} epochs",
        ),
        "ExponentialLR": (
            lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.93),
            "x 0.93 every epoch",
        ),
        "CosineAnnealingLR": (
            lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=epochs),
            f"lr0 (1 + cos(pi t / {epochs})) / 2",
        ),
        "ReduceLROnPlateau": (
            lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3),
            "x 0.5 after 3 epochs without a new best validation loss",
        ),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="passes over the training points (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=300,
        help="noisy training points (a third as many for validation) (default: %(default)s)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=0.1,
        help="starting rate of SGD with momentum 0.9 (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, help="points per update (default: %(default)s)"
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    n_val = max(1, args.samples // 3)
    xs = rng.uniform(-2, 2, args.samples + n_val)
    ys = bumpy(xs) + rng.normal(0, NOISE, len(xs))
    X, Y = xs[: args.samples, None], ys[: args.samples]
    X_val, Y_val = xs[args.samples :, None], ys[args.samples :]
    model = nn.MLP(1, [32, 1], activation="tanh", seed=args.seed)
    params = model.parameters()
    start = [p.data for p in params]
    loss_fn = squared_error_program(model, params)
    print(
        f"a 1-32-1 tanh network on {args.samples} noisy points of the universal demo's bumpy "
        f"function (noise std {NOISE}; validation: {n_val} others); SGD with momentum 0.9 "
        f"from lr {args.lr}, batches of {args.batch_size}, {args.epochs} epochs, the same "
        "initial weights and batches for every schedule, compiled mode"
    )
    print(
        "a constant rate keeps every mini-batch's noisy step full size, so the loss "
        "jitters around a level it cannot go below; decaying the rate shrinks the steps "
        "once the big moves are made ('A glimpse of neural networks': exponential, step, "
        "and decay on the validation error)"
    )
    histories = {}
    for name, (make, _) in progress(schedules(args.epochs).items(), "schedules"):
        for p, value in zip(params, start):
            p.data = value
        opt = optim.SGD(params, lr=args.lr, momentum=0.9)
        histories[name] = nn.fit(
            None,
            loss_fn,
            (X, Y),
            opt,
            epochs=args.epochs,
            batch_size=args.batch_size,
            val=(X_val, Y_val),
            scheduler=make(opt),
            seed=args.seed,
            progress=False,
        )
    width = max(len(n) for n in histories)
    for name, h in histories.items():
        print(
            f"  {name:<{width}}  last lr {h.lr[-1]:<9.3g} validation loss: last "
            f"{h.val_loss[-1]:.4f}, best {min(h.val_loss):.4f} (epoch {h.best_epoch}); "
            f"{schedules(args.epochs)[name][1]}"
        )
    _plot(histories, out)
    jitter = {name: _jitter(h.val_loss) for name, h in histories.items()}
    last = {name: _tail(h.val_loss).mean() for name, h in histories.items()}
    decayed = [name for name in histories if name != "constant"]
    plateau = histories["ReduceLROnPlateau"]
    cuts = sum(b < a for a, b in itertools.pairwise(plateau.lr))
    checks = look_for(
        "the constant rate's validation loss still jumping up and down at the end (it moves "
        f"{jitter['constant']:.2g} an epoch over the last quarter, the decayed rates "
        f"{min(jitter[n] for n in decayed):.2g} to {max(jitter[n] for n in decayed):.2g}) while "
        f"every decayed rate settles lower (mean over the last quarter "
        f"{min(last[n] for n in decayed):.3f} to {max(last[n] for n in decayed):.3f} against "
        f"{last['constant']:.3f}); "
        f"ReduceLROnPlateau cuts its rate ({cuts} times) only when the validation loss stalls",
        {
            "the constant rate's validation loss moves the most at the end": all(
                jitter["constant"] > jitter[n] for n in decayed
            ),
            "every decayed rate settles below the constant one": all(
                last[n] < last["constant"] for n in decayed
            ),
            "ReduceLROnPlateau cuts its rate, each time after 4 epochs without a new best": (
                cuts > 0 and _cuts_follow_stalls(plateau.lr, plateau.val_loss, patience=3)
            ),
        },
    )
    return {"look_for": checks, "histories": histories, "start": start}


def _tail(losses: list[float]) -> np.ndarray:
    """The losses of the last quarter of the epochs (two at least)."""
    return np.asarray(losses[-max(2, len(losses) // 4) :])


def _jitter(losses: list[float]) -> float:
    """Mean |change| of the loss from one epoch to the next over the last quarter."""
    return float(np.mean(np.abs(np.diff(_tail(losses)))))


def _cuts_follow_stalls(lr: list[float], losses: list[float], patience: int) -> bool:
    """Whether every cut of the rate comes after patience + 1 epochs none of which beat
    the best loss before them (PyTorch's rule, a threshold of 1e-4 relative)."""
    for k in range(1, len(lr)):
        if lr[k] < lr[k - 1]:
            start = k - patience - 1
            if start < 1 or min(losses[start:k]) < min(losses[:start]) * (1 - 1e-4):
                return False
    return True


def _plot(histories: dict, out: Path) -> None:
    plt = pyplot()
    fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(13, 4.6))
    for (name, h), color in zip(histories.items(), plt.get_cmap("tab10").colors):
        ax_lr.plot(h.epochs, h.lr, "o-", ms=2.5, color=color, label=name)
        ax_loss.plot(
            h.epochs,
            h.val_loss,
            "o-",
            ms=2.5,
            color=color,
            label=f"{name}: last {h.val_loss[-1]:.3f}",
        )
    ax_lr.set(
        xlabel="epoch",
        ylabel="learning rate (log scale)",
        yscale="log",
        title="the rate each schedule used in each epoch",
    )
    ax_lr.legend(fontsize=8)
    ax_loss.set(
        xlabel="epoch",
        ylabel="validation mean squared error",
        ylim=(0, None),
        title="validation loss after each epoch",
    )
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out, "schedules")
