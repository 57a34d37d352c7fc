"""Adagrad: a per-parameter learning rate shrinking with the sum of squared gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._math import div, sqrt
from .checks import EPS, Check, in_range
from .optimizer import Optimizer, Params, State


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), as PyTorch implements it.

    Update at step t of each parameter x with gradient g::

        g <- g + weight_decay * x                    (if weight_decay != 0)
        lr_t <- lr / (1 + (t - 1) * lr_decay)
        h <- h + g^2                                 (h starts at initial_accumulator_value)
        x <- x - lr_t * g / (sqrt(h) + eps)

    Args:
        params: Values, or dicts {"params": [...], option: value} (parameter groups).
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay per step (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of h (default 0).
        eps: added to the denominator for stability (default 1e-10).
        maximize: ascend the objective instead (default False).
    """

    checks: ClassVar[dict[str, Check]] = {
        **Optimizer.checks,
        "lr_decay": in_range("lr_decay value"),
        "initial_accumulator_value": in_range("initial_accumulator_value value"),
        "eps": EPS,
    }

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "lr_decay": lr_decay,
                "weight_decay": weight_decay,
                "initial_accumulator_value": initial_accumulator_value,
                "eps": eps,
                "maximize": maximize,
            },
        )

    def init_state(self, group: Mapping[str, Any]) -> State:
        return {"step": 0, "sum": float(group["initial_accumulator_value"])}

    def update(self, x: float, g: float, state: State, group: Mapping[str, Any]) -> float:
        state["step"] += 1
        lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] = state["sum"] + g * g
        return x - div(lr_t * g, sqrt(state["sum"]) + group["eps"])
