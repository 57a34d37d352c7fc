"""The Hessian at a minimum, its eigenvalues, and gradient descent just below and above 2/lambda_max."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tapegrad import Value, grad, hessian, nn, optim

from ._common import look_for, progress, pyplot, save
from .optimizers import START, f


def bowl(xy: Sequence[Value]) -> Value:
    """Article 001's test function f(x, y) = x^2/20 + y^2, from the optimizers demo, on a
    list of Values: Hessian diag(1/10, 2) everywhere."""
    return f(*xy)


def neuron_loss(theta: Sequence[Value], X: Sequence[Sequence[float]], y: Sequence[int]) -> Value:
    """Cross-entropy of one sigmoid neuron p = sigmoid(w1 x1 + w2 x2 + b) (logistic
    regression), theta = (w1, w2, b): a convex loss, so its Hessian is positive
    semi-definite everywhere."""
    w1, w2, b = theta
    logits = [Value.dot([w1, w2], x, b) for x in X]
    return nn.functional.binary_cross_entropy_with_logits(logits, y)


def neuron_data(samples: int, seed: int) -> tuple[list[list[float]], list[int]]:
    """The two moons the neuron is fitted to (noise 0.1)."""
    return nn.data.make_moons(samples, noise=0.1, seed=seed)


def gradient_descent(
    f: Callable[[list[Value]], Value], start: Sequence[float], lr: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """x_{k+1} = x_k - lr * grad f(x_k): the visited points and their losses.

    Stops early once the loss is beyond 1e12 (it has diverged)."""
    x = [float(v) for v in start]
    points, losses = [], []
    for _ in range(steps + 1):
        xs = [Value(v) for v in x]
        loss = f(xs)
        points.append(list(x))
        losses.append(loss.data)
        if not loss.data < 1e12:
            break
        x = [v - lr * g for v, g in zip(x, grad(loss, xs))]
    return np.array(points), np.array(losses)


def newton_minimum(
    f: Callable[[list[Value]], Value], n: int, tol: float = 1e-12
) -> tuple[list[float], int]:
    """Newton's method from the origin until the gradient vanishes: the minimum of a
    convex f and the number of steps taken."""
    theta = [Value(0.0) for _ in range(n)]
    newton = optim.Newton(theta)
    for steps in range(1, 51):
        newton.step(lambda: f(theta))
        if max(abs(g) for g in grad(f(theta), theta)) < tol:
            break
    return [p.data for p in theta], steps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--steps",
        type=int,
        default=40,
        help="gradient-descent steps on the bowl (default: %(default)s)",
    )
    parser.add_argument(
        "--neuron-steps",
        type=int,
        default=200,
        help="gradient-descent steps on the neuron (default: %(default)s)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=0.05,
        help="run GD at (1 -/+ margin) * 2/lambda_max (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=100,
        help="two-moons samples the neuron is fitted to (default: %(default)s)",
    )


def run(args: argparse.Namespace, out: Path) -> dict:
    below, above = 1 - args.margin, 1 + args.margin

    print("1. article 001's bowl f(x, y) = x^2/20 + y^2, from (-7, 2)")
    h_bowl = np.array(hessian(bowl, START))
    eig_bowl = np.linalg.eigvalsh(h_bowl)
    lr_bowl = optim.largest_stable_lr(bowl, START)
    print(f"  Hessian {h_bowl.tolist()}, eigenvalues {eig_bowl.tolist()}: positive definite")
    print(f"  largest stable learning rate 2/lambda_max = {lr_bowl:.6g}")
    path_lo, loss_lo = gradient_descent(bowl, START, below * lr_bowl, args.steps)
    path_hi, loss_hi = gradient_descent(bowl, START, above * lr_bowl, args.steps)
    print(
        f"  GD at {below:.2f} x that: f {loss_lo[0]:.3g} -> {loss_lo[-1]:.3g}; "
        f"at {above:.2f} x: -> {loss_hi[-1]:.3g}"
    )

    print("2. one sigmoid neuron (logistic regression) on two moons, cross-entropy loss")
    X, y = neuron_data(args.samples, args.seed)
    loss_fn = lambda theta: neuron_loss(theta, X, y)
    theta, newton_steps = newton_minimum(loss_fn, 3)
    loss_min = loss_fn([Value(t) for t in theta]).data
    h_net = np.array(hessian(loss_fn, theta))
    eig_net, vec_net = np.linalg.eigh(h_net)
    definite = bool(eig_net[0] > 0)
    lr_net = optim.largest_stable_lr(loss_fn, theta)
    print(
        f"  minimum: w = ({theta[0]:.4f}, {theta[1]:.4f}), b = {theta[2]:.4f}, "
        f"loss {loss_min:.6f}, found by {newton_steps} Newton steps from 0"
    )
    print(
        f"  Hessian eigenvalues {np.array2string(eig_net, precision=4)}: "
        f"{'positive definite, a strict minimum' if definite else 'NOT positive definite'}"
    )
    print(f"  largest stable learning rate 2/lambda_max = {lr_net:.4g}")
    # Start a little off the minimum along the steepest direction, the one whose
    # stability the step size decides (the others are stable either way).
    start = np.array(theta) + 0.1 * vec_net[:, -1]
    runs = {}
    for factor in progress((below, above), "gradient descent on the neuron"):
        _, losses = gradient_descent(loss_fn, start, factor * lr_net, args.neuron_steps)
        runs[factor] = losses - loss_min
    print(
        f"  GD at {below:.2f} x: excess loss {runs[below][0]:.2e} -> {runs[below][-1]:.2e}; "
        f"at {above:.2f} x: -> {runs[above][-1]:.2e}"
    )

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    ax = axes[0]
    gx, gy = np.meshgrid(np.linspace(-8, 3, 200), np.linspace(-4, 4, 200))
    ax.contour(gx, gy, f(gx, gy), levels=np.geomspace(0.05, 20, 12), colors="0.75", linewidths=0.8)
    ax.plot(
        path_lo[:, 0],
        path_lo[:, 1],
        "o-",
        ms=3,
        lw=1,
        color="tab:blue",
        label=f"lr = {below:.2f} x 2/λmax: converges",
    )
    outside = np.flatnonzero(np.abs(path_hi[:, 1]) > 4)
    shown = path_hi[: outside[0] + 1] if len(outside) else path_hi  # up to where it leaves
    ax.plot(
        shown[:, 0],
        shown[:, 1],
        "o-",
        ms=3,
        lw=1,
        color="tab:red",
        label=f"lr = {above:.2f} x 2/λmax: diverges",
    )
    ax.plot(*START, "k*", ms=10)
    ax.set(
        xlim=(-8, 3),
        ylim=(-4, 4),
        xlabel="x",
        ylabel="y",
        title=f"f = x²/20 + y²: H = diag({eig_bowl[0]:g}, {eig_bowl[1]:g}), 2/λmax = {lr_bowl:g}",
    )
    ax.legend(loc="upper right", fontsize=8)

    ax = axes[1]
    ax.semilogy(loss_lo, color="tab:blue", label=f"lr = {below:.2f} x 2/λmax")
    ax.semilogy(loss_hi, color="tab:red", label=f"lr = {above:.2f} x 2/λmax")
    ax.set(xlabel="step", ylabel="f(x, y)", title="the bowl: loss per step")
    ax.legend(fontsize=8)

    ax = axes[2]
    # Below the threshold the excess loss falls to round-off (1e-16 of a loss ~0.3).
    converged = runs[below] > 1e-15
    ax.semilogy(
        np.flatnonzero(converged),
        runs[below][converged],
        color="tab:blue",
        label=f"lr = {below:.2f} x 2/λmax: converges",
    )
    ax.semilogy(
        runs[above], color="tab:red", label=f"lr = {above:.2f} x 2/λmax: bounces, never converges"
    )
    ax.set(
        xlabel="step",
        ylabel="loss - minimum loss",
        title=f"sigmoid neuron: λ(H) = {', '.join(f'{e:.3g}' for e in eig_net)}",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out, "hessian")
    checks = look_for(
        f"just below 2/lambda_max the loss falls (bowl {loss_lo[0]:.3g} -> {loss_lo[-1]:.2g}, "
        f"neuron's excess {runs[below][0]:.1e} -> {runs[below][-1]:.1e}); just above it the "
        "steps overshoot further each time along the steepest direction and the loss grows "
        f"(bowl -> {loss_hi[-1]:.3g}) or never settles (neuron's excess -> "
        f"{runs[above][-1]:.1e})",
        {
            "below 2/lambda_max the bowl's loss falls": loss_lo[-1] < loss_lo[0],
            "above it the bowl's loss grows": loss_hi[-1] > loss_hi[0],
            "below it the neuron's excess loss falls a thousandfold": (
                runs[below][-1] < 1e-3 * runs[below][0]
            ),
            "above it the neuron's excess loss ends no lower than it starts": (
                runs[above][-1] >= runs[above][0]
            ),
            "the neuron's minimum is strict (every Hessian eigenvalue > 0)": definite,
        },
    )

    return {
        "look_for": checks,
        "bowl_hessian": h_bowl.tolist(),
        "bowl_eigenvalues": eig_bowl.tolist(),
        "bowl_lr_max": lr_bowl,
        "bowl_loss_below": loss_lo.tolist(),
        "bowl_loss_above": loss_hi.tolist(),
        "neuron_minimum": theta,
        "neuron_loss_min": loss_min,
        "neuron_newton_steps": newton_steps,
        "neuron_hessian": h_net.tolist(),
        "neuron_eigenvalues": eig_net.tolist(),
        "neuron_positive_definite": definite,
        "neuron_lr_max": lr_net,
        "neuron_excess_below": runs[below].tolist(),
        "neuron_excess_above": runs[above].tolist(),
    }
