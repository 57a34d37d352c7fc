"""Vanishing gradients: per-layer gradient size in deep sigmoid, tanh and ReLU nets, and a chain coloured by it."""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tapegrad import Value, nn
from tapegrad.nn import functional as F

from ._common import look_for, progress, pyplot, save

# (label, hidden activation, init): the saturating activations with the init made for
# them (the article's "Xavier", std sqrt(1/n): LeCun's lecun_normal, not PyTorch's
# Glorot xavier_normal), ReLU with He, and ReLU with weights too large (N(0, 1)), which
# explodes.
NETWORKS = (
    ("sigmoid, Xavier", "sigmoid", "lecun_normal"),
    ("tanh, Xavier", "tanh", "lecun_normal"),
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


class Chain(NamedTuple):
    """Backward through a one-unit chain: |dL/dz| at each unit (z its weighted sum; input
    side first, the output last); the factor w f'(z) carrying dL/dz from each unit to the
    one before it (dz_{l+1}/dz_l: the next weight times this unit's slope f'(z)); and
    those slopes."""

    gradients: list[float]
    factors: list[float]
    slopes: list[float]


def chain_gradients(activation: str, depth: int, seed: int) -> Chain:
    """Backward through a chain of ``depth`` one-unit layers and a linear output on one
    sample, L = (out - 1)^2.

    A ReLU chain is often cut by a dead unit (every gradient before it is 0); the first
    seed from ``seed`` on whose chain is alive is used instead."""
    init = "he_normal" if activation == "relu" else "lecun_normal"
    sample = [0.5, -1.0]
    model = deep_net(activation, init, depth, 1, seed)
    while _dead_units(model, sample):
        seed += 1
        model = deep_net(activation, init, depth, 1, seed)
    neurons = [layer.neurons[0] for layer in model.layers]
    zs, x = [], sample
    for i, neuron in enumerate(neurons):
        z = Value.dot(neuron.w, x, neuron.b)
        zs.append(z)
        x = [z if i == len(neurons) - 1 else getattr(z, activation)()]
    loss = (zs[-1] - 1.0) ** 2
    loss.backward()
    slopes = [_slope(activation, z.data) for z in zs[:-1]]
    factors = [following.w[0].data * f for following, f in zip(neurons[1:], slopes)]
    return Chain([abs(z.grad) for z in zs], factors, slopes)


def _slope(activation: str, z: float) -> float:
    """f'(z) of the chains' activations: sigmoid's s (1 - s), at most 1/4; ReLU's 0 or 1."""
    if activation == "sigmoid":
        s = 1.0 / (1.0 + math.exp(-z))
        return s * (1.0 - s)
    return 1.0 if z > 0 else 0.0


def _plot_chains(chains: dict[str, Chain], out: Path) -> Path:
    """Each chain as a row of boxes, one a layer, coloured by |dL/dz| on one log scale
    (the colour bar is the legend); each arrow carries the factor w f'(z) backward
    multiplies by from one unit to the one before it."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import FancyBboxPatch

    plt = pyplot()
    values = [g for chain in chains.values() for g in chain.gradients if g > 0]
    norm = LogNorm(min(values), max(values))
    cmap = plt.get_cmap("Reds")
    n = max(len(chain.gradients) for chain in chains.values())
    fig, ax = plt.subplots(figsize=(1.45 * n + 2.2, 1.35 * len(chains) + 1.4))
    for row, (label, (gs, factors, _)) in enumerate(chains.items()):
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
            if i:  # backward runs right to left: unit i's gradient times the factor
                ax.annotate(
                    "",
                    xy=(i - 0.58, y),
                    xytext=(i - 0.42, y),
                    arrowprops={"arrowstyle": "->", "color": "0.3"},
                )
                ax.text(i - 0.5, y + 0.43, f"×{factors[i - 1]:.2g}", ha="center", fontsize=7.5)
    ax.set(xlim=(-2.2, n - 0.45), ylim=(-1.35 * (len(chains) - 1) - 0.6, 0.8))
    ax.axis("off")
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.03, pad=0.01)
    bar.set_label("|dL/dz| at the layer's unit (log scale)")
    ax.set_title(
        "backward through one-unit chains: each box is the gradient dL/dz at a layer's unit\n"
        "(z its weighted sum); each arrow the factor w·f'(z) it is multiplied by on the way to\n"
        "the unit before (w the next weight; the sigmoid's f' is at most 1/4); dL/dw = dL/dz × input",
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
    for label, (gs, factors, _) in chains.items():
        print(
            f"  one-unit {label} chain: |dL/dz| {gs[-1]:.1e} at the output, {gs[0]:.1e} at "
            f"layer 1; the factors w f'(z) backward multiplies by: "
            + ", ".join(f"{f:.2g}" for f in reversed(factors))
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
    sigmoid, relu = per_layer["sigmoid, Xavier"], per_layer["ReLU, He"]
    falls = all(a < b for a, b in itertools.pairwise(profile["sigmoid, Xavier"]))
    chain = chains["sigmoid, Xavier"]
    checks = look_for(
        f"the sigmoid line falling towards the input, x{sigmoid:.2f} a layer (each layer "
        "multiplies the gradient by the sigmoid's slope, at most 1/4, times a weight) while "
        f"ReLU with He stays nearly level (x{relu:.2f} a layer); in the chain, boxes fading to "
        f"white towards layer 1 ({chain.gradients[-1]:.1e} at the output, "
        f"{chain.gradients[0]:.1e} at layer 1), "
        "each arrow's factor w·f'(z) at most a quarter of its weight",
        {
            "the sigmoid's gradients shrink at every layer towards the input": falls,
            "the sigmoid's gradients shrink by more than 3x a layer": sigmoid < 1 / 3,
            "ReLU with He stays within 2x a layer": 0.5 < relu < 2.0,
            "the sigmoid chain fades at every step towards layer 1": all(
                a < b for a, b in itertools.pairwise(chain.gradients)
            ),
            "every sigmoid factor is at most a quarter of its weight": all(
                f <= 0.25 for f in chain.slopes
            ),
        },
    )

    return {
        "look_for": checks,
        "layer_gradients": {label: g.tolist() for label, g in profile.items()},
        "first_to_last_ratio": ratio,
        "factor_per_layer": per_layer,
        "chains": chains,
    }
