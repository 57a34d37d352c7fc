"""Two moons: a 2-16-16-1 ReLU MLP trained with hinge loss + L2 and SGD, as micrograd's demo."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from tapegrad import Value, draw_graph, nn, no_grad, optim, save_graph
from tapegrad.nn import functional as F

from ._common import grid_outputs, look_for, progress, pyplot, save

L2 = 1e-4  # micrograd's alpha


def _agreement(scores: list[Value], Y: list[int]) -> float:
    """Fraction of scores that have the sign of their label (-1 or +1)."""
    return sum((s.data > 0) == (t > 0) for s, t in zip(scores, Y)) / len(Y)


def accuracy(model: nn.Module, X: list[list[float]], Y: list[int]) -> float:
    """Fraction of samples whose score has the sign of their label (-1 or +1)."""
    with no_grad():
        return _agreement([model(x)[0] for x in X], Y)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--steps", type=int, default=100, help="full-batch SGD steps (default: %(default)s)"
    )
    parser.add_argument(
        "--samples", type=int, default=100, help="points in the data set (default: %(default)s)"
    )
    parser.add_argument(
        "--noise", type=float, default=0.1, help="noise of make_moons (default: %(default)s)"
    )
    parser.add_argument(
        "--hidden", type=int, default=16, help="width of both hidden layers (default: %(default)s)"
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    X, labels = nn.data.make_moons(args.samples, noise=args.noise, seed=args.seed)
    Y = [2 * t - 1 for t in labels]  # the hinge loss wants labels -1 / +1
    model = nn.MLP(2, [args.hidden, args.hidden, 1], activation="relu", seed=args.seed)
    params = model.parameters()
    print(f"two moons: {len(X)} points (noise {args.noise}); {model!r}")
    print(
        f"loss: mean hinge max(0, 1 - y s) + {L2:g} * sum p^2; SGD, lr 1.0 -> 0.1 "
        f"over {args.steps} steps; eager engine, full batch"
    )
    print(
        "the hinge loss max(0, 1 - y s) of a point with label y = +-1 and score s is 0 once "
        "the point is on its side with a margin (y s >= 1) and grows linearly as it goes "
        "the wrong way: only points near the boundary or on the wrong side move the weights "
        "(the loss of support-vector machines)"
    )

    opt = optim.SGD(params, lr=1.0)
    losses, accuracies, inside = [], [], []
    for k in progress(range(args.steps), "training", total=args.steps):
        scores = [model(x)[0] for x in X]
        loss = F.hinge_loss(scores, Y) + L2 * F.l2_penalty(params)
        opt.zero_grad()
        loss.backward()
        opt.param_groups[0]["lr"] = 1.0 - 0.9 * k / args.steps  # micrograd's linear decay
        opt.step()
        losses.append(loss.data)
        accuracies.append(_agreement(scores, Y))
        inside.append(sum(t * s.data < 1 for s, t in zip(scores, Y)))  # y s < 1: a hinge loss
    for k in range(0, args.steps, max(1, args.steps // 10)):
        print(f"  step {k:3d}  loss {losses[k]:.4f}  accuracy {accuracies[k]:.0%}")
    final = accuracy(model, X, Y)
    print(
        f"final training accuracy: {final:.1%} ({round(final * len(Y))}/{len(Y)} points), "
        f"loss {losses[-1]:.4f}"
    )

    model_path = out / "moons_model.json"
    model.save(model_path)
    reloaded = nn.MLP(2, [args.hidden, args.hidden, 1], activation="relu").load(model_path)
    reloaded_accuracy = accuracy(reloaded, X, Y)
    print(f"  wrote {model_path} (reloaded: accuracy {reloaded_accuracy:.1%})")

    graph_file = _draw_neuron(model, X, out)
    _plot(model, X, labels, losses, accuracies, final, out)
    tenth = min(max(1, args.steps // 10), args.steps - 1)  # one step: no tenth to compare
    checks = look_for(
        f"the black line, where the score changes sign, bending between the two moons "
        f"({final:.0%} of the points on their side); the loss falls fast, then flattens "
        f"({losses[0]:.3f} -> {losses[tenth]:.3f} in the first {tenth} steps, -> "
        f"{losses[-1]:.3f} in the other {args.steps - tenth}) as fewer points are inside the "
        f"margin (y s < 1: {inside[0]} of {len(X)} at the first step, {inside[-1]} at the last)",
        {
            "the first tenth of the steps lowers the loss more than all the others": (
                losses[0] - losses[tenth] > losses[tenth] - losses[-1]
            ),
            "fewer points inside the margin at the end": inside[-1] < inside[0],
        },
    )
    return {
        "look_for": checks,
        "accuracy": final,
        "losses": losses,
        "accuracies": accuracies,
        "parameters": len(params),
        "model_file": model_path,
        "graph_file": graph_file,
        "reloaded_accuracy": reloaded_accuracy,
    }


def _draw_neuron(model: nn.MLP, X: list[list[float]], out: Path) -> Path:
    """Render the graph of one first-layer neuron on one sample, with d out/d node:
    the first neuron and sample where the relu is active (a dead one shows grads 0)."""
    with no_grad():
        neuron, x = next(
            ((n, x) for x in X for n in model.layers[0].neurons if n(x).data > 0),
            (model.layers[0].neurons[0], X[0]),
        )
    for i, w in enumerate(neuron.w):
        w.label = f"w{i}"
    neuron.b.label = "b"
    inputs = [Value(xi, label=f"x{i}", requires_grad=False) for i, xi in enumerate(x)]
    model.zero_grad()  # the last training step left gradients behind
    out_value = neuron(inputs)
    out_value.label = "out"
    out_value.backward()
    graph = draw_graph(out_value, format="png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = Path(save_graph(graph, str(out / "neuron_graph.png")))
    for w in caught:
        print(f"  note: {w.message}")
    model.zero_grad()
    print(
        f"  wrote {path} (one hidden neuron, relu(w . x + b), on sample x = "
        f"({x[0]:.2f}, {x[1]:.2f}))"
    )
    return path


def _plot(model, X, labels, losses, accuracies, final: float, out: Path) -> None:
    plt = pyplot()
    xa = np.array(X)
    x_min, x_max = xa[:, 0].min() - 1, xa[:, 0].max() + 1
    y_min, y_max = xa[:, 1].min() - 1, xa[:, 1].max() + 1
    xx, yy = np.meshgrid(np.arange(x_min, x_max, 0.05), np.arange(y_min, y_max, 0.05))
    zz = grid_outputs(model, xx, yy)

    fig, (ax, ax_loss) = plt.subplots(
        1, 2, figsize=(11.5, 4.6), gridspec_kw={"width_ratios": [1.2, 1]}
    )
    ax.contourf(xx, yy, zz > 0, cmap="Spectral", alpha=0.8)
    ax.contour(xx, yy, zz, levels=[0], colors="black", linewidths=1)
    ax.scatter(xa[:, 0], xa[:, 1], c=labels, s=30, cmap="Spectral", edgecolors="black")
    ax.set(
        xlim=(xx.min(), xx.max()),
        ylim=(yy.min(), yy.max()),
        xlabel="x₀",
        ylabel="x₁",
        title=f"decision boundary, training accuracy {final:.0%}",
    )
    ax_loss.plot(losses, color="tab:blue", label="loss (hinge + L2)")
    ax_loss.set(xlabel="step", ylabel="loss", title="training")
    ax_acc = ax_loss.twinx()
    ax_acc.plot(accuracies, color="tab:green", label="accuracy")
    ax_acc.set_ylabel("training accuracy")
    ax_acc.set_ylim(0.4, 1.02)
    lines = ax_loss.get_lines() + ax_acc.get_lines()
    ax_loss.legend(lines, [line.get_label() for line in lines], loc="center right")
    fig.tight_layout()
    save(fig, out, "moons")
