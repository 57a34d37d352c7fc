"""Second-order methods for small models: a damped Newton optimizer from the exact
Hessian, and the largest stable constant learning rate of gradient descent."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..autograd import Value, enable_grad, gradient_and_hessian, hessian
from .checks import LR, Check, positive
from .optimizer import Optimizer, Params, State

# Levenberg damping grows tenfold per failed Cholesky; a finite Hessian is repaired
# long before this many tries (mu would reach 1e61 times the first damping).
_MAX_DAMPING_TRIES = 64


def _cholesky_ok(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


class Newton(Optimizer):
    """Newton's method with the exact Hessian, Levenberg-damped when it is not
    positive definite. Forms and solves an n x n system: for small models.

    One step, for the parameter vector x, loss L (recomputed by the closure)::

        g = dL/dx,  H = d^2 L / dx^2                 (exact: autograd differentiates g)
        mu = 0 if H is positive definite, else the first of damping, 10 * damping,
             100 * damping, ... for which H + mu * I is (Cholesky succeeds)
        x <- x - lr * (H + mu * I)^{-1} g

    On a convex quadratic with lr = 1 one step lands on the minimum. The mu used by
    the last step is kept in ``last_damping``.

    Args:
        params: Values (one group: the Hessian couples every parameter).
        lr: step scale (default 1.0).
        damping: first mu tried when H is not positive definite (default 1e-3).
    """

    checks: ClassVar[dict[str, Check]] = {"lr": LR, "damping": positive("damping value")}

    def __init__(self, params: Params, lr: float = 1.0, damping: float = 1e-3) -> None:
        self.last_damping = 0.0
        super().__init__(params, {"lr": lr, "damping": damping})

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("Newton takes a single parameter group: the Hessian couples them all")
        super().add_param_group(param_group)

    def _param_list(self, params: Any) -> list[Value]:
        params = super()._param_list(params)
        if not all(isinstance(p, Value) for p in params):
            raise TypeError(
                "Newton needs Values (it differentiates the graph twice), not a "
                "compiled FlatParameters"
            )
        return params

    def update(self, x: float, g: float, state: State, group: Mapping[str, Any]) -> float:
        """Refused: a Newton step couples every parameter through the Hessian."""
        raise TypeError("Newton steps all parameters at once: call step(closure)")

    def step(self, closure: Callable[[], Value] | None = None) -> Value:
        """Recompute the loss with ``closure()``, take one Newton step, return the loss.

        The closure only builds the loss from the parameters; it need not call
        ``backward()`` (gradient and Hessian come from ``tapegrad.grad``, and ``.grad``
        fields are left as they are).
        """
        if closure is None:
            raise TypeError("Newton.step needs a closure that recomputes the loss from the params")
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.requires_grad]
        with enable_grad():
            loss = closure()
            if not isinstance(loss, Value) or not loss.requires_grad:
                raise TypeError(
                    f"Newton.step: the closure must return a Value computed from the params, "
                    f"got {loss!r}"
                )
            g, h = map(np.array, gradient_and_hessian(loss, params))
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(h))):
            raise ValueError(f"Newton.step: non-finite gradient {g} or Hessian {h}")
        h = (h + h.T) / 2  # exact up to round-off; Cholesky wants it symmetric
        mu = 0.0 if _cholesky_ok(h) else self._damping_for(h, group["damping"])
        direction = np.linalg.solve(h + mu * np.eye(len(params)), g)
        for p, d in zip(params, direction, strict=True):
            p.data = float(p.data - group["lr"] * d)
        self.last_damping = mu
        return loss

    @staticmethod
    def _damping_for(h: np.ndarray, damping: float) -> float:
        mu = damping
        for _ in range(_MAX_DAMPING_TRIES):
            if _cholesky_ok(h + mu * np.eye(len(h))):
                return mu
            mu *= 10.0
        raise ValueError(
            f"Newton.step: no damping up to {mu:g} makes the Hessian positive definite"
        )


def largest_stable_lr(f: Callable[[list[Value]], Value], point: Sequence[float]) -> float:
    """The largest constant learning rate for which gradient descent is stable near point.

    Near a minimum, f(x) ~ f(x*) + (x - x*)^T H (x - x*) / 2 and each step multiplies
    the error along an eigenvector of H by (1 - lr * lambda). All factors stay inside
    (-1, 1) exactly when lr < 2 / lambda_max(H), with lambda_max from
    numpy.linalg.eigvalsh of the exact Hessian at ``point``.
    """
    point = list(point)
    if not point:
        raise ValueError("largest_stable_lr: the point has no coordinates")
    h = np.array(hessian(f, point), dtype=float)
    if not np.all(np.isfinite(h)):
        raise ValueError(f"largest_stable_lr: the Hessian at {point} is not finite: {h.tolist()}")
    lambda_max = float(np.linalg.eigvalsh(h)[-1])
    if lambda_max <= 0:
        raise ValueError(
            f"largest_stable_lr: the Hessian at {point} has no positive eigenvalue "
            f"(lambda_max = {lambda_max:g}); gradient descent has no stable constant "
            "learning rate there (f curves down or is flat in every direction)"
        )
    return 2.0 / lambda_max
