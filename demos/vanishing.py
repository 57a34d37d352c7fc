"""Vanishing gradients: per-layer gradient size in deep sigmoid, tanh and ReLU nets, and a chain coloured by it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tapegrad import nn
from tapegrad.nn import functional as F

from ._common import progress, pyplot, save

# (label, hidden activation, init): the saturating activations with the init made for
# them (Xavier), ReLU with He, and ReLU with weights too large (N(0, 1)), which explodes.
NETWORKS = (
    ("sigmoid, Xavier", "sigmoid", "xavier_normal"),
    ("tanh, Xavier", "tanh", "xavier_normal"),
    ("ReLU, He", "relu", "he_normal"),
    ("ReLU, N(0, 1)", "relu", "normal"),
)
COLORS = ("tab:red", "tab:orange", "tab:blue", "tab:purple")


def layer_gradients(model: nn.MLP, X: list, y: list) -> list[float]:
    """Mean |dL/dw| over the weights of each layer (input side first), for the mean
    squared error of the model on (X, y)."""
    model.zero_grad()
    F.mse_loss([model(x) for x in X], y).backward()
    return [
        float(np.mean([abs(w.grad) for neuron in layer.neurons for w in neuron.w]))
        for layer in model.layers
    ]


def deep_net(activation: str, init: str, depth: int, width: int, seed: int) -> nn.MLP:
    """``depth`` hidden layers of ``width`` units on 2 inputs, one linear output."""
    return nn.MLP(2, [width] * depth + [1], activation=activation, init=init, seed=seed)


def _dead_units(model: nn.MLP, x: list) -> int:
    """How many hidden units output exactly 0 on x (a dead ReLU passes no gradient)."""
    dead = 0
    for layer in model.layers[:-1]:
        x = layer(x)
        dead += sum(v.data == 0.0 for v in x)
    return dead


def chain_gradients(activation: str, depth: int, seed: int) -> list[float]:
    """|dL/dw| of each layer of a chain of ``depth`` one-unit layers (input side first,
    the output layer last) on one sample, L = (out - 1)^2.

    A ReLU chain is often cut by a dead unit (every gradient before it is 0); the first
    seed from ``seed`` on whose chain is alive is used instead."""
    init = "he_normal" if activation == "relu" else "xavier_normal"
    sample = [0.5, -1.0]
    model = deep_net(activation, init, depth, 1, seed)
    while _dead_units(model, sample):
        seed += 1
        model = deep_net(activation, init, depth, 1, seed)
    loss = (model(sample)[0] - 1.0) ** 2
    loss.backward()
    return [float(np.mean([abs(w.grad) for w in layer.neurons[0].w])) for layer in model.layers]


def _plot_chains(chains: dict[str, list[float]], out: Path) -> Path:
    """Each chain as a row of boxes, one a layer, coloured by |dL/dw| on one log scale
    (the colour bar is the legend); the arrows carry the factor backward applies."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import FancyBboxPatch

    plt = pyplot()
    values = [g for gs in chains.values() for g in gs if g > 0]
    norm = LogNorm(min(values), max(values))
    cmap = plt.get_cmap("Reds")
    n = max(len(gs) for gs in chains.values())
    fig, ax = plt.subplots(figsize=(1.3 * n + 2.2, 1.35 * len(chains) + 1.3))
    for row, (label, gs) in enumerate(chains.items()):
        y = -1.35 * row
        ax.text(-0.6, y, label, ha="right", va="center", fontsize=10)
        for i, g in enumerate(gs):
            colour = cmap(norm(g))
            ax.add_patch(
                FancyBboxPatch(
                    (i - 0.4, y - 0.35),
                    0.8,
                    0.7,
                    facecolor=colour,
                    edgecolor="0.3",
                    boxstyle="round,pad=0.02",
                )
            )
            name = "out" if i == len(gs) - 1 else f"layer {i + 1}"
            dark = norm(g) > 0.6
            ax.text(
                i,
                y,
                f"{name}\n{g:.1e}",
                ha="center",
                va="center",
                fontsize=8.5,
                color="white" if dark else "black",
            )
            if i:  # backward runs right to left: the factor from layer i + 1 to layer i
                ax.annotate(
                    "",
                    xy=(i - 0.58, y),
                    xytext=(i - 0.42, y),
                    arrowprops={"arrowstyle": "->", "color": "0.3"},
                )
                ax.text(i - 0.5, y + 0.43, f"×{gs[i - 1] / g:.2g}", ha="center", fontsize=7.5)
    ax.set(xlim=(-2.2, n - 0.45), ylim=(-1.35 * (len(chains) - 1) - 0.6, 0.75))
    ax.axis("off")
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.03, pad=0.01)
    bar.set_label("|dL/dw| of the layer (log scale)")
    ax.set_title(
        "backward through one-unit chains: each box is a layer's weight gradient,\n"
        "each arrow the factor it is multiplied by on its way to the input",
        fontsize=10,
    )
    fig.tight_layout()
    return save(fig, out, "vanishing_chain")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--depth", type=int, default=10, help="hidden layers (default: %(default)s)"
    )
    parser.add_argument(
        "--width", type=int, default=16, help="units per hidden layer (default: %(default)s)"
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=64,
        help="two-moons points in the loss (default: %(default)s)",
    )
    parser.add_argument(
        "--inits",
        type=int,
        default=3,
        help="random initialisations averaged (default: %(default)s)",
    )
    parser.add_argument(
        "--graph-depth",
        type=int,
        default=6,
        help="hidden layers of the drawn one-unit chains (default: %(default)s)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    X, labels = nn.data.make_moons(args.samples, noise=0.1, seed=args.seed)
    y = [2.0 * t - 1.0 for t in labels]
    print(
        f"{args.depth} hidden layers of {args.width} on two moons; mean |dL/dw| per layer "
        f"at initialisation, averaged over {args.inits} initialisations"
    )
    grads = {}
    jobs = [(spec, s) for spec in NETWORKS for s in range(args.inits)]
    for (label, activation, init), s in progress(jobs, "backprop through deep nets"):
        model = deep_net(activation, init, args.depth, args.width, args.seed + s)
        grads.setdefault(label, []).append(layer_gradients(model, X, y))
    profile = {label: np.exp(np.mean(np.log(g), axis=0)) for label, g in grads.items()}
    ratio = {label: float(g[0] / g[-1]) for label, g in profile.items()}
    per_layer = {label: float(ratio[label] ** (1 / args.depth)) for label in profile}
    for label, g in profile.items():
        print(
            f"  {label:<16} layer 1: {g[0]:.2e}   output layer: {g[-1]:.2e}   "
            f"ratio {ratio[label]:.2e} ({per_layer[label]:.2f}x per layer)"
        )

    chains = {
        label: chain_gradients(activation, args.graph_depth, args.seed)
        for label, activation in (("sigmoid, Xavier", "sigmoid"), ("ReLU, He", "relu"))
    }
    for label, gs in chains.items():
        print(
            f"  one-unit {label} chain: |dL/dw| {gs[-1]:.1e} at the output layer, "
            f"{gs[0]:.1e} at layer 1"
        )
    _plot_chains(chains, out)

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    layers = np.arange(1, args.depth + 2)
    for (label, g), color in zip(profile.items(), COLORS):
        ax.semilogy(
            layers, g, "o-", color=color, label=f"{label}: x{per_layer[label]:.2f} per layer"
        )
    exploding = profile["ReLU, N(0, 1)"]
    ax.annotate(
        f"every layer ~{np.median(exploding):.0e}: one SGD step would wreck the weights",
        (layers[len(layers) // 2], np.median(exploding)),
        xytext=(0, -14),
        textcoords="offset points",
        ha="center",
        fontsize=8,
        color=COLORS[3],
    )
    ax.set_xticks(layers, [str(i) for i in layers[:-1]] + ["out"])
    ax.set(
        xlabel="layer (input side first)",
        ylabel="mean |dL/dw| of the layer's weights",
        title=f"gradients through {args.depth} hidden layers of {args.width}, at initialisation",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out, "vanishing")
    print(
        "look for: the sigmoid line falling towards the input (each layer multiplies the "
        "gradient by at most 1/4 times a weight) while ReLU with He stays level; in the "
        "chain, boxes fading to white towards layer 1"
    )

    return {
        "layer_gradients": {label: g.tolist() for label, g in profile.items()},
        "first_to_last_ratio": ratio,
        "factor_per_layer": per_layer,
        "chain_gradients": chains,
    }
