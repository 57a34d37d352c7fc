"""Batch, Layer and Group Normalization against none, across initial weight scales (article 001 6.3, article 002)."""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from tapegrad import Compiled, Value, compile, nn, optim

from ._common import look_for, progress, pyplot, save
from ._mnist import load_digits

EPS = 1e-7  # "Deep Learning from Scratch" suggests ~1e-7; nn.BatchNorm1d defaults to PyTorch's 1e-5


# The normalisations compared, as (key, label, line style, colour) for the figure.
NORMS = (
    ("none", "no normalisation", "--", "tab:red"),
    ("batch", "BatchNorm", "-", "tab:blue"),
    ("layer", "LayerNorm", "-", "tab:green"),
    ("group", "GroupNorm", "-", "tab:purple"),
)


def _norm_layer(kind: str, width: int, groups: int) -> nn.Module:
    """One normalisation layer of ``width`` features."""
    if kind == "batch":
        return nn.BatchNorm1d(width, eps=EPS)
    if kind == "layer":
        return nn.LayerNorm(width, eps=EPS)
    return nn.GroupNorm(groups, width, eps=EPS)


class DeepNet(nn.Module):
    """``depth`` blocks Linear -> [normalisation] -> ReLU, then a Linear to 10 scores.

    It takes a whole mini-batch (a list of samples) and returns one list of scores
    per sample: BatchNorm1d normalises each feature over the samples of the batch,
    LayerNorm all features of one sample, GroupNorm groups of features of one sample.
    """

    def __init__(self, nin: int, width: int, depth: int, norm: str, groups: int = 4) -> None:
        dims = [nin] + [width] * depth + [10]
        self.linears = [nn.Linear(dims[i], dims[i + 1], seed=i) for i in range(depth + 1)]
        self.norm = norm
        self.norms = (
            [] if norm == "none" else [_norm_layer(norm, width, groups) for _ in range(depth)]
        )

    def forward(self, batch: list) -> list[list[Value]]:
        *hidden, last = self.linears
        for i, linear in enumerate(hidden):
            batch = [linear(x) for x in batch]
            if self.norm == "batch":
                batch = self.norms[i](batch)
            elif self.norms:
                batch = [self.norms[i](x) for x in batch]
            batch = [[v.relu() for v in x] for x in batch]
        return [last(x) for x in batch]

    def reset(self, std: float, seed: int) -> None:
        """Weights ~ N(0, std^2), biases 0, gamma 1 and beta 0."""
        rng = np.random.default_rng(seed)
        for linear in self.linears:
            for neuron in linear.neurons:
                for w, x in zip(neuron.w, rng.normal(0.0, std, len(neuron.w)).tolist()):
                    w.data = x
                neuron.b.data = 0.0
        for norm in self.norms:
            for g, b in zip(norm.gamma, norm.beta):
                g.data, b.data = 1.0, 0.0


def _max(values: list[Value]) -> Value:
    """max(a, b) = a + relu(b - a), folded over the list: a maximum that stays in the
    graph, so the compiled program computes it for every mini-batch."""
    top = values[0]
    for v in values[1:]:
        top = top + (v - top).relu()
    return top


def batch_loss(model: DeepNet):
    """The mean cross-entropy of a whole mini-batch, as ONE function to compile.

    compile() traces a function of one sample and replays it over a batch of samples;
    BatchNorm couples the samples of a mini-batch, so here the "sample" handed to
    compile is the mini-batch itself (xb: B inputs, yb: B one-hot targets; compile's
    ``sample_is_batch=True`` lets nn.BatchNorm1d be traced in training mode), and each
    SGD step calls the compiled program on a batch of one mini-batch. The log-sum-exp
    subtracts the exact max (in the graph): a constant frozen at tracing time would
    overflow at other weight scales.
    """

    def loss(xb: list, yb: list) -> Value:
        losses = []
        for z, onehot in zip(model(xb), yb):
            top = _max(z)
            log_sum_exp = top + Value.sum([(zi - top).exp() for zi in z]).log()
            losses.append(log_sum_exp - Value.dot(z, onehot))
        return Value.sum(losses) / len(losses)

    loss.__name__ = "batch_loss"
    return loss


_PROGRAMS: dict[tuple, tuple[DeepNet, Compiled]] = {}


def _program(config: tuple, norm: str, X: np.ndarray, Y: np.ndarray) -> tuple[DeepNet, Compiled]:
    """The model and its compiled mini-batch loss, traced once per process."""
    key = (*config, norm)
    if key not in _PROGRAMS:
        nin, width, depth, batch_size, groups = config
        model = DeepNet(nin, width, depth, norm, groups)
        program = compile(batch_loss(model), model.parameters(), sample_is_batch=True)
        program(X[None, :batch_size], Y[None, :batch_size])  # trace now
        _PROGRAMS[key] = model, program
    return _PROGRAMS[key]


def _train(program: Compiled, loader: nn.data.DataLoader, lr: float, epochs: int) -> list[float]:
    """SGD on the program's flat parameters over ``epochs`` passes of ``loader``: the
    loss of every step, up to the first that diverges (not finite, or above 1e3)."""
    optimizer = optim.SGD([program.flat()], lr=lr)
    losses = []
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            with np.errstate(all="ignore"):  # a diverging run overflows; it is caught below
                loss = program(np.array(xb)[None], np.array(yb)[None])
            losses.append(loss)
            if not np.isfinite(loss) or loss > 1e3:
                return losses
            optimizer.step()
    return losses


def train_panel(job: dict) -> dict:
    """Train the net with each normalisation (and none) from the same N(0, std^2)
    weights on the same mini-batches; the loss of every step (a run stops when it
    diverges)."""
    X, Y, std = job["X"], job["Y"], job["std"]
    config = (X.shape[1], job["width"], job["depth"], job["batch_size"], job["groups"])
    curves = {}
    for norm, *_ in NORMS:
        model, program = _program(config, norm, X, Y)
        model.reset(std, job["seed"])
        program.flat().reload()  # the flat vector the optimizer steps reads the new weights
        loader = nn.data.DataLoader(
            X, Y, job["batch_size"], shuffle=True, drop_last=True, seed=job["seed"]
        )
        curves[norm] = _train(program, loader, job["lr"], job["epochs"])
    return {"std": std, **curves}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--panels",
        type=int,
        default=9,
        help="initial weight scales, std from 1 down to 1e-4 (default: %(default)s)",
    )
    parser.add_argument(
        "--train-size", type=int, default=500, help="MNIST training digits (default: %(default)s)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=7,
        choices=(7, 14, 28),
        help="digits shrunk to this many pixels a side (default: %(default)s)",
    )
    parser.add_argument(
        "--width", type=int, default=20, help="units per hidden layer (default: %(default)s)"
    )
    parser.add_argument(
        "--groups",
        type=int,
        default=4,
        help="GroupNorm's groups; must divide --width (default: %(default)s)",
    )
    parser.add_argument("--depth", type=int, default=4, help="hidden layers (default: %(default)s)")
    parser.add_argument(
        "--batch-size", type=int, default=20, help="mini-batch size (default: %(default)s)"
    )
    parser.add_argument(
        "--epochs", type=int, default=6, help="epochs per run (default: %(default)s)"
    )
    parser.add_argument(
        "--lr", type=float, default=0.1, help="SGD learning rate (default: %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes running panels in parallel; 1 runs them here "
        "(default: %(default)s, the CPU count)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    (X, y), _ = load_digits(args.train_size, 0, size=args.image_size, seed=args.seed)
    Y = np.eye(10)[y]
    stds = np.logspace(0, -4, args.panels) if args.panels > 1 else np.array([1.0])
    if args.width % args.groups:
        raise ValueError(f"batchnorm: --groups {args.groups} must divide --width {args.width}")
    print(
        f"MNIST, {len(X)} digits of {args.image_size}x{args.image_size}; {args.depth} hidden "
        f"layers of {args.width} (Linear -> normalisation -> ReLU: BatchNorm over the "
        f"mini-batch, LayerNorm over one sample's features, GroupNorm over {args.groups} "
        f"groups of them, or none); SGD lr {args.lr}, batches of {args.batch_size}, "
        f"{args.epochs} epochs; weights N(0, std^2)"
    )
    jobs = [
        {
            "X": X,
            "Y": Y,
            "std": float(s),
            "width": args.width,
            "depth": args.depth,
            "groups": args.groups,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "lr": args.lr,
            "seed": args.seed,
        }
        for s in stds
    ]
    if args.workers > 1:
        # Each worker process traces the programs once, then trains its panels.
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            results = list(progress(pool.map(train_panel, jobs), "weight scales", total=len(jobs)))
    else:
        results = [train_panel(job) for job in progress(jobs, "weight scales")]

    steps_per_epoch = len(X) // args.batch_size
    window = max(1, steps_per_epoch // 2)
    summary = []
    print(
        f"  final training loss (chance: ln 10 = 2.303)\n  {'std':>8}"
        + "".join(f" {label:>17}" for _, label, _, _ in NORMS)
    )
    for r in results:
        ends = {norm: _final(r[norm], window) for norm, *_ in NORMS}
        summary.append({"std": r["std"], **{f"final_{k}": v for k, v in ends.items()}})
        print(f"  {r['std']:>8.2g}" + "".join(f" {_fmt(ends[k]):>17}" for k, *_ in NORMS))
    better = {
        norm: sum(s[f"final_{norm}"] < s["final_none"] for s in summary) for norm, *_ in NORMS[1:]
    }
    for norm, label, *_ in NORMS[1:]:
        print(
            f"  {label} ends lower than no normalisation at {better[norm]} of "
            f"{len(summary)} weight scales"
        )
    checks = look_for(*_claims(summary, better))
    plt = pyplot()
    cols = int(np.ceil(np.sqrt(len(results))))
    rows = int(np.ceil(len(results) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.0 * cols, 2.4 * rows), squeeze=False, sharex=True, sharey=True
    )
    total = args.epochs * steps_per_epoch
    for ax, r in zip(axes.flat, results):
        for key, label, style, color in NORMS:
            curve = _smooth(r[key], window)
            ax.plot(curve, style, color=color, label=label)
            if len(r[key]) < total:  # diverged: mark where it stopped
                ax.plot(len(curve) - 1, min(curve[-1], 3.4), "x", color="tab:red", ms=8)
        ax.axhline(np.log(10), color="0.7", lw=0.8, ls=":")
        ax.set_title(f"std = {r['std']:.2g}", fontsize=9)
        ax.set_ylim(0, 3.5)
    for ax in axes.flat[len(results) :]:
        ax.set_axis_off()
    axes.flat[0].legend(fontsize=7, loc="lower left")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for ax in axes[:, 0]:
        ax.set_ylabel("training loss")
    fig.suptitle(
        "Normalisation across initial weight scales: training loss per step "
        "(dotted: chance, ln 10; x: diverged)",
        fontsize=11,
    )
    fig.tight_layout()
    save(fig, out, "batchnorm")
    return {"look_for": checks, "summary": summary, "better": better, "curves": results}


CHANCE = float(np.log(10))  # the loss of a uniform guess over 10 digits


def _claims(summary: list[dict], better: dict[str, int]) -> tuple[str, dict[str, bool]]:
    """The look-for line, from the final losses at each weight scale (largest std first)."""
    n = len(summary)
    # Flat at chance: a final loss within 0.01 of ln 10 (it never learned).
    stuck = [s["std"] for s in summary if abs(s["final_none"] - CHANCE) < 0.01]
    # The small scales, from the smallest up to the first that learns: all stuck.
    small = []
    for s in reversed(summary):
        if s["std"] not in stuck:
            break
        small.append(s["std"])
    batch = [s["final_batch"] for s in summary]
    helped = {
        norm: [s["std"] for s in summary if s[f"final_{norm}"] < s["final_none"]]
        for norm in ("layer", "group")
    }
    smallest = min(s["std"] for s in summary)

    def scales(stds: list[float]) -> str:
        return ", ".join(f"{x:.2g}" for x in stds) or "none"

    text = (
        f"the dashed red curves (no normalisation) flat at chance, ln 10 = {CHANCE:.3f}, at "
        f"{len(stuck)} of {n} weight scales (std {scales(stuck)}), every one from std "
        f"{max(small, default=float('nan')):.2g} down; BatchNorm learning at every scale (final loss {min(batch):.3f} to "
        f"{max(batch):.3f}, below no normalisation at {better['batch']} of {n}); and LayerNorm "
        "and GroupNorm, which normalise each sample on its own, helping only at the larger "
        f"scales here (LayerNorm at std {scales(helped['layer'])}; GroupNorm at std "
        f"{scales(helped['group'])})"
    )
    largest_helped = all(
        stds and max(stds) == summary[0]["std"] and smallest not in stds for stds in helped.values()
    )
    checks = {
        "no normalisation is stuck at chance once the weights are small": bool(small),
        "BatchNorm ends below chance and below no normalisation at every scale": (
            better["batch"] == n and max(batch) < CHANCE - 0.1
        ),
        "LayerNorm and GroupNorm help at the largest scale, not at the smallest": largest_helped,
    }
    return text, checks


def _smooth(losses: list[float], window: int) -> np.ndarray:
    """Running mean over the last ``window`` steps (mini-batch losses are noisy)."""
    x = np.minimum(np.nan_to_num(np.asarray(losses, dtype=float), nan=1e3, posinf=1e3), 1e3)
    c = np.cumsum(np.insert(x, 0, 0.0))
    k = np.minimum(np.arange(1, len(x) + 1), window)
    return (c[1:] - c[np.arange(1, len(x) + 1) - k]) / k


def _final(losses: list[float], window: int) -> float:
    """Mean loss of the last ``window`` steps; infinity when the run diverged."""
    tail = np.asarray(losses[-window:], dtype=float)
    return float(tail.mean()) if np.all(np.isfinite(tail)) and tail.max() <= 1e3 else float("inf")


def _fmt(x: float) -> str:
    return "diverged" if not np.isfinite(x) else f"{x:.3f}"
