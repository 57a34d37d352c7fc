"""Test your own code the way tapegrad tests itself.

* ``check_grads(f, args, order=2, modes=("fwd", "rev"))``: derivatives of any order, in
  forward and reverse mode, against central differences and against each other.
* ``tapegrad.testing.reference``: every op of the table written again with ``math``,
  and helpers to compare with finite differences.
* ``tapegrad.testing.strategies``: hypothesis strategies for inputs in an op's (or a
  primitive's) domain, random expressions over the op table, networks and batches.
  It needs hypothesis (``pip install "tapegrad[testing]"``); the rest does not, and
  importing ``tapegrad.testing`` does not import it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from . import reference
from .checks import GradientCheckError, check_grads

__all__ = ["GradientCheckError", "check_grads", "reference", "strategies"]


def __getattr__(name: str) -> ModuleType:
    # tapegrad.testing.strategies on first use: it imports hypothesis.
    if name == "strategies":
        return importlib.import_module(f"{__name__}.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
