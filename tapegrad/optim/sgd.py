"""SGD, with momentum (Momentum) and Nesterov momentum (NAG) as options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .checks import MOMENTUM, Check, flag, in_range
from .optimizer import Optimizer, Params, State


class SGD(Optimizer):
    """Stochastic gradient descent; Momentum is ``momentum > 0``, NAG adds ``nesterov=True``.

    Update of each parameter x with gradient g (PyTorch's formulation)::

        g <- g + weight_decay * x                    (if weight_decay != 0)
        b <- g                                       (first step, if momentum != 0)
        b <- momentum * b + (1 - dampening) * g      (later steps)
        d <- g + momentum * b if nesterov else b     (d = g if momentum == 0)
        x <- x - lr * d

    Args:
        params: Values, or dicts {"params": [...], option: value} (parameter groups).
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum, in [0, 1] (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: Nesterov momentum; needs momentum > 0 and dampening 0 (default False).
        maximize: ascend the objective instead (default False).
    """

    checks: ClassVar[dict[str, Check]] = {
        **Optimizer.checks,
        "momentum": MOMENTUM,
        "dampening": in_range("dampening value", 0.0, 1.0),
        "nesterov": flag("nesterov"),
    }

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "momentum": momentum,
                "dampening": dampening,
                "weight_decay": weight_decay,
                "nesterov": nesterov,
                "maximize": maximize,
            },
        )

    def check_group(self, group: Mapping[str, Any]) -> None:
        if group.get("nesterov") and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def init_state(self, group: Mapping[str, Any]) -> State:
        return {"momentum_buffer": None} if group["momentum"] != 0 else {}

    def update(self, x: float, g: float, state: State, group: Mapping[str, Any]) -> float:
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            # The first buffer is the raw gradient: dampening starts at step 2.
            buf = g if buf is None else buf * momentum + (1 - group["dampening"]) * g
            state["momentum_buffer"] = buf
            g = g + momentum * buf if group["nesterov"] else buf
        return x - group["lr"] * g
