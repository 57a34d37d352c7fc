"""Learning-rate schedules: step and multi-step decay, exponential decay, cosine
annealing, linear warm-up, a factor from a function, the one-cycle policy, schedules in
sequence, and decay when a validation metric stops improving. PyTorch's semantics
(2.13): call ``scheduler.step()`` once per epoch (OneCycleLR: once per batch), after
the epoch's ``optimizer.step()`` calls.

The epoch-driven schedules update each group's "lr" recursively from its current
value, as PyTorch does, so they compose with other changes to the rate and give
PyTorch's numbers; each docstring also states the closed form they follow.
"""

from __future__ import annotations

import abc
import copy
import math
import numbers
import types
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .checks import flag, in_range, integer, positive
from .optimizer import Optimizer

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]


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
        self._check_keys(state_dict)
        vars(self).update(copy.deepcopy(dict(state_dict)))

    def _check_keys(self, state_dict: Any) -> None:
        expected = set(self.state_dict())
        if not isinstance(state_dict, Mapping) or set(state_dict) != expected:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: expected keys {sorted(expected)}, "
                f"got {got}"
            )


class LRScheduler(_Scheduler, abc.ABC):
    """Base of the epoch-driven schedules: ``last_epoch`` counts ``step()`` calls.

    Creating a scheduler records each group's starting rate as "initial_lr" (kept in
    ``base_lrs``) and takes one step, as PyTorch's does: a new schedule is then at
    epoch 0. Resuming with ``last_epoch=k`` reads "initial_lr" from the groups (saved
    with the optimizer's state) and moves to epoch k + 1; as in PyTorch 2.13, that step
    leaves the rates as they are for ExponentialLR, CosineAnnealingLR and LinearLR, and
    sets epoch k + 1's rates for the others.
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
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The step creation takes, to epoch ``last_epoch + 1``."""
        self.last_epoch += 1
        self._set(self._initial_lrs())

    def _initial_lrs(self) -> list[float]:
        """The rates set by the creation step: by default ``get_lr()``'s."""
        return self.get_lr()

    def _start_lrs(self) -> list[float]:
        """The rates of epoch 0 from ``base_lrs``: where a SequentialLR starts this
        schedule at its milestone (PyTorch's closed form at epoch 0)."""
        return list(self.base_lrs)

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
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.current_lrs()
        return [lr * self.gamma for lr in self.current_lrs()]


class MultiStepLR(LRScheduler):
    """Decay at milestones: multiply the rate by gamma at each epoch in ``milestones``
    (by gamma ** n at an epoch listed n times).

    lr_epoch = initial_lr * gamma ** (number of milestones <= epoch)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(milestones, Iterable) or isinstance(milestones, (str, bytes)):
            raise TypeError(f"Invalid milestones: {milestones!r} (expected a list of epochs)")
        epochs = sorted(milestones)
        for epoch in epochs:
            integer("milestone", 0)(epoch)
        positive("gamma")(gamma)
        self.milestones = epochs
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        times = self.milestones.count(self.last_epoch)
        if times == 0:
            return self.current_lrs()
        return [lr * self.gamma**times for lr in self.current_lrs()]

    def _start_lrs(self) -> list[float]:
        return [base * self.gamma ** self.milestones.count(0) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Exponential decay: multiply the rate by gamma every epoch.

    lr_epoch = initial_lr * gamma ** epoch
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        positive("gamma")(gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _initial_lrs(self) -> list[float]:
        return self.current_lrs()

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

    def _initial_lrs(self) -> list[float]:
        return self.current_lrs()

    def _start_lrs(self) -> list[float]:
        # The closed form at epoch 0, rounded as PyTorch's: not always initial_lr exactly.
        low = self.eta_min
        return [low + (base - low) * (1 + math.cos(0.0)) / 2 for base in self.base_lrs]

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


class LinearLR(LRScheduler):
    """Linear warm-up (or decay): the rate moves in a straight line from initial_lr *
    start_factor to initial_lr * end_factor over total_iters epochs, then stays.

    lr_epoch = initial_lr * (start_factor + (end_factor - start_factor)
    * min(epoch, total_iters) / total_iters)

    followed through PyTorch's recursion lr_e = lr_{e-1} * (1 + (end_factor -
    start_factor) / (total_iters * start_factor + (e - 1) * (end_factor - start_factor))).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        in_range("start_factor", -math.inf)(start_factor)
        in_range("end_factor", -math.inf)(end_factor)
        if not 0 < start_factor <= 1:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or "
                f"equal to 1. Got start_factor={start_factor!r}."
            )
        if not 0 <= end_factor <= 1:
            raise ValueError(
                "Ending multiplicative factor expected to be between 0 and 1. "
                f"Got end_factor={end_factor!r}."
            )
        integer("total_iters", 1)(total_iters)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def _initial_lrs(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self.current_lrs()]
        return self.current_lrs()

    def _start_lrs(self) -> list[float]:
        return [base * self.start_factor for base in self.base_lrs]

    def get_lr(self) -> list[float]:
        if self.last_epoch > self.total_iters:
            return self.current_lrs()
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (
            self.total_iters * self.start_factor + (self.last_epoch - 1) * change
        )
        return [lr * ratio for lr in self.current_lrs()]


class LambdaLR(LRScheduler):
    """The initial rate times a factor computed from the epoch.

    lr_epoch = initial_lr * lr_lambda(epoch)

    ``lr_lambda`` is one function for every group, or a list of one per group. As in
    PyTorch, ``state_dict()`` saves the attributes (``__dict__``) of a lambda that is a
    callable object, and ``None`` for a plain function or lambda (code is not saved).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(f"Expected {groups} lr_lambdas, but got {len(lr_lambda)}")
            lambdas = list(lr_lambda)
        else:
            lambdas = [lr_lambda] * groups
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {fn!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = []
        for fn, base in zip(self.lr_lambdas, self.base_lrs, strict=True):
            factor = fn(self.last_epoch)
            if isinstance(factor, bool) or not isinstance(factor, numbers.Real):
                raise TypeError(
                    f"LambdaLR: lr_lambda({self.last_epoch}) returned {factor!r}, not a real number"
                )
            lrs.append(base * factor)
        return lrs

    def _start_lrs(self) -> list[float]:
        return self.get_lr()

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer; for each lambda, its ``__dict__`` if it
        is a callable object, else None."""
        state = {
            k: copy.deepcopy(v)
            for k, v in vars(self).items()
            if k not in ("optimizer", "lr_lambdas")
        }
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else copy.deepcopy(vars(fn))
            for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``; a saved callable object's attributes go back into
        this scheduler's lambda of the same group."""
        self._check_keys(state_dict)
        saved = state_dict["lr_lambdas"]
        if not isinstance(saved, list) or len(saved) != len(self.lr_lambdas):
            raise ValueError(
                f"LambdaLR.load_state_dict: lr_lambdas is {saved!r}, expected a list of "
                f"{len(self.lr_lambdas)} entries (None or a dict)"
            )
        vars(self).update({k: copy.deepcopy(v) for k, v in state_dict.items() if k != "lr_lambdas"})
        for fn, attributes in zip(self.lr_lambdas, saved, strict=True):
            if attributes is not None:
                vars(fn).update(copy.deepcopy(attributes))


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list:
    """``value`` once per parameter group: a list or tuple of one per group, or one
    value for all (PyTorch's _format_param)."""
    groups = len(optimizer.param_groups)
    if not isinstance(value, (list, tuple)):
        return [value] * groups
    if len(value) != groups:
        raise ValueError(
            f"{name} must have the same length as optimizer.param_groups. "
            f"{name} has {len(value)} values, param_groups has {groups}."
        )
    return list(value)


class OneCycleLR(LRScheduler):
    """The one-cycle policy, stepped once per batch (``total_steps`` steps in all, or
    ``epochs * steps_per_epoch``).

    The rate climbs from initial_lr = max_lr / div_factor to max_lr over the first
    ``pct_start`` of the steps, then anneals to min_lr = initial_lr / final_div_factor
    (``three_phase``: back down to initial_lr by 2 * pct_start, then to min_lr). Within
    a phase from a to b, with p the fraction of the phase done, the value is
    b + (a - b) / 2 * (1 + cos(pi p)) ("cos") or (b - a) p + a ("linear"). With
    ``cycle_momentum`` the momentum moves the other way, from max_momentum down to
    base_momentum and back: the group's "momentum" (SGD, RMSprop) or betas[0] (Adam,
    AdamW, NAdam). The groups keep "initial_lr", "max_lr", "min_lr", "max_momentum"
    and "base_momentum", as PyTorch's. Stepping past ``total_steps`` is an error.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        integer("last_epoch", -1)(last_epoch)
        if total_steps is not None:
            if not _positive_int(total_steps):
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not _positive_int(epochs):
                raise ValueError(f"Expected positive integer epochs, but got {epochs}")
            if not _positive_int(steps_per_epoch):
                raise ValueError(
                    f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}"
                )
            steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        flag("cycle_momentum")(cycle_momentum)
        flag("three_phase")(three_phase)
        positive("div_factor")(div_factor)
        positive("final_div_factor")(final_div_factor)
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        for value in max_lrs:
            in_range("max_lr")(value)
        self.total_steps = steps
        self._anneal_func_type = anneal_strategy
        self._schedule_phases = _phases(pct_start, steps, three_phase)
        self.cycle_momentum = cycle_momentum
        self.use_beta1 = "betas" in optimizer.defaults
        if cycle_momentum and not self.use_beta1 and "momentum" not in optimizer.defaults:
            raise ValueError(
                "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
            )
        momentum_keys = ("max_momentum", "base_momentum") if cycle_momentum else ()
        if last_epoch == -1:
            groups = optimizer.param_groups
            for group, top in zip(groups, max_lrs, strict=True):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
            if cycle_momentum:
                highs = _per_group("max_momentum", optimizer, max_momentum)
                lows = _per_group("base_momentum", optimizer, base_momentum)
                below = 1.0 if self.use_beta1 else math.inf  # a beta is below 1
                for group, high, low in zip(groups, highs, lows, strict=True):
                    in_range("max_momentum", 0.0, below, high_open=True)(high)
                    in_range("base_momentum", 0.0, below, high_open=True)(low)
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        for i, group in enumerate(optimizer.param_groups):
            for key in ("initial_lr", "max_lr", "min_lr", *momentum_keys):
                if key not in group:
                    raise KeyError(
                        f"param {key!r} is not specified in param_groups[{i}] "
                        "when resuming OneCycleLR (last_epoch >= 0)"
                    )
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        """The rates of step ``last_epoch``; also sets each group's momentum (with
        ``cycle_momentum``)."""
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"Tried to step {step} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        start = 0.0
        last = len(self._schedule_phases) - 1
        for i, phase in enumerate(self._schedule_phases):
            end = phase["end_step"]
            if step <= end or i == last:
                break
            start = end
        if end == start:
            raise ValueError(
                f"OneCycleLR: step {step} falls in a phase of no steps (from {start} to "
                f"{end}); choose pct_start so that every phase has steps"
            )
        pct = (step - start) / (end - start)
        lrs = []
        for group in self.optimizer.param_groups:
            lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
            if self.cycle_momentum:
                low, high = group[phase["start_momentum"]], group[phase["end_momentum"]]
                self._set_momentum(group, self._anneal(low, high, pct))
        return lrs

    def _start_lrs(self) -> list[float]:
        return self.get_lr()


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _phases(pct_start: float, steps: int, three_phase: bool) -> list[dict[str, Any]]:
    """OneCycleLR's phases (PyTorch's, its end steps rounded as it rounds them): the
    step each ends at and the group keys of the rate and momentum it goes from and to."""
    up = {"start_lr": "initial_lr", "end_lr": "max_lr"}
    up_momentum = {"start_momentum": "max_momentum", "end_momentum": "base_momentum"}
    down_momentum = {"start_momentum": "base_momentum", "end_momentum": "max_momentum"}
    if not three_phase:
        return [
            {"end_step": float(pct_start * steps) - 1, **up, **up_momentum},
            {"end_step": steps - 1, "start_lr": "max_lr", "end_lr": "min_lr", **down_momentum},
        ]
    return [
        {"end_step": float(pct_start * steps) - 1, **up, **up_momentum},
        {
            "end_step": float(2 * pct_start * steps) - 2,
            "start_lr": "max_lr",
            "end_lr": "initial_lr",
            **down_momentum,
        },
        {
            "end_step": steps - 1,
            "start_lr": "initial_lr",
            "end_lr": "min_lr",
            "start_momentum": "max_momentum",
            "end_momentum": "max_momentum",
        },
    ]


class SequentialLR(_Scheduler):
    """Schedules one after the other: ``schedulers[0]`` until ``milestones[0]``, then
    ``schedulers[1]`` from its epoch 0, and so on (warm-up then decay: a LinearLR,
    then a CosineAnnealingLR from the milestone). All belong to ``optimizer``.

    As PyTorch's: creating it puts every group back at its "initial_lr", undoes the
    creation step of each schedule and starts the first one again; at a milestone the
    next schedule starts from its closed form at epoch 0. ``state_dict()`` holds the
    state dict of each schedule.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        integer("last_epoch", -1)(last_epoch)
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("SequentialLR expects at least one scheduler, but got no scheduler.")
        for i, scheduler in enumerate(schedulers):
            if isinstance(scheduler, ReduceLROnPlateau):
                raise ValueError(
                    "SequentialLR does not support `ReduceLROnPlateau` scheduler as it requires "
                    "additional kwargs to be specified when calling `step`, but got one at "
                    f"index {i} in the given schedulers sequence."
                )
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(
                    f"SequentialLR: the scheduler at index {i} is {type(scheduler).__name__}, "
                    "not an epoch-driven schedule (an LRScheduler)"
                )
            if scheduler.optimizer is not optimizer:
                raise ValueError(
                    "SequentialLR expects all schedulers to belong to the same optimizer, but "
                    f"got scheduler {type(scheduler).__name__} at index {i} with another "
                    "optimizer"
                )
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more "
                f"than the number of milestone points, but got number of schedulers "
                f"{len(schedulers)} and the number of milestones to be equal to {len(milestones)}"
            )
        for milestone in milestones:
            integer("milestone", 0)(milestone)
        if milestones != sorted(set(milestones)):
            raise ValueError(f"Invalid milestones: {milestones} (expected increasing epochs)")
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in schedulers:
            scheduler.last_epoch -= 1
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        """Advance one epoch: step the schedule whose turn it is, or start the next one."""
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler.last_epoch = 0
            scheduler._set(scheduler._start_lrs())
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer, the schedules as their state dicts."""
        state = {
            k: copy.deepcopy(v)
            for k, v in vars(self).items()
            if k not in ("optimizer", "_schedulers")
        }
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()``, each schedule from its own state dict."""
        self._check_keys(state_dict)
        saved = state_dict["_schedulers"]
        if not isinstance(saved, list) or len(saved) != len(self._schedulers):
            raise ValueError(
                f"SequentialLR.load_state_dict: _schedulers is not a list of "
                f"{len(self._schedulers)} state dicts"
            )
        for scheduler, state in zip(self._schedulers, saved, strict=True):
            scheduler.load_state_dict(state)
        vars(self).update(
            {k: copy.deepcopy(v) for k, v in state_dict.items() if k != "_schedulers"}
        )


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
