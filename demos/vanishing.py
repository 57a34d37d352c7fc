"""Vanishing gradients: per-layer gradient size in deep sigmoid, tanh and ReLU nets, and the graph coloured by it."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from tapegrad import nn
from tapegrad import Value, draw_graph, save_graph
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


def draw_chain(activation: str, depth: int, width: int, seed: int, out: Path) -> Path:
    """Backpropagate through a small deep net on one sample and save its graph with edges
    coloured by gradient size (pale and thin = small).

    A narrow ReLU chain is often cut by a dead unit (all gradients before it are 0);
    the first seed from ``seed`` on whose chain is alive is drawn instead."""
    init = "he_normal" if activation == "relu" else "xavier_normal"
    sample = [0.5, -1.0]
    model = deep_net(activation, init, depth, width, seed)
    while _dead_units(model, sample):
        seed += 1
        model = deep_net(activation, init, depth, width, seed)
    for i, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            unit = f"{i + 1}" if len(layer.neurons) == 1 else f"{i + 1}.{j + 1}"
            neuron.b.label = f"b{unit}"
            for k, w in enumerate(neuron.w):
                w.label = f"w{unit}" if len(neuron.w) == 1 else f"w{unit}.{k + 1}"
    # Inputs that require grad get a gradient too, so every edge has a colour.
    x = [Value(v, label=f"x{i + 1}") for i, v in enumerate(sample)]
    loss = (model(x)[0] - 1.0) ** 2
    loss.backward()
    graph = draw_graph(loss, color_by_grad=True, max_nodes=400)
    graph.attr(label=f"{depth} {activation} layers of {width}: each edge coloured by the "
                     "gradient of the value it leaves", fontsize="20", labelloc="t")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        path = save_graph(graph, str(out / f"vanishing_graph_{activation}.png"))
    print(f"  wrote {path}")
    return Path(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--depth", type=int, default=10,
                        help="hidden layers (default: %(default)s)")
    parser.add_argument("--width", type=int, default=16,
                        help="units per hidden layer (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=64,
                        help="two-moons points in the loss (default: %(default)s)")
    parser.add_argument("--inits", type=int, default=3,
                        help="random initialisations averaged (default: %(default)s)")
    parser.add_argument("--graph-depth", type=int, default=6,
                        help="layers of the drawn networks (default: %(default)s)")


def run(args: argparse.Namespace, out: Path) -> dict:
    X, labels = nn.data.make_moons(args.samples, noise=0.1, seed=args.seed)
    y = [2.0 * t - 1.0 for t in labels]
    print(f"{args.depth} hidden layers of {args.width} on two moons; mean |dL/dw| per layer "
          f"at initialisation, averaged over {args.inits} initialisations")
    grads = {}
    jobs = [(spec, s) for spec in NETWORKS for s in range(args.inits)]
    for (label, activation, init), s in progress(jobs, "backprop through deep nets"):
        model = deep_net(activation, init, args.depth, args.width, args.seed + s)
        grads.setdefault(label, []).append(layer_gradients(model, X, y))
    profile = {label: np.exp(np.mean(np.log(g), axis=0)) for label, g in grads.items()}
    ratio = {label: float(g[0] / g[-1]) for label, g in profile.items()}
    per_layer = {label: float(ratio[label] ** (1 / args.depth)) for label in profile}
    for label, g in profile.items():
        print(f"  {label:<16} layer 1: {g[0]:.2e}   output layer: {g[-1]:.2e}   "
              f"ratio {ratio[label]:.2e} ({per_layer[label]:.2f}x per layer)")

    print(f"graphs of {args.graph_depth}-layer chains, edges coloured by gradient:")
    graphs = [draw_chain(a, args.graph_depth, 1, args.seed, out) for a in ("sigmoid", "relu")]

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    layers = np.arange(1, args.depth + 2)
    for (label, g), color in zip(profile.items(), COLORS):
        ax.semilogy(layers, g, "o-", color=color, label=f"{label}: x{per_layer[label]:.2f} per layer")
    exploding = profile["ReLU, N(0, 1)"]
    ax.annotate(f"every layer ~{np.median(exploding):.0e}: one SGD step would wreck the weights",
                (layers[len(layers) // 2], np.median(exploding)), xytext=(0, -14),
                textcoords="offset points", ha="center", fontsize=8, color=COLORS[3])
    ax.set_xticks(layers, [str(i) for i in layers[:-1]] + ["out"])
    ax.set(xlabel="layer (input side first)", ylabel="mean |dL/dw| of the layer's weights",
           title=f"gradients through {args.depth} hidden layers of {args.width}, at initialisation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out, "vanishing")

    return {
        "layer_gradients": {label: g.tolist() for label, g in profile.items()},
        "first_to_last_ratio": ratio,
        "factor_per_layer": per_layer,
        "graphs": [str(g) for g in graphs],
    }
