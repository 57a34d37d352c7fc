"""Compiled mode and threads: calls from several threads add up, and tracing in one
thread changes nothing another thread sees."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from tapegrad import Value, compile, nn

THREADS = 6
CALLS = 200  # per thread


@contextmanager
def _switching_often() -> Iterator[None]:
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        yield
    finally:
        sys.setswitchinterval(switch)


def _in_threads(work: Callable[[], None], threads: int = THREADS) -> None:
    """Run ``work`` in ``threads`` threads started together; re-raise the first error."""
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=30)
            work()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    with _switching_often():
        for t in pool:
            t.start()
        for t in pool:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in pool)
    if errors:
        raise errors[0]


def _model_and_step():
    # More than 500 parameters: NumPy lets go of the interpreter lock while it adds
    # arrays that large, which is when unsynchronised additions lose a sum.
    model = nn.MLP(2, [32, 32, 1], seed=0)
    step = compile(lambda x: model(x)[0] ** 2, model.parameters())
    X = np.array([[0.5, -1.0], [1.5, 0.25]])
    return model, step, X


def test_calls_from_many_threads_on_a_flat_view_add_up():
    _, step, X = _model_and_step()
    flat = step.flat()
    flat.zero_grad()
    step(X)
    once = flat.grad.copy()
    flat.zero_grad()

    def work() -> None:
        for _ in range(CALLS):
            step(X)

    _in_threads(work)
    # Every call adds the same gradient, so the total is exact whatever the order.
    expected = np.zeros_like(once)
    for _ in range(THREADS * CALLS):
        expected = expected + once
    assert flat.grad.tolist() == expected.tolist()


def test_calls_from_many_threads_on_values_add_up():
    model, step, X = _model_and_step()
    params = model.parameters()
    model.zero_grad()
    step(X)
    once = [p.grad for p in params]
    model.zero_grad()

    def work() -> None:
        for _ in range(CALLS // 4):
            step(X)

    _in_threads(work)
    expected = [0.0] * len(once)
    for _ in range(THREADS * (CALLS // 4)):
        expected = [e + g for e, g in zip(expected, once)]
    assert [p.grad for p in params] == expected


def test_tracing_leaves_frozen_parameters_frozen_for_other_threads():
    w, frozen = Value(2.0), Value(3.0, requires_grad=False)
    seen: list[tuple[bool, bool]] = []

    def look() -> None:  # another thread, while the first call traces
        seen.append((frozen.requires_grad, (frozen * 2.0).requires_grad))

    def fn(x):
        other = threading.Thread(target=look)
        other.start()
        other.join(timeout=30)
        return (w * x + frozen * frozen) ** 2

    step = compile(fn, [w, frozen])
    assert step(np.array([1.0])) == 121.0  # (2 + 9) ** 2
    assert seen and all(s == (False, False) for s in seen)
    assert frozen.grad is None and w.grad == 22.0
    # The frozen parameter's number is still read at every call, also where only
    # frozen numbers meet (frozen * frozen): the program is a function of it.
    frozen.data = 1.0
    assert step.forward(np.array([1.0])).tolist() == [9.0]
    loss, gradient = step.value_and_grad([2.0, 2.0], np.array([1.0]))
    assert (loss, gradient.tolist()) == (36.0, [12.0, 0.0])


def test_a_first_call_from_many_threads_traces_once():
    model = nn.MLP(2, [4, 1], seed=0)
    X = np.array([[0.5, -1.0], [1.5, 0.25]])
    for _ in range(10):  # the threads' start is up to the scheduler: several rounds
        traces = []

        def fn(x, traces=traces):
            traces.append(1)
            return model(x)[0] ** 2

        step = compile(fn, model.parameters())
        losses = []
        _in_threads(lambda step=step, losses=losses: losses.append(step(X)))
        assert len(traces) == 2  # one trace, plus the check that fn is deterministic
        assert losses == [losses[0]] * THREADS
