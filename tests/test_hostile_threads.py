"""Compiled calls under drawn thread interleavings: whatever the mix of training calls,
forward calls and pure ``value_and_grad`` calls from several threads, on the Values or
on an active ``flat()`` view, every training call's gradient is counted once and every
result equals the one-thread result."""

from __future__ import annotations

import sys
import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value, compile

CALLS = ("train", "forward", "value_and_grad")


def _problem():
    ws = [Value(0.5), Value(-1.5), Value(2.0)]
    fn = lambda x: (x[0] * ws[0] + x[1] * ws[1]).tanh() * ws[2] + ws[0] * ws[0]
    return ws, compile(fn, ws)


def _batch(seed):
    return np.random.default_rng(seed).normal(size=(3, 2))


def _alone(call, seed):
    """What ``call`` on batch ``seed`` returns and adds to the gradients, in one thread."""
    ws, compiled = _problem()
    X = _batch(seed)
    result = _result(compiled, ws, call, X)
    added = [0.0 if w.grad is None else w.grad for w in ws]  # None: no training call
    return result, np.array(added)


def _result(compiled, ws, call, X):
    """The numbers ``call`` returns, as one list."""
    if call == "train":
        return [compiled(X)]
    if call == "forward":
        return compiled.forward(X).tolist()
    loss, grad = compiled.value_and_grad([w.data for w in ws], X)
    return [loss, *grad.tolist()]


@settings(max_examples=12)
@given(
    plans=st.lists(
        st.lists(st.tuples(st.sampled_from(CALLS), st.integers(0, 3)), min_size=1, max_size=6),
        min_size=2,
        max_size=4,
    ),
    flat=st.booleans(),
    switch=st.sampled_from([1e-6, 1e-4, 5e-3]),
)
def test_interleaved_compiled_calls_add_up(plans, flat, switch):
    expected = {(c, s): _alone(c, s) for plan in plans for c, s in plan}
    ws, compiled = _problem()
    compiled(_batch(0))  # traced once, before the threads start
    for w in ws:
        w.grad = 0.0
    view = compiled.flat() if flat else None
    results: dict[tuple[int, int], list[float]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(plans))

    def run(t, plan):
        try:
            start.wait(timeout=30)
            for i, (call, seed) in enumerate(plan):
                results[t, i] = _result(compiled, ws, call, _batch(seed))
        except BaseException as error:  # reported in the test's thread
            errors.append(error)

    old = sys.getswitchinterval()
    sys.setswitchinterval(switch)
    try:
        threads = [threading.Thread(target=run, args=(t, p)) for t, p in enumerate(plans)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    for t, plan in enumerate(plans):
        for i, (call, seed) in enumerate(plan):
            np.testing.assert_allclose(results[t, i], expected[call, seed][0], rtol=1e-12)
    total = sum(expected[c, s][1] for plan in plans for c, s in plan)
    if view is not None:
        got = np.array(view.grad)
        view.close()
    else:
        got = np.array([w.grad for w in ws])
    np.testing.assert_allclose(got, total, rtol=1e-12, atol=1e-15)
