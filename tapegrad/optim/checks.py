"""Hyper-parameter checks: each names the hyper-parameter and the bad value.

An optimizer lists one check per hyper-parameter (``Optimizer.checks``); the base
class runs them on the defaults, on every parameter group and on a loaded state dict.
Schedulers and clipping use the same checks. Messages follow PyTorch's
(``ValueError: Invalid learning rate: -1``); a value of the wrong type is a TypeError.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], None]


def _require_real(label: str, value: Any) -> None:
    # bool is an int subclass; a flag where a number belongs is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {label}: {value!r} (expected a real number)")
    try:
        float(value)
    except OverflowError:
        raise OverflowError(f"Invalid {label}: {value!r} is too large for a float") from None


def in_range(
    label: str, low: float = 0.0, high: float = math.inf, *, high_open: bool = False
) -> Check:
    """Check that a value is a real number in [low, high], or [low, high) if high_open."""

    def check(value: Any) -> None:
        _require_real(label, value)
        below_high = value < high if high_open else value <= high
        if not (low <= value and below_high):  # also rejects NaN
            raise ValueError(f"Invalid {label}: {value}")

    return check


def positive(label: str) -> Check:
    """Check that a value is a real number > 0."""

    def check(value: Any) -> None:
        _require_real(label, value)
        if not value > 0:
            raise ValueError(f"Invalid {label}: {value}")

    return check


def integer(label: str, low: int) -> Check:
    """Check that a value is an integer >= low (a count of epochs, steps, ...)."""

    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"Invalid {label}: {value!r} (expected an integer)")
        if value < low:
            raise ValueError(f"Invalid {label}: {value}")

    return check


def flag(label: str) -> Check:
    """Check that a value is True or False."""

    def check(value: Any) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"Invalid {label} flag: {value!r} (expected True or False)")

    return check


def betas_pair(value: Any) -> None:
    """Check a pair (beta1, beta2) of decay rates, each in [0, 1)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"Invalid betas: {value!r} (expected a pair (beta1, beta2))")
    for index, beta in enumerate(value):
        in_range(f"beta parameter at index {index}", 0.0, 1.0, high_open=True)(beta)


# The hyper-parameters most optimizers share, with PyTorch's wording.
LR = in_range("learning rate")
EPS = in_range("epsilon value")
WEIGHT_DECAY = in_range("weight_decay value")
MOMENTUM = in_range("momentum value")
MAXIMIZE = flag("maximize")
