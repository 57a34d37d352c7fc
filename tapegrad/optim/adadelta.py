"""Adadelta: step sizes from the ratio of two moving root-mean-squares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._math import div, sqrt
from .checks import EPS, Check, in_range
from .optimizer import Optimizer, Params, State


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), as PyTorch implements it (note lr defaults to 1.0).

    Update of each parameter x with gradient g::

        g <- g + weight_decay * x                    (if weight_decay != 0)
        v <- rho * v + (1 - rho) * g^2
        d <- sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho * u + (1 - rho) * d^2
        x <- x - lr * d

    Args:
        params: Values, or dicts {"params": [...], option: value} (parameter groups).
        lr: scale applied to the step (default 1.0).
        rho: decay rate of both averages, in [0, 1] (default 0.9).
        eps: added inside both square roots (default 1e-6).
        weight_decay: L2 penalty (default 0).
        maximize: ascend the objective instead (default False).
    """

    checks: ClassVar[dict[str, Check]] = {
        **Optimizer.checks,
        "rho": in_range("rho value", 0.0, 1.0),
        "eps": EPS,
    }

    def __init__(
        self,
        params: Params,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize},
        )

    def init_state(self, group: Mapping[str, Any]) -> State:
        # "step" is unused by the rule; PyTorch keeps it, and so does state_dict().
        return {"step": 0, "square_avg": 0.0, "acc_delta": 0.0}

    def update(self, x: float, g: float, state: State, group: Mapping[str, Any]) -> float:
        rho, eps = group["rho"], group["eps"]
        state["step"] += 1
        state["square_avg"] = state["square_avg"] * rho + (1 - rho) * g * g
        delta = div(sqrt(state["acc_delta"] + eps), sqrt(state["square_avg"] + eps)) * g
        state["acc_delta"] = state["acc_delta"] * rho + (1 - rho) * delta * delta
        return x - group["lr"] * delta
