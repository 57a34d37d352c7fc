"""The engine: Values, the table of primitives, backward and grad, higher order, checks.

``tapegrad.autograd`` imports nothing else of the package; ``tapegrad.nn``,
``tapegrad.optim``, the compiler and the explainer are built on it.
"""

from .check import GradcheckError, gradcheck, gradgradcheck, numeric_grad
from .engine import backward, grad, topological_order
from .functional import gradient_and_hessian, hessian, hessian_wrt, hvp, jacobian
from .mode import detect_anomaly, enable_grad, no_grad
from .ops import OPS, Op
from .value import Value

__all__ = [
    "OPS",
    "GradcheckError",
    "Op",
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
    "no_grad",
    "numeric_grad",
    "topological_order",
]
