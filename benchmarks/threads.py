"""What the engine's one lock costs: backward, grad and topological_order take turns
across threads, even on graphs that share no node.

  (a) one thread: taking and releasing the lock, against the smallest backward pass
      (one product) and a moons-sized one (an MLP 2-16-16-1 on 20 samples);
  (b) two threads, each running backward on its own graph: wall time with the lock,
      and with the lock replaced by one that does nothing (which is safe here only
      because the graphs share no node). With the GIL the two are equal: Python code
      of two threads never runs at once anyway. Without the GIL (free-threaded
      Python) the passes could run side by side, and the lock makes them take turns.

Run: python benchmarks/threads.py [--repeat N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
import timeit

# Run from a checkout without installing: the packages sit beside benchmarks/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tapegrad.nn.functional as F
from tapegrad import Value, nn
from tapegrad.autograd import engine


def moons_loss(seed: int) -> Value:
    """The hinge loss of an MLP 2-16-16-1 on 20 moons points: about 1,300 nodes."""
    model = nn.MLP(2, [16, 16, 1], seed=seed)
    X, y = nn.data.make_moons(20, noise=0.1, seed=seed)
    return F.hinge_loss([model(x) for x in X], [2 * t - 1 for t in y])


def per_pass(fn, number: int, repeat: int) -> float:
    """Best seconds per call of ``fn``."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def two_threads(passes: int) -> float:
    """Wall seconds for two threads each running ``passes`` backward passes over its
    own graph, with whatever lock the engine holds now."""
    losses = [moons_loss(seed) for seed in (0, 1)]
    start = threading.Barrier(3)

    def work(loss: Value) -> None:
        start.wait()
        for _ in range(passes):
            loss.backward()

    threads = [threading.Thread(target=work, args=(loss,)) for loss in losses]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement (best)")
    args = parser.parse_args()
    lock = engine._PASS

    x, y = Value(2.0), Value(3.0)
    product, loss = x * y, moons_loss(0)

    def hold() -> None:
        with lock:
            pass

    held = per_pass(hold, 100_000, args.repeat)
    small = per_pass(product.backward, 20_000, args.repeat)
    large = per_pass(loss.backward, 50, args.repeat)
    print(
        f"Python {sys.version.split()[0]}, GIL {'on' if getattr(sys, '_is_gil_enabled', lambda: True)() else 'off'}"
    )
    print(f"(a) taking and releasing the lock: {held * 1e9:.0f} ns")
    print(
        f"    backward of one product:        {small * 1e6:.2f} us (the lock: {held / small:.1%})"
    )
    print(
        f"    backward of the moons loss:      {large * 1e3:.2f} ms (the lock: {held / large:.4%})"
    )

    with_lock, without = [], []
    for _ in range(args.repeat):  # the two take turns, so that a slow spell hits both
        engine._PASS = lock
        with_lock.append(two_threads(20))
        engine._PASS = contextlib.nullcontext()
        without.append(two_threads(20))
    engine._PASS = lock
    a, b = min(with_lock), min(without)
    print(
        f"(b) two threads, own graphs: {a * 1e3:.1f} ms with the lock, {b * 1e3:.1f} ms without ({a / b:.2f}x)"
    )


if __name__ == "__main__":
    main()
