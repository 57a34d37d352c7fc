"""Compiled mode against eager mode, PyTorch, JAX, hand-written NumPy and micrograd.

Three training steps (forward, backward, SGD update), every framework starting from
the same weights and data, so their first losses must agree:

  (a) micrograd's moons step: MLP 2-16-16-1 (ReLU), 100 two-moons points, labels
      -1/+1, loss mean(relu(1 - y * score)) + 1e-4 * sum(p * p), full batch;
  (b) MLP 64-16-16-10 on a batch of 32, softmax cross-entropy;
  (c) the digit network of article 002, MLP 784-16-16-10, on a batch of 64 (28x28 inputs), cross-entropy.

Rows: tapegrad eager (optim.SGD); tapegrad compiled (optim.SGD on
``train_step.flat()``, the parameters in one NumPy vector: the training loop a user
writes); the same with optim.SGD on the Values (p.data read, p.grad written and each
float updated at every step); the per-Value call alone (forward + backward, no
optimizer); compiled ``value_and_grad`` with a NumPy SGD update (no optimizer object:
the cost of the compiled kernels themselves); PyTorch eager float64
(torch.optim.SGD); JAX jit float64 on the CPU (forward, backward and update in one
jitted function); hand-written NumPy; micrograd (only (a), cyclic GC off). PyTorch,
JAX and micrograd are skipped when missing.

Times are CPU time of this process (``time.process_time``): on a shared machine they
stay meaningful where wall time counts the waits for a core. PyTorch runs on one
thread (``torch.set_num_threads(1)``), its fastest setting for these small float64
operations. Fast rows report the median of many steps, slow ones the mean of a few;
the rows of a workload are measured in turn, ``--rounds`` times, and each keeps its
best round (the machine's load changes between rounds, not within a row).
The last lines give the ratios of the issue's table: compiled / NumPy by hand and
compiled / JAX jit on each workload.

``--compile-time`` prints instead the time of the first call (trace, schedule and
generate) for a 784-256-128-10 MLP, best of two, and per parameter.

    python benchmarks/compiled.py [--budget 0.5] [--rounds 3] [--seed 0] [--compile-time]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tapegrad
from tapegrad import nn, optim
from tapegrad.nn import functional as F

LR = 0.05
ALPHA = 1e-4


@dataclass
class Workload:
    key: str
    title: str
    sizes: list[int]
    X: np.ndarray
    y: np.ndarray  # -1/+1 for the hinge loss, class indices for cross-entropy
    hinge: bool

    def weights(self, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(W, b) per layer, W of shape (out, in), from nn.MLP's initialisation."""
        model = nn.MLP(self.sizes[0], self.sizes[1:], seed=seed)
        return [
            (
                np.array([[w.data for w in n.w] for n in layer.neurons]),
                np.array([n.b.data for n in layer.neurons]),
            )
            for layer in model.layers
        ]


def workloads(seed: int) -> list[Workload]:
    rng = np.random.default_rng(seed)
    X, y = nn.data.make_moons(100, noise=0.1, seed=seed)
    return [
        Workload(
            "a",
            "moons step: MLP 2-16-16-1, 100 samples, hinge + 1e-4 L2, full batch",
            [2, 16, 16, 1],
            np.array(X),
            2.0 * np.array(y) - 1.0,
            True,
        ),
        Workload(
            "b",
            "MLP 64-16-16-10, batch 32, softmax cross-entropy",
            [64, 16, 16, 10],
            rng.normal(size=(32, 64)),
            rng.integers(0, 10, 32),
            False,
        ),
        Workload(
            "c",
            "MLP 784-16-16-10 (28x28 inputs), batch 64, cross-entropy",
            [784, 16, 16, 10],
            rng.random((64, 784)),
            rng.integers(0, 10, 64),
            False,
        ),
    ]


# --- tapegrad ------------------------------------------------------------------------


def _model(w: Workload, weights) -> nn.MLP:
    model = nn.MLP(w.sizes[0], w.sizes[1:])
    for layer, (W, b) in zip(model.layers, weights):
        for neuron, row, bias in zip(layer.neurons, W, b):
            for p, v in zip(neuron.w, row):
                p.data = float(v)
            neuron.b.data = float(bias)
    return model


def _sample_loss(w: Workload, model: nn.MLP) -> tuple[Callable, dict]:
    """The per-sample loss a user compiles, and its labels."""
    params = model.parameters()
    if w.hinge:
        return (
            lambda x, t: F.hinge_loss(model(x), [t]) + ALPHA * F.l2_penalty(params),
            {1: (-1, 1)},
        )
    return lambda x, t: F.cross_entropy([model(x)], [t]), {1: range(w.sizes[-1])}


def _compiled(w: Workload, weights) -> tuple[nn.MLP, tapegrad.Compiled]:
    """A model with the shared weights and its compiled per-sample loss."""
    model = _model(w, weights)
    fn, labels = _sample_loss(w, model)
    return model, tapegrad.compile(fn, model.parameters(), labels=labels)


def tapegrad_eager(w: Workload, weights) -> Callable[[], float]:
    model = _model(w, weights)
    params = model.parameters()
    opt = optim.SGD(params, lr=LR)
    X, y = w.X.tolist(), [int(t) for t in w.y]

    def step() -> float:
        outputs = [model(x) for x in X]
        if w.hinge:
            loss = F.hinge_loss(outputs, y) + ALPHA * F.l2_penalty(params)
        else:
            loss = F.cross_entropy(outputs, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.data

    return step


def _compiled_sgd(w: Workload, weights, flat: bool) -> Callable[[], float]:
    """A compiled training step with optim.SGD over the flat vector or the Values."""
    model, train_step = _compiled(w, weights)
    opt = optim.SGD([train_step.flat()] if flat else model.parameters(), lr=LR)

    def step() -> float:
        opt.zero_grad()
        loss = train_step(w.X, w.y)
        opt.step()
        return loss

    return step


def tapegrad_compiled(w: Workload, weights) -> Callable[[], float]:
    return _compiled_sgd(w, weights, flat=True)


def tapegrad_compiled_values(w: Workload, weights) -> Callable[[], float]:
    return _compiled_sgd(w, weights, flat=False)


def tapegrad_compiled_call(w: Workload, weights) -> Callable[[], float]:
    _, train_step = _compiled(w, weights)
    return lambda: train_step(w.X, w.y)


def tapegrad_compiled_arrays(w: Workload, weights) -> Callable[[], float]:
    model, train_step = _compiled(w, weights)
    theta = np.array([p.data for p in model.parameters()])

    def step() -> float:
        loss, g = train_step.value_and_grad(theta, w.X, w.y)
        theta[:] -= LR * g
        return loss

    return step


# --- baselines -----------------------------------------------------------------------


def torch_eager(w: Workload, weights) -> Callable[[], float]:
    import torch

    torch.set_num_threads(1)
    params = []
    for W, b in weights:
        params += [
            torch.tensor(W, dtype=torch.float64, requires_grad=True),
            torch.tensor(b, dtype=torch.float64, requires_grad=True),
        ]
    opt = torch.optim.SGD(params, lr=LR)
    X = torch.tensor(w.X, dtype=torch.float64)
    y = torch.tensor(w.y, dtype=torch.float64 if w.hinge else torch.long)

    def step() -> float:
        h = X
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i + 2 < len(params):
                h = torch.relu(h)
        if w.hinge:
            loss = torch.relu(1 - y * h[:, 0]).mean() + ALPHA * sum((p * p).sum() for p in params)
        else:
            loss = torch.nn.functional.cross_entropy(h, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def jax_jit(w: Workload, weights) -> Callable[[], float]:
    """The same step as one jitted JAX function, float64, on the CPU."""
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platform_name", "cpu")
    import jax.numpy as jnp

    n = len(w.X)

    def loss_fn(params, X, y):
        h = X
        for i in range(0, len(params), 2):
            h = h @ params[i].T + params[i + 1]
            if i + 2 < len(params):
                h = jax.nn.relu(h)
        if w.hinge:
            penalty = sum(jnp.sum(p * p) for p in params)
            return jnp.mean(jax.nn.relu(1.0 - y * h[:, 0])) + ALPHA * penalty
        return jnp.mean(jax.nn.logsumexp(h, axis=1) - h[jnp.arange(n), y])

    @jax.jit
    def update(params, X, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, y)
        return loss, [p - LR * g for p, g in zip(params, grads)]

    state = [[jnp.asarray(a, dtype=jnp.float64) for W, b in weights for a in (W, b)]]
    X = jnp.asarray(w.X, dtype=jnp.float64)
    y = jnp.asarray(w.y, dtype=jnp.float64 if w.hinge else jnp.int64)

    def step() -> float:
        loss, state[0] = update(state[0], X, y)
        return float(loss)  # waits for the result

    return step


def numpy_by_hand(w: Workload, weights) -> Callable[[], float]:
    """Forward, backward and SGD written out for this network and loss."""
    params = [a.copy() for W, b in weights for a in (W, b)]
    X, y, n = w.X, w.y, len(w.X)
    onehot = None if w.hinge else np.eye(w.sizes[-1])[y.astype(int)]

    def step() -> float:
        acts, pre = [X], []
        for i in range(0, len(params), 2):
            z = acts[-1] @ params[i].T + params[i + 1]
            pre.append(z)
            acts.append(np.maximum(z, 0.0) if i + 2 < len(params) else z)
        out = acts[-1]
        if w.hinge:
            margin = 1.0 - y * out[:, 0]
            loss = np.maximum(margin, 0.0).mean() + ALPHA * sum((p * p).sum() for p in params)
            dz = ((margin > 0.0) * (-y / n))[:, None]
        else:
            shifted = out - out.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            total = e.sum(axis=1, keepdims=True)
            loss = (np.log(total[:, 0]) - (shifted * onehot).sum(axis=1)).mean()
            dz = (e / total - onehot) / n
        grads = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            grads[i], grads[i + 1] = dz.T @ acts[i // 2], dz.sum(axis=0)
            if i:
                dz = (dz @ params[i]) * (pre[i // 2 - 1] > 0.0)
        decay = 2.0 * ALPHA if w.hinge else 0.0
        for p, g in zip(params, grads):
            p -= LR * (g + decay * p)
        return float(loss)

    return step


def micrograd_step(w: Workload, weights) -> Callable[[], float]:
    """micrograd's demo-notebook step, with the shared weights."""
    from micrograd.engine import Value
    from micrograd.nn import MLP

    model = MLP(w.sizes[0], w.sizes[1:])
    flat = [v for W, b in weights for row, bias in zip(W, b) for v in (*row, bias)]
    for p, v in zip(model.parameters(), flat):
        p.data = float(v)
    X, y = w.X.tolist(), w.y.tolist()

    def step() -> float:
        scores = [model(list(map(Value, x))) for x in X]
        data_loss = sum((1 + -yi * si).relu() for yi, si in zip(y, scores)) * (1.0 / len(y))
        total = data_loss + ALPHA * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        for p in model.parameters():
            p.data -= LR * p.grad
        return total.data

    return step


# --- measuring -----------------------------------------------------------------------


def measure(step: Callable[[], float], budget: float, gc_off: bool) -> tuple[float, float]:
    """(CPU ms per step, loss of the first step): median of many steps if they are
    fast, mean of the steps that fit in ``budget`` seconds (at least 2) otherwise."""
    first = step()
    for _ in range(2):  # warm up caches and lazy initialisation
        step()
    gc.collect()
    enabled = gc.isenabled()
    if gc_off:
        gc.disable()
    try:
        times: list[float] = []
        start = time.process_time()
        while len(times) < 2 or (time.process_time() - start < budget and len(times) < 2000):
            t = time.process_time()
            step()
            times.append(time.process_time() - t)
    finally:
        if enabled:
            gc.enable()
    typical = statistics.median(times) if len(times) >= 20 else statistics.fmean(times)
    return 1000.0 * typical, first


ROWS = [  # label, factory, workloads it runs on, needs
    ("tapegrad eager", tapegrad_eager, "abc", None),
    ("tapegrad compiled", tapegrad_compiled, "abc", None),
    ("  compiled, optim on Values", tapegrad_compiled_values, "abc", None),
    ("  compiled call alone (Values)", tapegrad_compiled_call, "abc", None),
    ("  compiled, arrays + NumPy SGD", tapegrad_compiled_arrays, "abc", None),
    ("PyTorch eager float64", torch_eager, "abc", "torch"),
    ("JAX jit float64", jax_jit, "abc", "jax"),
    ("NumPy by hand", numpy_by_hand, "abc", None),
    ("micrograd (gc off)", micrograd_step, "a", "micrograd"),
]
GOALS = [  # (baseline row, largest allowed ratio compiled / baseline), on every workload
    ("NumPy by hand", 1.25),
    ("JAX jit float64", 1.0),
    ("PyTorch eager float64", 1.0),
]


def compile_time(sizes: list[int], seed: int) -> None:
    """CPU seconds of the first call of a compiled cross-entropy step (best of two)."""
    model = nn.MLP(sizes[0], sizes[1:], seed=seed)
    rng = np.random.default_rng(seed)
    X, y = rng.random((8, sizes[0])), np.arange(8) % sizes[-1]
    best = float("inf")
    for _ in range(2):
        step = tapegrad.compile(
            lambda x, t: F.cross_entropy([model(x)], [t]),
            model.parameters(),
            labels={1: range(sizes[-1])},
        )
        start = time.process_time()
        step(X, y)
        best = min(best, time.process_time() - start)
    n = len(model.parameters())
    print(f"compile time, MLP {'-'.join(map(str, sizes))} ({n:,} parameters): ", end="")
    print(f"{best:.2f} s, {1e6 * best / n:.1f} us per parameter")


def available(module: str | None) -> bool:
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.5, help="CPU seconds per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each row keeps its best")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and weights")
    parser.add_argument("--compile-time", action="store_true", help="time compiling instead")
    args = parser.parse_args(argv)
    if args.compile_time:
        compile_time([784, 256, 128, 10], args.seed)
        return
    ratios: dict[str, dict[str, float]] = {}
    for w in workloads(args.seed):
        weights = w.weights(args.seed)
        print(f"\n({w.key}) {w.title}")
        print(f"{'':<32} {'ms/step':>9} {'compiled faster by':>19} {'first loss':>12}")
        steps, firsts, best = {}, {}, {}
        for label, factory, keys, needs in ROWS:
            if w.key not in keys:
                continue
            if not available(needs):
                print(f"{label:<32} {'skipped: ' + str(needs) + ' is not installed':>42}")
                continue
            steps[label] = factory(w, weights)
        for _ in range(args.rounds):
            for label, step in steps.items():
                ms, first = measure(step, args.budget, gc_off="micrograd" in label)
                firsts.setdefault(label, first)
                best[label] = min(ms, best.get(label, ms))
        compiled_ms = best["tapegrad compiled"]
        for label, ms in best.items():
            print(f"{label:<32} {ms:>9.3f} {ms / compiled_ms:>18.2f}x {firsts[label]:>12.9f}")
        ratios[w.key] = {}
        for baseline, limit in GOALS:
            if baseline in best:
                ratio = compiled_ms / best[baseline]
                ratios[w.key][baseline] = ratio
                verdict = "met" if ratio <= limit else "NOT met"
                print(f"goal tapegrad compiled <= {limit:g} x {baseline}: {ratio:.2f} x, {verdict}")
    print("\ntapegrad compiled (flat() + optim.SGD) / baseline, CPU time, best round:")
    for baseline, _ in GOALS:
        cells = [f"({k}) {r[baseline]:.2f}x" for k, r in ratios.items() if baseline in r]
        if cells:
            print(f"  / {baseline:<22} " + "  ".join(cells))


if __name__ == "__main__":
    main()
