"""Recording modes, per thread: whether operations build a graph, anomaly detection,
and whether ``tapegrad.compile`` is tracing.

``MODE`` holds the calling thread's modes (``MODE.grad_enabled``, ``MODE.anomaly``,
``MODE.tracing``), as PyTorch's grad mode is per thread: a
``no_grad()`` block in one thread does not stop another thread's graphs.

Reading a thread-local attribute costs several times a plain one, and the engine
checks the modes on every operation. So ``FAST.default`` is one process-wide flag, true
while no thread has switched recording off or anomaly detection on or is tracing; the
engine reads the per-thread modes only when it is false.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class _Fast:
    __slots__ = ("default",)

    def __init__(self) -> None:
        self.default = True


FAST = _Fast()
"""``FAST.default``: every thread records graphs, none detects anomalies, none traces."""

_lock = threading.Lock()
_threads_off_default = 0  # threads whose grad mode is off, anomaly mode on, or tracing


class _ThreadModes(threading.local):
    """The modes of the calling thread; each new thread starts with the defaults."""

    def __init__(self) -> None:
        self._grad_enabled = True
        self._anomaly = False
        self._tracing: object = False

    @property
    def grad_enabled(self) -> bool:
        """Whether operations in this thread record a graph."""
        return self._grad_enabled

    @grad_enabled.setter
    def grad_enabled(self, flag: bool) -> None:
        self._switch(bool(flag), self._anomaly, self._tracing)

    @property
    def anomaly(self) -> bool:
        """Whether this thread checks every result for NaN and infinity."""
        return self._anomaly

    @anomaly.setter
    def anomaly(self, flag: bool) -> None:
        self._switch(self._grad_enabled, bool(flag), self._tracing)

    @property
    def tracing(self) -> Any:
        """What tapegrad.compile is tracing in this thread, False when it is not: see
        tracing.py, whose hooks let layers refuse to be traced."""
        return self._tracing

    @tracing.setter
    def tracing(self, trace: object) -> None:
        self._switch(self._grad_enabled, self._anomaly, trace)

    def _switch(self, grad_enabled: bool, anomaly: bool, tracing: object) -> None:
        global _threads_off_default
        was_default = self._grad_enabled and not self._anomaly and not self._tracing
        is_default = grad_enabled and not anomaly and not tracing
        with _lock:
            _threads_off_default += was_default - is_default
            self._grad_enabled, self._anomaly, self._tracing = grad_enabled, anomaly, tracing
            FAST.default = _threads_off_default == 0


MODE = _ThreadModes()

# The tapegrad/ folder: a frame in any of its modules (the engine, nn, optim, ...) is ours.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


@contextmanager
def no_grad() -> Iterator[None]:
    """Record no graph inside the block (in this thread): results are constants with
    ``grad`` None."""
    previous = MODE.grad_enabled
    MODE.grad_enabled = False
    try:
        yield
    finally:
        MODE.grad_enabled = previous


@contextmanager
def enable_grad() -> Iterator[None]:
    """Record graphs inside the block (in this thread), even within ``no_grad()``."""
    previous = MODE.grad_enabled
    MODE.grad_enabled = True
    try:
        yield
    finally:
        MODE.grad_enabled = previous


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Stop at the first NaN or infinity produced in forward or backward (in this thread).

    The error names the operation, its inputs, and the line of user code that created
    the node. Slower than normal mode: it checks every result and keeps each node's
    creation site on the node (freed with it, so a long block holds no more than the
    graphs it still uses), so use it to hunt a bug, not to train.
    """
    previous = MODE.anomaly
    MODE.anomaly = True
    try:
        yield
    finally:
        MODE.anomaly = previous


def user_site() -> str:
    """The innermost stack frame outside this package, as 'file:line in function'."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
