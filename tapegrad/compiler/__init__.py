"""Compiled mode: trace a per-sample computation once, replay it over a batch with NumPy.

A pipeline of stages, one a module, each a function from one plain data structure
to the next:

    trace     fn + params + one sample  -> TracedGraph  (nodes, roots, sample shapes)
    schedule  TracedGraph               -> Schedule     (groups by level, slot layout)
    codegen   Schedule                  -> Program      (Python source, its functions)
    runtime   Program + Batch + params  -> outputs, or the loss and its gradient

``api`` holds the public ``compile`` and ``Compiled`` (with ``batch``, the checks of
each call's arrays), and ``flat`` the ``FlatParameters`` vector an optimizer steps.
"""

from ..autograd.tracing import CompileError
from .api import Compiled, compile
from .flat import FlatParameters

__all__ = ["CompileError", "Compiled", "FlatParameters", "compile"]
