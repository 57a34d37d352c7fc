"""tapegrad: a scalar autograd engine whose graphs you can read, draw and check.

``tapegrad.autograd`` is the engine, ``tapegrad.nn`` builds networks on it and
``tapegrad.optim`` trains them (the shape of torch.autograd, torch.nn and torch.optim);
the package root re-exports the names a user reaches for first.
"""

from importlib.metadata import PackageNotFoundError, version

from . import autograd, nn, optim, testing
from .autograd import (
    OPS,
    GradcheckError,
    Op,
    Primitive,
    Value,
    backward,
    detect_anomaly,
    enable_grad,
    grad,
    gradcheck,
    gradgradcheck,
    gradient_and_hessian,
    hessian,
    hessian_wrt,
    hvp,
    jacobian,
    jvp,
    no_grad,
    numeric_grad,
    primitive,
    topological_order,
)
from .compiler import Compiled, CompileError, compile
from .explain import Explanation, draw_graph, explain, save_graph

try:
    __version__ = version("tapegrad")
except PackageNotFoundError:  # imported from a clone that was never installed
    __version__ = "0+unknown"

__all__ = [
    "OPS",
    "CompileError",
    "Compiled",
    "Explanation",
    "GradcheckError",
    "Op",
    "Primitive",
    "Value",
    "__version__",
    "autograd",
    "backward",
    "compile",
    "detect_anomaly",
    "draw_graph",
    "enable_grad",
    "explain",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "gradient_and_hessian",
    "hessian",
    "hessian_wrt",
    "hvp",
    "jacobian",
    "jvp",
    "nn",
    "no_grad",
    "numeric_grad",
    "optim",
    "primitive",
    "save_graph",
    "testing",
    "topological_order",
]
