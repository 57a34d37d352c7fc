"""Gradient clipping, the standard guard against exploding gradients.

Both functions change ``p.grad`` in place (parameters whose grad is None are left
alone) and follow ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``. A
``FlatParameters`` (``compiled.flat()``) counts as all the gradients it holds.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from ..autograd import Value
from ._flat import FlatVector, is_flat
from ._math import maximum, minimum
from .checks import flag, in_range, positive

Parameters = Value | FlatVector | Iterable[Value | FlatVector]


class _WithGrad(Protocol):
    """A parameter whose gradient is set: a Value's float, or a flat vector's array."""

    grad: Any  # the update below is written once for both


def _with_grad(parameters: Parameters, name: str) -> list[_WithGrad]:
    """The parameters whose grad is not None; TypeError if one is not a Value or FlatParameters."""
    if isinstance(parameters, Value) or is_flat(parameters):
        params = [parameters]
    else:
        params = list(parameters)
    for p in params:
        if not (isinstance(p, Value) or is_flat(p)):
            raise TypeError(f"{name}: expected Values, got {type(p).__name__} {p!r}")
    return [p for p in params if p.grad is not None]


def _norm(grads: np.ndarray, norm_type: float) -> float:
    """The norm of a vector of gradients, as ``clip_grad_norm_`` defines it."""
    if np.isnan(grads).any():  # as PyTorch: NaN, even beside an infinity
        return math.nan
    size = np.abs(grads)
    largest = float(size.max(initial=0.0))
    if norm_type == math.inf:
        return largest
    if norm_type == 2:
        if largest == 0.0 or largest == math.inf:
            return largest
        # scaled by the largest entry: no overflow for huge gradients
        return largest * math.sqrt(float(np.dot(grads / largest, grads / largest)))
    return _p_norm(size, largest, norm_type)


def _p_norm(size: np.ndarray, largest: float, p: float) -> float:
    """(sum_i size_i^p)^(1/p) for magnitudes ``size`` whose maximum is ``largest``.

    Where the powers would overflow to inf (gradients of 1e200) or underflow (of
    1e-200), it is computed as largest * (sum_i (size_i / largest)^p)^(1/p), whose
    powers all lie in [0, 1]; PyTorch's own p-norm returns inf or 0 there. Elsewhere
    the direct sum, which rounds exactly as PyTorch's does.
    """
    if largest == 0.0 or largest == math.inf:
        return largest
    with np.errstate(over="ignore", under="ignore"):
        total = float(np.sum(size**p))
    if math.isfinite(total) and largest**p >= sys.float_info.min:
        return total ** (1.0 / p)
    return largest * float(np.sum((size / largest) ** p)) ** (1.0 / p)


def clip_grad_norm_(
    parameters: Parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients together so that their joint norm is at most max_norm.

        total = (sum_i |g_i|^p)^(1/p)          (max_i |g_i| for p = inf)
        g_i <- g_i * min(1, max_norm / (total + 1e-6))

    Returns ``total``, the norm before clipping (computed without overflow or
    underflow for any p); one NaN gradient makes it NaN, as in PyTorch. With
    ``error_if_nonfinite`` a NaN or infinite total raises RuntimeError instead of
    scaling every gradient by 0 or NaN.
    """
    name = "clip_grad_norm_"
    in_range(f"max_norm of {name}")(max_norm)
    positive(f"norm_type of {name}")(norm_type)  # math.inf included
    flag(f"error_if_nonfinite of {name}")(error_if_nonfinite)
    params = _with_grad(parameters, name)
    if not params:
        return 0.0
    grads = [p.grad for p in params]
    if any(is_flat(p) for p in params):
        total = _norm(np.concatenate([np.ravel(g) for g in grads]), norm_type)
    elif any(g != g for g in grads):  # a NaN (the only float unequal to itself)
        # As PyTorch: NaN wherever it sits (max() would skip one that is not first) and
        # beside an infinity (math.hypot lets inf win).
        total = math.nan
    elif norm_type == math.inf:
        total = max(abs(g) for g in grads)
    elif norm_type == 2:
        total = math.hypot(*grads)  # no overflow for huge gradients, unlike sum of squares
    else:
        total = _norm(np.array(grads, dtype=np.float64), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"{name}: the total norm of order {norm_type} of the gradients is {total}, "
            "so it cannot be clipped; pass error_if_nonfinite=False to scale anyway"
        )
    scale = min(max_norm / (total + 1e-6), 1.0)
    for p in params:
        p.grad = p.grad * scale
    return total


def clip_grad_value_(parameters: Parameters, clip_value: float) -> None:
    """Clamp every gradient into [-clip_value, clip_value]: g <- min(max(g, -c), c)."""
    in_range("clip_value of clip_grad_value_")(clip_value)
    for p in _with_grad(parameters, "clip_grad_value_"):
        p.grad = minimum(maximum(p.grad, -clip_value), clip_value)
