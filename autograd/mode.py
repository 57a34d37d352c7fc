"""Global recording modes: whether operations build a graph, and anomaly detection.

The modes are process-wide (not per thread): the engine reads them on every
operation, and a plain attribute read is the cheapest switch there is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


class _Mode:
    __slots__ = ("grad_enabled", "anomaly", "sites", "tracing")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        # What tapegrad.compile is tracing (False when it is not): see tracing.py,
        # whose refuse_tracing lets a random or batch-coupling layer refuse.
        self.tracing: str | bool = False
        # While anomaly detection is on: id(node) -> (node, "file:line in function").
        # The node is kept alive so that its id cannot be reused within the context.
        self.sites: dict[int, tuple[object, str]] = {}


MODE = _Mode()

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


@contextmanager
def no_grad() -> Iterator[None]:
    """Record no graph inside the block: results are constants with ``grad`` None."""
    previous = MODE.grad_enabled
    MODE.grad_enabled = False
    try:
        yield
    finally:
        MODE.grad_enabled = previous


@contextmanager
def enable_grad() -> Iterator[None]:
    """Record graphs inside the block, even within ``no_grad()``."""
    previous = MODE.grad_enabled
    MODE.grad_enabled = True
    try:
        yield
    finally:
        MODE.grad_enabled = previous


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Stop at the first NaN or infinity produced in forward or backward.

    The error names the operation, its inputs, and the line of user code that created
    the node. Slower than normal mode: it checks every result and records every
    node's creation site, so use it to hunt a bug, not to train.
    """
    previous = MODE.anomaly
    MODE.anomaly = True
    try:
        yield
    finally:
        MODE.anomaly = previous
        if not previous:
            MODE.sites.clear()


def user_site() -> str:
    """The innermost stack frame outside this package, as 'file:line in function'."""
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(
        os.path.abspath(frame.f_code.co_filename)
    ) == _PACKAGE_DIR:
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
