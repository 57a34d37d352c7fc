"""Weight initialisation: activation histograms of a 5-layer net; why not zero (article 001, 6.2)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tapegrad import compile, nn, no_grad, optim
from tapegrad.nn import functional as F

from ._common import grid_outputs, progress, pyplot, save

LAYERS, WIDTH = 5, 100

# (activation, label, initialiser): the book's figures 6-10 to 6-14.
CONFIGS = [
    ("sigmoid", "std 1", nn.init.normal(1.0)),
    ("sigmoid", "std 0.01", nn.init.normal(0.01)),
    ("sigmoid", "Xavier, std sqrt(1/n)", nn.init.xavier_normal()),
    ("relu", "std 0.01", nn.init.normal(0.01)),
    ("relu", "Xavier, std sqrt(1/n)", nn.init.xavier_normal()),
    ("relu", "He, std sqrt(2/n)", nn.init.he_normal()),
]


def activations(
    activation: str, init: nn.init.Initializer, X: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The outputs of every layer of a 5-layer, 100-unit network without biases, as
    (layers, samples, units), computed in compiled mode: one trace, then five matrix
    products over the whole batch (eager mode would build 500 dot nodes per sample)."""
    layers = [
        nn.Linear(WIDTH, WIDTH, activation, init=init, bias=False, rng=rng) for _ in range(LAYERS)
    ]

    def every_layer(x):
        outputs = []
        for layer in layers:
            x = layer(x)
            outputs.extend(x)
        return outputs

    params = [p for layer in layers for p in layer.parameters()]
    out = compile(every_layer, params).forward(X)  # (samples, layers * units)
    return out.reshape(len(X), LAYERS, WIDTH).transpose(1, 0, 2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="random inputs for the histograms (default: %(default)s, as the book)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=100,
        help="training steps of the zero-init experiment (default: %(default)s)",
    )
    parser.add_argument(
        "--points",
        type=int,
        default=100,
        help="points of the two circles it learns (default: %(default)s)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((args.samples, WIDTH))
    print(
        f"{args.samples} inputs ~ N(0, 1) through {LAYERS} layers of {WIDTH} units "
        "(no biases), compiled mode"
    )
    results = {}
    for activation, label, init in progress(CONFIGS, "initialisations"):
        results[(activation, label)] = activations(activation, init, X, rng)
    stats = {}
    for (activation, label), acts in results.items():
        stds = [float(a.std()) for a in acts]
        if activation == "sigmoid":
            extra = [float(np.mean((a < 0.02) | (a > 0.98))) for a in acts]
            what = "saturated (<0.02 or >0.98)"
        else:
            extra = [float(np.mean(a == 0.0)) for a in acts]
            what = "exactly 0"
        stats[f"{activation}, {label}"] = {"std": stds, "fraction": extra}
        print(
            f"  {activation:7s} {label:22s} std per layer "
            + " ".join(f"{s:.3g}" for s in stds)
            + f";  {what}: "
            + " ".join(f"{e:.0%}" for e in extra)
        )
    for activation in ("sigmoid", "relu"):
        _plot_histograms(activation, results, out)
    symmetry = _zero_init(args, out)
    print(
        "look for: with std 1 the sigmoid histograms pile up at 0 and 1 (saturated, no "
        "gradient), with std 0.01 at 0.5 (every unit alike), with Xavier a spread that "
        "survives all five layers; ReLU keeps its spread only with He; in init_zero.png "
        "the zero-initialised weight matrices have identical rows (every unit the same)"
    )
    return {"activations": stats, "symmetry": symmetry}


def _plot_histograms(activation: str, results: dict, out: Path) -> None:
    plt = pyplot()
    rows = [(label, acts) for (act, label), acts in results.items() if act == activation]
    fig, axes = plt.subplots(len(rows), LAYERS, figsize=(13, 2.3 * len(rows)), sharex=True)
    for r, (label, acts) in enumerate(rows):
        for i, a in enumerate(acts):
            ax = axes[r, i]
            ax.hist(a.ravel(), bins=30, range=(0, 1), color="tab:blue")
            if activation == "relu":
                # Half of a ReLU layer's outputs are exactly 0; clip that bar so the
                # rest of the distribution stays visible (as the book's fig 6-14 does).
                ax.set_ylim(0, 7000)
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"layer {i + 1}")
            if i == 0:
                ax.set_ylabel(label, fontsize=9)
            if r == len(rows) - 1:
                ax.set_xlabel("activation")
    samples = rows[0][1].shape[1]
    cut = "; bars cut at 7000" if activation == "relu" else ""
    fig.suptitle(
        f"{activation}: activations of each layer ({samples} inputs x {WIDTH} units), "
        f"by weight initialisation{cut}"
    )
    fig.tight_layout()
    save(fig, out, f"init_{activation}")


def _zero_init(args: argparse.Namespace, out: Path) -> dict:
    """Train a 2-8-8-1 sigmoid net on concentric circles from zero and from Xavier
    weights: from zero, every unit of a layer gets the same gradient at every step,
    so the units stay identical and the net can only draw a straight boundary."""
    X, y = nn.data.make_circles(args.points, noise=0.05, factor=0.5, seed=args.seed)
    print(
        f"\nwhy not zero: a 2-8-8-1 sigmoid MLP on {len(X)} points of two circles, "
        f"mean squared error, Adam lr 0.1, {args.steps} full-batch steps"
    )
    models, result = {}, {}
    for init in ("zeros", "xavier"):
        model = nn.MLP(2, [8, 8, 1], activation="sigmoid", init=init, seed=args.seed)
        opt = optim.Adam(model.parameters(), lr=0.1)
        for _ in progress(range(args.steps), f"init {init}"):
            loss = F.mse_loss([model(x) for x in X], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with no_grad():
            acc = sum((model(x)[0].data > 0.5) == t for x, t in zip(X, y)) / len(y)
        # Largest difference between two units of a hidden layer, over all their weights.
        spread = max(float(np.ptp(_weights(layer), axis=0).max()) for layer in model.layers[:2])
        result[init] = {"accuracy": acc, "loss": loss.data, "unit_spread": spread}
        models[init] = model
        print(
            f"  init {init:6s}: loss {loss.data:.4f}, accuracy {acc:.0%}, largest difference "
            f"between two units of a hidden layer {spread:.3g}"
        )
    _plot_symmetry(models, X, y, result, out)
    return result


def _weights(layer: nn.Linear) -> np.ndarray:
    """(units, inputs + 1): each unit's weights and its bias."""
    return np.array([[w.data for w in n.w] + [n.b.data] for n in layer.neurons])


def _plot_symmetry(models: dict, X, y, result: dict, out: Path) -> None:
    plt = pyplot()
    xa = np.array(X)
    xx, yy = np.meshgrid(np.linspace(-1.5, 1.5, 61), np.linspace(-1.5, 1.5, 61))
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.2), gridspec_kw={"width_ratios": [0.6, 1.4, 1.1]})
    for row, (init, model) in enumerate(models.items()):
        for col, layer in enumerate(model.layers[:2]):
            w = _weights(layer)
            ax = axes[row, col]
            top = np.abs(w).max() + 1e-12  # all-zero weights still need a colour range
            image = ax.imshow(w, cmap="coolwarm", vmin=-top, vmax=top, aspect="auto")
            ax.set_xticks(
                range(w.shape[1]), [f"w{i}" for i in range(w.shape[1] - 1)] + ["b"], fontsize=7
            )
            ax.set_yticks(range(w.shape[0]))
            ax.set(ylabel="unit", title=f"{init}: layer {col + 1} weights")
            fig.colorbar(image, ax=ax, fraction=0.08)
        ax = axes[row, 2]
        ax.contourf(xx, yy, grid_outputs(model, xx, yy) > 0.5, cmap="Spectral", alpha=0.8)
        ax.scatter(xa[:, 0], xa[:, 1], c=y, s=15, cmap="Spectral", edgecolors="black")
        r = result[init]
        ax.set(title=f"{init}: accuracy {r['accuracy']:.0%}", xlabel="x₀", ylabel="x₁")
        ax.set_aspect("equal")
    fig.suptitle(
        "trained from zero weights, all units of a layer stay identical "
        "(every row the same): the net draws one straight boundary"
    )
    fig.tight_layout()
    save(fig, out, "init_zero")
