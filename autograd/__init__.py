"""tapegrad's autograd: a scalar engine whose graphs you can read, draw and check."""

from .check import GradcheckError, gradcheck, gradgradcheck
from .compile import Compiled, CompileError, compile
from .draw import draw_graph, save_graph
from .engine import backward, grad, topological_order
from .functional import hessian, hvp, jacobian
from .mode import detect_anomaly, enable_grad, no_grad
from .ops import OPS, Op
from .value import Value

__all__ = [
    "Value", "Op", "OPS", "no_grad", "enable_grad", "detect_anomaly",
    "backward", "grad", "topological_order", "jacobian", "hessian", "hvp",
    "gradcheck", "gradgradcheck", "GradcheckError", "draw_graph", "save_graph",
    "compile", "Compiled", "CompileError",
]
