"""Eager engine benchmark: time and memory per graph node, against micrograd.

Three workloads, each built and differentiated by tapegrad and (when installed) by
micrograd 0.1.0 in the same run, with Python's cyclic garbage collector on (what
users get) and off:

  chain  y = relu(y * 0.999 + 0.001), 300 deep, repeated
  wide   a random expression of + and * over 64 inputs, 12 levels of 2,000 nodes,
         summed by a balanced tree
  dense  a 64 -> 64 dense layer with relu (tapegrad: one Value.dot node per neuron;
         micrograd: its own Neuron, a sum of products)

Time is forward + backward per node; memory is what the built graph holds per node
(tracemalloc). Ratios are micrograd / tapegrad: above 1 means tapegrad is better.
Run: python benchmarks/engine.py [--repeat N]
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import random
import sys
import time
import tracemalloc
from operator import add, mul

# Run from a checkout without installing: the packages sit beside benchmarks/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tapegrad import Value

try:
    from micrograd.engine import Value as MicroValue
except ImportError:
    MicroValue = None


def chain(V, chains=60, depth=300):
    """Several chains of mul-by-number, add-number, relu."""
    roots = []
    for _ in range(chains):
        y = V(0.5)
        for _ in range(depth):
            y = (y * 0.999 + 0.001).relu()
        roots.append(y)
    return roots


def _tree_sum(nodes):
    while len(nodes) > 1:
        pairs = [a + b for a, b in zip(nodes[::2], nodes[1::2])]
        nodes = pairs + nodes[len(pairs) * 2 :]
    return nodes[0]


@functools.cache
def _wide_pairs(width: int, levels: int, seed: int) -> tuple:
    """The random inputs and, per level, the indices of the pairs to combine."""
    rng = random.Random(seed)
    inputs = [rng.uniform(0.9, 1.1) for _ in range(64)]
    pairs, n = [], len(inputs)
    for _ in range(levels):
        pairs.append(
            ([rng.randrange(n) for _ in range(width)], [rng.randrange(n) for _ in range(width)])
        )
        n = width
    return inputs, pairs


def wide(V, width=2000, levels=12, seed=0):
    """Each level: random pairs of the previous level, half multiplied, half added.

    The pairs are drawn once, outside the timing, and combined with ``map``, so the
    harness costs almost nothing next to the engines.
    """
    inputs, pairs = _wide_pairs(width, levels, seed)
    layer = [V(x) for x in inputs]
    half = width // 2
    for left, right in pairs:
        a = list(map(layer.__getitem__, left))
        b = list(map(layer.__getitem__, right))
        layer = list(map(mul, a[:half], b[:half])) + list(map(add, a[half:], b[half:]))
    return [_tree_sum(layer)]


def dense(V, layers=30, width=64, seed=0):
    """Independent 64 -> 64 relu layers over the same inputs."""
    rng = random.Random(seed)
    xs = [V(rng.uniform(-1, 1)) for _ in range(width)]
    weights = [
        [[V(rng.uniform(-0.1, 0.1)) for _ in range(width)] for _ in range(width)]
        for _ in range(layers)
    ]
    biases = [[V(0.0) for _ in range(width)] for _ in range(layers)]
    roots = []
    for W, B in zip(weights, biases):
        if V is Value:
            outs = [Value.dot(w, xs, b).relu() for w, b in zip(W, B)]
        else:  # micrograd's Neuron: sum((wi * xi for wi, xi in zip(w, x)), b)
            outs = [sum((wi * xi for wi, xi in zip(w, xs)), b).relu() for w, b in zip(W, B)]
        roots.append(_tree_sum(outs))
    return roots


def count_nodes(roots) -> int:
    """Non-leaf nodes (operations) behind the roots, for either engine."""
    seen, stack, operations = set(), list(roots), 0
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        operations += bool(v._prev)
        stack.extend(v._prev)
    return operations


def time_per_node(workload, engines, collector: bool, repeat: int) -> dict:
    """Per engine: (best of ``repeat`` seconds of forward + backward per node, nodes).

    The engines take turns within each repetition, so that a slow spell of a shared
    machine falls on all of them alike instead of on one engine's runs.
    """
    best = {name: (float("inf"), 0) for name, _ in engines}
    for _ in range(repeat):
        for name, V in engines:
            gc.collect()
            gc.enable() if collector else gc.disable()
            start = time.perf_counter()
            roots = workload(V)
            for r in roots:
                r.backward()
            elapsed = time.perf_counter() - start
            gc.enable()
            nodes = count_nodes(roots)
            del roots
            best[name] = min(best[name], (elapsed / nodes, nodes))
    return best


def bytes_per_node(workload, V) -> float:
    """Memory the built graph holds (leaves included), per operation node."""
    gc.collect()
    gc.disable()
    tracemalloc.start()
    roots = workload(V)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gc.enable()
    return held / count_nodes(roots)


def deepest_chain(V, depth: int) -> str:
    y = x = V(0.5)
    for _ in range(depth):
        y = y * 1.0
    try:
        y.backward()
    except RecursionError:
        return "RecursionError"
    return "ok" if x.grad == 1.0 else f"wrong gradient {x.grad}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best)")
    args = parser.parse_args()

    engines = [("tapegrad", Value)] + ([("micrograd", MicroValue)] if MicroValue else [])
    if MicroValue is None:
        print("micrograd is not installed (pip install micrograd==0.1.0): tapegrad only")
    repeat_on = max(1, args.repeat - 2)  # with the collector on, micrograd is slow
    print(
        f"Python {sys.version.split()[0]}; best of {args.repeat} runs with the collector "
        f"off, {repeat_on} with it on; the engines take turns\n"
    )
    header = f"{'workload':<8} {'engine':<10} {'ops':>8} {'ns/op gc off':>13} {'ns/op gc on':>12} {'B/op':>7}"
    print(header)
    print("-" * len(header))
    results = {}
    for name, workload in (("chain", chain), ("wide", wide), ("dense", dense)):
        workload(Value)  # untimed: fills the workload's caches (the wide pairs)
        gc_off = time_per_node(workload, engines, collector=False, repeat=args.repeat)
        gc_on = time_per_node(workload, engines, collector=True, repeat=repeat_on)
        for engine, V in engines:
            (off, nodes), (on, _) = gc_off[engine], gc_on[engine]
            mem = bytes_per_node(workload, V)
            results[name, engine] = (off * nodes, on * nodes, mem * nodes)
            print(
                f"{name:<8} {engine:<10} {nodes:>8} {off * 1e9:>13.0f} {on * 1e9:>12.0f} {mem:>7.0f}"
            )

    if MicroValue:
        print("\nmicrograd / tapegrad for the same workload (above 1: tapegrad is better)")
        print(f"{'workload':<8} {'time, gc off':>13} {'time, gc on':>12} {'memory':>8}")
        for name in ("chain", "wide", "dense"):
            t, m = results[name, "tapegrad"], results[name, "micrograd"]
            print(f"{name:<8} {m[0] / t[0]:>12.1f}x {m[1] / t[1]:>11.1f}x {m[2] / t[2]:>7.1f}x")

    print("\nbackward through a chain, default recursion limit:")
    for engine, V in engines:
        for depth in (2_000, 1_000_000) if V is Value else (2_000,):
            print(f"  {engine:<10} {depth:>9,} deep: {deepest_chain(V, depth)}")


if __name__ == "__main__":
    main()
