"""Weight initialisation: a 5-layer net's activation histograms and their spread over inputs; why not zero (article 001, 6.2)."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from tapegrad import compile, nn, no_grad, optim
from tapegrad.nn import functional as F

from ._common import grid_outputs, look_for, progress, pyplot, save

LAYERS, WIDTH = 5, 100

# (activation, label, initialiser): the book's figures 6-10 to 6-14, and tanh with
# std sqrt(1/n), the book's remedy for the sigmoid's later layers. The book and the
# article call std sqrt(1/n) (n the inputs of a unit) "Xavier"; it is LeCun's scheme,
# nn.init.lecun_normal. PyTorch's xavier_normal_ (nn.init.xavier_normal here) is
# Glorot's std sqrt(2/(n_in + n_out)), another scheme.
CONFIGS = [
    ("sigmoid", "std 1", nn.init.normal(1.0)),
    ("sigmoid", "std 0.01", nn.init.normal(0.01)),
    ("sigmoid", "LeCun, std sqrt(1/n)", nn.init.lecun_normal()),
    ("tanh", "LeCun, std sqrt(1/n)", nn.init.lecun_normal()),
    ("relu", "std 0.01", nn.init.normal(0.01)),
    ("relu", "LeCun, std sqrt(1/n)", nn.init.lecun_normal()),
    ("relu", "He, std sqrt(2/n)", nn.init.he_normal()),
]
# The figures: the saturating activations together, ReLU apart; the x range of each.
FIGURES = {"sigmoid": ("sigmoid", "tanh"), "relu": ("relu",)}
RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 1.0)}


def input_spread(acts: np.ndarray) -> float:
    """How much a unit's output varies with the input: the std over the samples of each
    unit of a (samples, units) layer, averaged over the units. A layer's histogram pools
    units and samples, so it stays wide when the units differ from each other even if
    each of them says the same for every input."""
    return float(acts.std(axis=0).mean())


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
        "(no biases), compiled mode; LeCun's std sqrt(1/n) is what the article calls "
        "Xavier (PyTorch's xavier_normal_ is Glorot's std sqrt(2/(n_in + n_out)))"
    )
    results = {}
    for activation, label, init in progress(CONFIGS, "initialisations"):
        results[(activation, label)] = activations(activation, init, X, rng)
    print(
        "  per layer: the std of all its outputs (the histogram's width), and the std over "
        "the inputs of each unit's output, averaged over the units (what the layer still "
        "says about its input)"
    )
    stats = {}
    for (activation, label), acts in results.items():
        stds = [float(a.std()) for a in acts]
        spreads = [input_spread(a) for a in acts]
        if activation == "relu":
            extra = [float(np.mean(a == 0.0)) for a in acts]
            what = "exactly 0"
        else:
            low, high = RANGES[activation]
            extra = [float(np.mean((a < low + 0.02) | (a > high - 0.02))) for a in acts]
            what = "saturated (within 0.02 of an end)"
        key = f"{activation}, {label}"
        stats[key] = {"std": stds, "input_spread": spreads, "fraction": extra}
        print(
            f"  {key:32s} std {' '.join(f'{x:.3g}' for x in stds)};  over the inputs "
            f"{' '.join(f'{x:.2g}' for x in spreads)};  {what}: "
            + " ".join(f"{e:.0%}" for e in extra)
        )
    for name, shown in FIGURES.items():
        _plot_histograms(name, shown, results, stats, out)
    symmetry = _zero_init(args, out)
    checks = look_for(*_claims(stats, symmetry))
    return {"look_for": checks, "activations": stats, "symmetry": symmetry}


def _claims(stats: dict, symmetry: dict) -> tuple[str, dict[str, bool]]:
    """The look-for line, from the measured spreads."""
    big, small = stats["sigmoid, std 1"], stats["sigmoid, std 0.01"]
    lecun = stats["sigmoid, LeCun, std sqrt(1/n)"]["input_spread"]
    tanh = stats["tanh, LeCun, std sqrt(1/n)"]["input_spread"]
    relu = {k.split(", ", 1)[1]: v["std"] for k, v in stats.items() if k.startswith("relu")}
    he, relu_lecun = relu["He, std sqrt(2/n)"], relu["LeCun, std sqrt(1/n)"]
    per_layer = (lecun[-1] / lecun[0]) ** (1 / (LAYERS - 1))
    text = (
        f"with std 1 the sigmoid histograms pile up at 0 and 1 ({min(big['fraction']):.0%} or "
        f"more saturated in every layer: no gradient), with std 0.01 at 0.5 (every unit "
        f"alike, std {max(small['std']):.2g} at most); with LeCun's std sqrt(1/n) (the "
        "article's Xavier) the histograms stay wide, but the width is the units differing "
        "from each other: how much a unit's output varies with the input falls "
        f"{1 / per_layer:.1f}x a layer ({lecun[0]:.2g} in layer 1, {lecun[-1]:.1g} in layer "
        f"{LAYERS}: the sigmoid's slope is at most 1/4), so the later layers barely see the "
        f"input; tanh with it, the book's remedy, keeps it ({tanh[0]:.2g} to "
        f"{tanh[-1]:.2g}); ReLU keeps its spread only with He (std {he[0]:.2g} to "
        f"{he[-1]:.2g}; LeCun {relu_lecun[0]:.2g} to {relu_lecun[-1]:.2g}); "
        "in init_zero.png the zero-initialised weight matrices have identical rows (every "
        "unit the same)"
    )
    checks = {
        "std 1 saturates most sigmoid outputs in every layer": min(big["fraction"]) > 0.4,
        "std 0.01 leaves every layer's outputs within a narrow band": max(small["std"]) < 0.05,
        "with LeCun the sigmoid's histograms stay wide": min(
            stats["sigmoid, LeCun, std sqrt(1/n)"]["std"]
        )
        > 0.05,
        "with LeCun what a sigmoid unit says about its input shrinks 3x or more a layer": all(
            b < a / 3 for a, b in itertools.pairwise(lecun)
        ),
        "tanh with LeCun keeps a third of it over the layers": tanh[-1] > tanh[0] / 3,
        "ReLU with He keeps its spread, with LeCun halves it": (
            0.5 < he[-1] / he[0] < 2.0 and relu_lecun[-1] < 0.5 * relu_lecun[0]
        ),
        "from zero every unit of a layer stays identical": symmetry["zeros"]["unit_spread"] == 0,
    }
    return text, checks


def _plot_histograms(
    name: str, activations: tuple[str, ...], results: dict, stats: dict, out: Path
) -> None:
    plt = pyplot()
    rows = [(act, label, a) for (act, label), a in results.items() if act in activations]
    fig, axes = plt.subplots(len(rows), LAYERS, figsize=(13, 2.3 * len(rows)))
    for r, (activation, label, acts) in enumerate(rows):
        spreads = stats[f"{activation}, {label}"]["input_spread"]
        for i, a in enumerate(acts):
            ax = axes[r, i]
            counts, _, _ = ax.hist(a.ravel(), bins=30, range=RANGES[activation], color="tab:blue")
            if activation == "relu":
                # Half of a ReLU layer's outputs are exactly 0; clip that bar so the
                # rest of the distribution stays visible (as the book's fig 6-14 does).
                ax.set_ylim(0, 7000)
            else:  # room above the bars for the number
                ax.set_ylim(0, 1.3 * counts.max())
            ax.text(
                0.97,
                0.95,
                f"std over inputs {spreads[i]:.2g}",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
            )
            ax.set_yticks([])
            ax.tick_params(labelsize=8)
            if r == 0:
                ax.set_title(f"layer {i + 1}")
            if i == 0:
                ax.set_ylabel(f"{activation}\n{label}", fontsize=9)
            if r == len(rows) - 1 or rows[r + 1][0] != activation:
                ax.set_xlabel(f"{activation} output")
    samples = rows[0][2].shape[1]
    cut = "; bars cut at 7000" if name == "relu" else ""
    fig.suptitle(
        f"{' and '.join(activations)}: the outputs of each layer ({samples} inputs x {WIDTH} "
        f"units) by weight initialisation{cut};\nin each panel, how much a unit's output varies "
        "over the inputs (std, mean over the units)"
    )
    fig.tight_layout()
    save(fig, out, f"init_{name}")


def _zero_init(args: argparse.Namespace, out: Path) -> dict:
    """Train a 2-8-8-1 sigmoid net on concentric circles from zero and from LeCun (the
    article's Xavier) weights: from zero, every unit of a layer gets the same gradient
    at every step, so the units stay identical and the net can only draw a straight
    boundary."""
    X, y = nn.data.make_circles(args.points, noise=0.05, factor=0.5, seed=args.seed)
    print(
        f"\nwhy not zero: a 2-8-8-1 sigmoid MLP on {len(X)} points of two circles, "
        f"mean squared error, Adam lr 0.1, {args.steps} full-batch steps"
    )
    models, result = {}, {}
    for init in ("zeros", "lecun_normal"):
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
            f"  init {init:12s}: loss {loss.data:.4f}, accuracy {acc:.0%}, largest difference "
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
