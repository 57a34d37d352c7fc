"""micrograd's two-moons training step in tapegrad eager mode, micrograd and PyTorch.

The workload of micrograd's demo notebook: an MLP 2-16-16-1 (ReLU hidden layers,
linear output) on 100 noisy moons points with labels -1/+1, loss
mean(relu(1 - y * score)) + 1e-4 * sum(p * p), full batch, plain SGD with
lr = 1 - 0.9 k / 100 at step k. Every framework starts from the same weights and
data, so their losses must agree; the table gives milliseconds per step and how many
times faster tapegrad is. micrograd runs with Python's cyclic garbage collector on
(its default: a closure per node makes every node a reference cycle) and off.
Times are CPU time of this process (``time.process_time``; torch is limited to one
thread), so other work on a shared machine does not inflate them.

    python benchmarks/moons.py [--steps 10] [--rounds 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tapegrad import nn
from tapegrad.nn import functional as F

ALPHA = 1e-4


def learning_rate(k: int) -> float:
    return 1.0 - 0.9 * k / 100


def run_tapegrad(model: nn.MLP, X: list, Y: list, steps: int) -> tuple[list[float], float]:
    """Train ``steps`` steps; (losses, CPU seconds for all steps)."""
    losses = []
    start = time.process_time()
    for k in range(steps):
        params = model.parameters()  # every step, as micrograd's loop does
        scores = [model(x) for x in X]
        loss = F.hinge_loss(scores, Y) + ALPHA * F.l2_penalty(params)
        model.zero_grad()
        loss.backward()
        lr = learning_rate(k)
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
    return losses, time.process_time() - start


def run_micrograd(weights: list[float], X: list, Y: list, steps: int) -> tuple[list[float], float]:
    """The demo notebook's loop, verbatim apart from the shared initial weights."""
    from micrograd.engine import Value
    from micrograd.nn import MLP

    model = MLP(2, [16, 16, 1])
    for p, w in zip(model.parameters(), weights):
        p.data = w
    losses = []
    start = time.process_time()
    for k in range(steps):
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        data_loss = sum((1 + -yi * si).relu() for yi, si in zip(Y, scores)) * (1.0 / len(Y))
        reg_loss = ALPHA * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        lr = learning_rate(k)
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(total_loss.data)
    return losses, time.process_time() - start


def run_torch(model: nn.MLP, X: list, Y: list, steps: int) -> tuple[list[float], float]:
    """The same step on float64 tensors, with the weights copied from ``model``."""
    import torch

    params = []
    for layer in model.layers:
        params.append(
            torch.tensor(
                [[w.data for w in n.w] for n in layer.neurons],
                dtype=torch.float64,
                requires_grad=True,
            )
        )
        params.append(
            torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        )
    Xt = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(Y, dtype=torch.float64)
    losses = []
    start = time.process_time()
    for k in range(steps):
        h = Xt
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i + 2 < len(params):
                h = torch.relu(h)
        loss = torch.relu(1 - Yt * h[:, 0]).mean() + ALPHA * sum((p * p).sum() for p in params)
        for p in params:
            p.grad = None
        loss.backward()
        lr = learning_rate(k)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
        losses.append(loss.item())
    return losses, time.process_time() - start


def timed(run, steps: int, gc_on: bool = True) -> tuple[list[float], float]:
    """Run one warm-up step, then ``steps`` timed steps; (losses, ms per step)."""
    run(1)
    gc.collect()
    was_enabled = gc.isenabled()
    if not gc_on:
        gc.disable()
    try:
        losses, seconds = run(steps)
    finally:
        if was_enabled:
            gc.enable()
    return losses, 1000 * seconds / steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (best is kept)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and weights")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be at least 1")

    X, y = nn.data.make_moons(100, noise=0.1, seed=args.seed)
    Y = [2 * t - 1 for t in y]

    def fresh_model() -> nn.MLP:
        return nn.MLP(2, [16, 16, 1], seed=args.seed)

    weights = [p.data for p in fresh_model().parameters()]  # for micrograd

    def tapegrad_steps(n: int) -> tuple[list[float], float]:
        return run_tapegrad(fresh_model(), X, Y, n)

    def micrograd_steps(n: int) -> tuple[list[float], float]:
        return run_micrograd(weights, X, Y, n)

    # label -> (run, collector on, rounds)
    frameworks = {
        "tapegrad eager": (tapegrad_steps, True, args.rounds),
        "tapegrad eager (gc off)": (tapegrad_steps, False, args.rounds),
    }
    try:
        import micrograd  # noqa: F401
    except ImportError:
        print("micrograd not installed: skipped")
    else:
        frameworks["micrograd (gc off)"] = (micrograd_steps, False, args.rounds)
        # A step takes seconds with its collector on: one round is enough to show it.
        frameworks["micrograd (gc on)"] = (micrograd_steps, True, 1)

    # The frameworks take turns, round after round, and each keeps its best round: a
    # slow spell of a shared machine then falls on all of them alike.
    results: dict[str, tuple[list[float], float]] = {}
    for r in range(args.rounds):
        for label, (run, gc_on, rounds) in frameworks.items():
            if r < rounds:
                losses, ms = timed(run, args.steps, gc_on)
                if label not in results or ms < results[label][1]:
                    results[label] = (losses, ms)
    # PyTorch last: importing it adds a great many objects that every full collection
    # of the cyclic collector then walks, which would slow the others' collector-on runs.
    try:
        import torch
    except ImportError:
        print("torch not installed: skipped")
    else:
        torch.set_num_threads(1)  # tiny tensors: extra threads only add contention
        results["torch float64 eager"] = min(
            (
                timed(lambda n: run_torch(fresh_model(), X, Y, n), args.steps)
                for _ in range(args.rounds)
            ),
            key=lambda result: result[1],
        )

    reference, base_ms = results["tapegrad eager"]
    print(
        f"moons step: MLP 2-16-16-1, 100 samples, hinge + {ALPHA:g} L2, full batch, "
        f"seed {args.seed}; best of {args.rounds} rounds of {args.steps} timed steps"
    )
    print(
        f"{'framework':<24} {'ms/step':>10} {'time / tapegrad':>16} {'final loss':>12} "
        f"{'max |loss diff|':>16}"
    )
    for label, (losses, ms) in results.items():
        diff = max(abs(a - b) for a, b in zip(losses, reference))
        print(f"{label:<24} {ms:>10.2f} {ms / base_ms:>15.2f}x {losses[-1]:>12.6f} {diff:>16.1e}")
    if "micrograd (gc off)" in results:
        micrograd_ms = results["micrograd (gc off)"][1]
        print(
            f"tapegrad eager is {micrograd_ms / base_ms:.1f}x faster than micrograd with "
            f"its collector off, {micrograd_ms / results['tapegrad eager (gc off)'][1]:.1f}x "
            "with both collectors off (goal: at least 10x)"
        )


if __name__ == "__main__":
    main()
