"""The engine: Values, the table of primitives, backward and grad, higher order, checks.

``tapegrad.autograd`` imports nothing else of the package; ``tapegrad.nn``,
``tapegrad.optim``, the compiler and the explainer are built on it.
"""

from .check import GradcheckError, gradcheck, gradgradcheck, numeric_grad
from .engine import backward, grad, topological_order
from .forward import jvp
from .functional import gradient_and_hessian, hessian, hessian_wrt, hvp, jacobian
from .mode import detect_anomaly, enable_grad, no_grad
from .ops import OPS, Op
from .primitive import Primitive, primitive
from .value import Value

__all__ = [
    "OPS",
    "GradcheckError",
    "Op",
    "Primitive",
    "Value",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "gradient_and_hessian",
    "hessian",
    "hessian_wrt",
    "hvp",
    "jacobian",
    "jvp",
    "no_grad",
    "numeric_grad",
    "primitive",
    "topological_order",
]
