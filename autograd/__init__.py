"""tapegrad: a scalar autograd engine whose graphs you can read, draw and check.

The engine's names live here; ``tapegrad.nn`` builds networks on it and
``tapegrad.optim`` trains them (the shape of torch, torch.nn and torch.optim).
"""

from .check import GradcheckError, gradcheck, gradgradcheck, numeric_grad
from .compiler import Compiled, CompileError, compile
from .draw import draw_graph, save_graph
from .engine import backward, grad, topological_order
from .explain import Explanation, explain
from .functional import gradient_and_hessian, hessian, hessian_wrt, hvp, jacobian
from .mode import detect_anomaly, enable_grad, no_grad
from .ops import OPS, Op
from .value import Value

from . import nn, optim  # noqa: E402  (they build on the names above)

__all__ = [
    "Value", "Op", "OPS", "no_grad", "enable_grad", "detect_anomaly",
    "backward", "grad", "topological_order", "jacobian", "hessian", "hvp",
    "hessian_wrt", "gradient_and_hessian",
    "gradcheck", "gradgradcheck", "numeric_grad", "GradcheckError", "draw_graph", "save_graph",
    "explain", "Explanation",
    "compile", "Compiled", "CompileError", "nn", "optim",
]
