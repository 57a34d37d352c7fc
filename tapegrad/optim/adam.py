"""The Adam family: Adam (with the AMSGrad option), AdamW and NAdam."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ._math import div, maximum, sqrt
from .checks import EPS, Check, betas_pair, flag, in_range
from .optimizer import Optimizer, Params, State, lerp


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014); AMSGrad (Reddi et al., 2018) is ``amsgrad=True``.

    Update at step t of each parameter x with gradient g::

        g <- g + weight_decay * x                    (L2, if weight_decay != 0)
             (with decoupled_weight_decay: x <- x * (1 - lr * weight_decay) instead)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        v_max <- max(v_max, v)                       (amsgrad; then v_max replaces v below)
        x <- x - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Args:
        params: Values, or dicts {"params": [...], option: value} (parameter groups).
        lr: learning rate (default 1e-3).
        betas: decay rates (beta1, beta2) of the two moment averages (default (0.9, 0.999)).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: weight decay (default 0).
        amsgrad: normalise by the largest second moment seen so far (default False).
        maximize: ascend the objective instead (default False).
        decoupled_weight_decay: decay x directly, as AdamW does (default False).
    """

    checks: ClassVar[dict[str, Check]] = {
        **Optimizer.checks,
        "betas": betas_pair,
        "eps": EPS,
        "amsgrad": flag("amsgrad"),
        "decoupled_weight_decay": flag("decoupled_weight_decay"),
    }

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "betas": betas,
                "eps": eps,
                "weight_decay": weight_decay,
                "amsgrad": amsgrad,
                "maximize": maximize,
                "decoupled_weight_decay": decoupled_weight_decay,
            },
        )

    def init_state(self, group: Mapping[str, Any]) -> State:
        state: State = {"step": 0, "exp_avg": 0.0, "exp_avg_sq": 0.0}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = 0.0
        return state

    def update(self, x: float, g: float, state: State, group: Mapping[str, Any]) -> float:
        beta1, beta2 = group["betas"]
        state["step"] += 1
        t = state["step"]
        state["exp_avg"] = lerp(state["exp_avg"], g, 1 - beta1)
        state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + (1 - beta2) * g * g
        second = state["exp_avg_sq"]
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = second = maximum(state["max_exp_avg_sq"], second)
        step_size = group["lr"] / (1 - beta1**t)
        denom = sqrt(second) / (1 - beta2**t) ** 0.5 + group["eps"]
        return x - div(step_size * state["exp_avg"], denom)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay.

    Same update as ``Adam``, except that the decay shrinks x directly instead of
    entering the gradient (so it is not rescaled by the moment estimates)::

        x <- x * (1 - lr * weight_decay)             (then the Adam step, without L2)

    Args: as ``Adam``, but weight_decay defaults to 1e-2.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )


class NAdam(Optimizer):
    """NAdam (Dozat, 2016): Adam with Nesterov momentum, as PyTorch implements it.

    Update at step t of each parameter x with gradient g (psi = momentum_decay)::

        g <- g + weight_decay * x                    (L2, if weight_decay != 0)
             (with decoupled_weight_decay: x <- x * (1 - lr * weight_decay) instead)
        mu_t <- beta1 * (1 - 0.5 * 0.96^(t * psi))
        P_t  <- mu_1 * mu_2 * ... * mu_t             (state "mu_product")
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        s <- sqrt(v / (1 - beta2^t)) + eps
        x <- x - lr * (1 - mu_t) / (1 - P_t) * g / s
               - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / s

    Args:
        params: Values, or dicts {"params": [...], option: value} (parameter groups).
        lr: learning rate (default 2e-3).
        betas: decay rates (beta1, beta2) of the two moment averages (default (0.9, 0.999)).
        eps: added to the denominator for stability (default 1e-8).
        weight_decay: weight decay (default 0).
        momentum_decay: psi, how fast the momentum schedule mu_t rises (default 4e-3).
        decoupled_weight_decay: decay x directly, as AdamW does (NAdamW) (default False).
        maximize: ascend the objective instead (default False).
    """

    checks: ClassVar[dict[str, Check]] = {
        **Optimizer.checks,
        "betas": betas_pair,
        "eps": EPS,
        "momentum_decay": in_range("momentum_decay value"),
        "decoupled_weight_decay": flag("decoupled_weight_decay"),
    }

    def __init__(
        self,
        params: Params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            {
                "lr": lr,
                "betas": betas,
                "eps": eps,
                "weight_decay": weight_decay,
                "momentum_decay": momentum_decay,
                "decoupled_weight_decay": decoupled_weight_decay,
                "maximize": maximize,
            },
        )

    def init_state(self, group: Mapping[str, Any]) -> State:
        return {"step": 0, "mu_product": 1.0, "exp_avg": 0.0, "exp_avg_sq": 0.0}

    def update(self, x: float, g: float, state: State, group: Mapping[str, Any]) -> float:
        beta1, beta2 = group["betas"]
        lr, psi = group["lr"], group["momentum_decay"]
        state["step"] += 1
        t = state["step"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        product = state["mu_product"]
        state["exp_avg"] = lerp(state["exp_avg"], g, 1 - beta1)
        state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + (1 - beta2) * g * g
        denom = sqrt(state["exp_avg_sq"] / (1 - beta2**t)) + group["eps"]
        x = x + div((-lr * (1.0 - mu) / (1.0 - product)) * g, denom)
        return x + div((-lr * mu_next / (1.0 - product * mu_next)) * state["exp_avg"], denom)
