"""A flat parameter vector recognised by what it is, not by where it comes from.

``compiled.flat()`` gives one object standing for many parameters: its ``data`` and
``grad`` are float64 NumPy arrays of one shape. Optimizers and clipping accept any
object with those two arrays, so optim needs no import of the compiler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from typing_extensions import TypeIs


class FlatVector(Protocol):
    """Many parameters as one: ``data`` and ``grad`` NumPy arrays of one shape."""

    data: np.ndarray
    grad: np.ndarray


def is_flat(p: Any) -> TypeIs[FlatVector]:
    """Whether ``p`` is a flat parameter vector: ``data`` and ``grad`` are NumPy arrays."""
    return (
        type(getattr(p, "data", None)) is np.ndarray
        and type(getattr(p, "grad", None)) is np.ndarray
    )
