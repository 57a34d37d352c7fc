"""Learning-rate schedules: step decay, exponential decay, cosine annealing, and
decay when a validation metric stops improving. PyTorch's semantics: call
``scheduler.step()`` once per epoch, after the epoch's ``optimizer.step()`` calls.

The epoch-driven schedules update each group's "lr" recursively from its current
value, as PyTorch does, so they compose with other changes to the rate and give
PyTorch's numbers; each docstring also states the closed form they follow.
"""

from __future__ import annotations

import abc
import copy
import math
from collections.abc import Mapping
from typing import Any

from .checks import in_range, integer, positive
from .optimizer import Optimizer


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


class _Scheduler:
    """What every schedule shares: its optimizer, the rates its last step set, and
    state_dict / load_state_dict over its attributes (not the optimizer)."""

    optimizer: Optimizer
    _last_lr: list[float]

    def current_lrs(self) -> list[float]:
        """The rate each group has now."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates set by the most recent step (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer, as plain data."""
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore attributes saved by ``state_dict()`` of the same kind of scheduler."""
        expected = set(self.state_dict())
        if not isinstance(state_dict, Mapping) or set(state_dict) != expected:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: expected keys {sorted(expected)}, "
                f"got {got}"
            )
        vars(self).update(copy.deepcopy(dict(state_dict)))


class LRScheduler(_Scheduler, abc.ABC):
    """Base of the epoch-driven schedules: ``last_epoch`` counts ``step()`` calls.

    Creating a scheduler records each group's starting rate as "initial_lr" (kept in
    ``base_lrs``) and takes one step, as PyTorch's does: a new schedule is then at
    epoch 0 with the rates unchanged, and ``last_epoch=k`` (resuming, with "initial_lr"
    read from the groups) sets the rates of epoch k + 1.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer)
        integer("last_epoch", -1)(last_epoch)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{i}] "
                    "when resuming a scheduler (last_epoch >= 0)"
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch + 1
        self._set(self.current_lrs() if self.last_epoch == 0 else self._resumed_lrs())

    def _resumed_lrs(self) -> list[float]:
        """The rates of epoch ``last_epoch`` (at least 1) when a schedule is resumed there."""
        return self.get_lr()

    def _set(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = self.current_lrs()

    @abc.abstractmethod
    def get_lr(self) -> list[float]:
        """The rates for epoch ``last_epoch`` from those of the epoch before; called by
        ``step()`` (read the current rates with ``get_last_lr()``)."""

    def step(self) -> None:
        """Advance one epoch and set every group's "lr"."""
        self.last_epoch += 1
        self._set(self.get_lr())


class StepLR(LRScheduler):
    """Step decay: multiply the rate by gamma every step_size epochs.

    lr_epoch = initial_lr * gamma ** (epoch // step_size)
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        integer("step_size", 1)(step_size)
        positive("gamma")(gamma)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch % self.step_size != 0:
            return self.current_lrs()
        return [lr * self.gamma for lr in self.current_lrs()]


class ExponentialLR(LRScheduler):
    """Exponential decay: multiply the rate by gamma every epoch.

    lr_epoch = initial_lr * gamma ** epoch
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        positive("gamma")(gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [lr * self.gamma for lr in self.current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from initial_lr down to eta_min over T_max epochs (no restarts).

        lr_epoch = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    followed through the recursion
    lr_e = eta_min + (lr_{e-1} - eta_min) * (1 + cos(pi e / T)) / (1 + cos(pi (e-1) / T)).
    Past T_max the rate climbs back, as in PyTorch (the cosine has period 2 * T_max).
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        integer("T_max", 1)(T_max)
        in_range("eta_min")(eta_min)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _resumed_lrs(self) -> list[float]:
        # PyTorch's first step of a resumed schedule: the closed form from initial_lr.
        epoch, period, low = self.last_epoch, self.T_max, self.eta_min
        return [
            low + (base - low) * (1 + math.cos(epoch * math.pi / period)) / 2
            for base in self.base_lrs
        ]

    def get_lr(self) -> list[float]:
        epoch, period, low = self.last_epoch, self.T_max, self.eta_min
        if (epoch - 1 - period) % (2 * period) == 0:
            # The recursion's denominator 1 + cos(pi) is 0 here: step up from the bottom.
            return [
                lr + (base - low) * (1 - math.cos(math.pi / period)) / 2
                for lr, base in zip(self.current_lrs(), self.base_lrs, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (
            1 + math.cos(math.pi * (epoch - 1) / period)
        )
        return [ratio * (lr - low) + low for lr in self.current_lrs()]


class ReduceLROnPlateau(_Scheduler):
    """Decay on validation error: multiply the rate by factor when a metric stalls.

    Call ``step(metric)`` once per epoch. An epoch improves on the best metric so far
    if (mode "min") metric < best * (1 - threshold) ("rel") or < best - threshold
    ("abs"); "max" mode mirrors this. After more than ``patience`` epochs without
    improvement, lr <- max(lr * factor, min_lr) (skipped if that changes lr by no more
    than eps), then ``cooldown`` epochs pass before bad epochs count again.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r} (expected 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"Invalid threshold_mode: {threshold_mode!r} (expected 'rel' or 'abs')"
            )
        in_range("factor", 0.0, 1.0, high_open=True)(factor)
        integer("patience", 0)(patience)
        in_range("threshold")(threshold)
        integer("cooldown", 0)(cooldown)
        in_range("eps")(eps)
        groups = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * groups
        if len(min_lrs) != groups:
            raise ValueError(f"Invalid min_lr: expected {groups} values, got {len(min_lrs)}")
        for value in min_lrs:
            in_range("min_lr")(value)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lrs, self.eps = cooldown, min_lrs, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = self.current_lrs()

    def is_better(self, metric: float) -> bool:
        """Whether ``metric`` improves on the best so far by more than the threshold."""
        best, threshold = self.best, self.threshold
        relative = self.threshold_mode == "rel"
        if self.mode == "min":
            return metric < (best * (1 - threshold) if relative else best - threshold)
        return metric > (best * (1 + threshold) if relative else best + threshold)

    def step(self, metrics: float) -> None:
        """Record one epoch's metric (e.g. validation loss) and decay the rate if stalled."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                new_lr = max(group["lr"] * self.factor, min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self.current_lrs()
