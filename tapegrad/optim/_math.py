"""The few functions update rules call, for a float or a whole NumPy array.

An update rule is written once with operators and these helpers, so the same code
steps one Value's float or a ``FlatParameters`` vector. The float path stays the
builtin (``math.sqrt``, ``max``, ``/``); arrays get the NumPy function with the same result
element by element (``np.where(b > a, b, a)`` is exactly what ``max(a, b)`` returns,
NaN included, where ``np.maximum`` would differ).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def sqrt(x: Any) -> Any:
    """math.sqrt(x) for a number, np.sqrt(x) for an array (both correctly rounded)."""
    return np.sqrt(x) if type(x) is np.ndarray else math.sqrt(x)


def div(a: Any, b: Any) -> Any:
    """a / b as IEEE arithmetic (and PyTorch) define it: 0/0 is NaN, x/0 is +-inf.

    Python raises ZeroDivisionError instead, which would stop an optimizer's step half
    way (with eps=0 and a zero gradient); arrays already divide this way.
    """
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def maximum(a: Any, b: Any) -> Any:
    """max(a, b): b if b > a else a, element-wise for arrays."""
    if type(a) is np.ndarray or type(b) is np.ndarray:
        return np.where(b > a, b, a)
    # max(a, b) exactly, at half its cost: update rules call this once per Value per step
    return b if b > a else a


def minimum(a: Any, b: Any) -> Any:
    """min(a, b): b if b < a else a, element-wise for arrays."""
    if type(a) is np.ndarray or type(b) is np.ndarray:
        return np.where(b < a, b, a)
    return b if b < a else a  # min(a, b) exactly, see maximum
