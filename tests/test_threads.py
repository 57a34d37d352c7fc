"""Threads: recording modes are per thread, and passes over a shared graph take turns."""

from __future__ import annotations

import sys
import threading

import pytest

from tapegrad import Value, detect_anomaly, enable_grad, grad, no_grad
from tapegrad.autograd.mode import FAST, MODE


def _in_other_thread(context, inside, timeout: float = 10.0) -> None:
    """Enter ``context`` in a second thread; run ``inside()`` here while it is active."""
    entered, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold():
        try:
            with context():
                entered.set()
                release.wait(timeout)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
            entered.set()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert entered.wait(timeout)
        inside()
    finally:
        release.set()
        thread.join(timeout)
    assert not errors


def test_no_grad_in_one_thread_does_not_stop_another_threads_graphs():
    x = Value(3.0)

    def here():
        assert not FAST.default and MODE.grad_enabled
        y = x * x
        assert y.requires_grad and y.parents == (x, x)
        y.backward()

    _in_other_thread(no_grad, here)
    assert x.grad == 6.0
    assert FAST.default  # every thread back to the defaults


def test_no_grad_applies_in_its_own_thread():
    results = []

    def work():
        with no_grad():
            results.append((Value(2.0) * 3.0).requires_grad)
            with enable_grad():
                results.append((Value(2.0) * 3.0).requires_grad)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert results == [False, True]


def test_anomaly_detection_in_one_thread_does_not_check_another_thread():
    def here():
        assert Value(1000.0).exp().data == float("inf")  # no anomaly check in this thread

    _in_other_thread(detect_anomaly, here)
    with detect_anomaly(), pytest.raises(FloatingPointError, match="anomaly: exp"):
        Value(1000.0).exp()


def test_tracing_flag_is_per_thread():
    seen = []

    def work():
        seen.append(MODE.tracing)

    MODE.tracing = True
    try:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    finally:
        MODE.tracing = False
    assert seen == [False]


def _shared_graph() -> tuple[list[Value], Value]:
    xs = [Value(0.1 * i) for i in range(1, 31)]
    h = [Value.dot(xs, xs[::-1]).tanh() * x for x in xs]
    return xs, Value.sum([v * v + v.sigmoid() for v in h])


def test_two_threads_differentiating_the_same_graph_get_two_passes_worth():
    xs, loss = _shared_graph()
    loss.backward()
    single = [x.grad for x in xs]
    first_order = grad(loss, xs)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for _ in range(5):
            for x in xs:
                x.zero_grad()
            start = threading.Barrier(2)
            results = []

            def work(start=start, results=results):
                start.wait()
                loss.backward()
                results.append(grad(loss, xs))

            threads = [threading.Thread(target=work) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert [x.grad for x in xs] == [2 * g for g in single]
            assert results == [first_order, first_order]
    finally:
        sys.setswitchinterval(switch)
