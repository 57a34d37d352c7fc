"""RMSprop: divide by a moving root-mean-square of recent gradients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._math import div, maximum, sqrt
from .checks import EPS, MOMENTUM, Check, flag, in_range
from .optimizer import Optimizer, Params, State, lerp


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), with PyTorch's centered and momentum variants.

    Update of each parameter x with gradient g::

        g <- g + weight_decay * x                    (if weight_decay != 0)
        v <- alpha * v + (1 - alpha) * g^2
        if centered:  m <- alpha * m + (1 - alpha) * g;   s <- sqrt(v - m^2) + eps
        else:                                              s <- sqrt(v) + eps
        if momentum > 0:  b <- momentum * b + g / s;  x <- x - lr * b
        else:             x <- x - lr * g / s

    Args:
        params: Values, or dicts {"params": [...], option: value} (parameter groups).
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the averages, in [0, 1] (default 0.99).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance instead of the raw second
            moment (default False).
        maximize: ascend the objective instead (default False).
    """

    checks: ClassVar[dict[str, Check]] = {
        **Optimizer.checks,
        "alpha": in_range("alpha value", 0.0, 1.0),
        "eps": EPS,
        "momentum": MOMENTUM,
        "centered": flag("centered"),
    }

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "alpha": alpha,
                "eps": eps,
                "weight_decay": weight_decay,
                "momentum": momentum,
                "centered": centered,
                "maximize": maximize,
            },
        )

    def init_state(self, group: Mapping[str, Any]) -> State:
        # "step" is unused by the rule; PyTorch keeps it, and so does state_dict().
        state: State = {"step": 0, "square_avg": 0.0}
        if group["momentum"] > 0:
            state["momentum_buffer"] = 0.0
        if group["centered"]:
            state["grad_avg"] = 0.0
        return state

    def update(self, x: float, g: float, state: State, group: Mapping[str, Any]) -> float:
        alpha = group["alpha"]
        state["step"] += 1
        state["square_avg"] = state["square_avg"] * alpha + (1 - alpha) * g * g
        variance = state["square_avg"]
        if group["centered"]:
            state["grad_avg"] = lerp(state["grad_avg"], g, 1 - alpha)
            # v >= m^2 in exact arithmetic; rounding can leave v - m^2 a hair below 0,
            # where PyTorch's sqrt gives NaN. Clamping changes no other number.
            variance = maximum(variance - state["grad_avg"] * state["grad_avg"], 0.0)
        scale = sqrt(variance) + group["eps"]
        if group["momentum"] > 0:
            state["momentum_buffer"] = state["momentum_buffer"] * group["momentum"] + div(g, scale)
            return x - group["lr"] * state["momentum_buffer"]
        return x - div(group["lr"] * g, scale)
