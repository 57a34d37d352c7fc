"""Optimizer base: parameter groups, per-parameter state, zero_grad, state_dict.

An optimizer only reads ``p.data`` and ``p.grad`` of each parameter and writes
``p.data``. A parameter whose ``grad`` is None (no backward reached it since
``zero_grad``, or it requires no gradient) is skipped, as PyTorch skips it: no state
is created for it and no weight decay applied. A parameter is a Value (one float) or
a ``FlatParameters`` (``compiled.flat()``: a whole vector of them), and the same
update rule runs on either: rules use operators and ``optim._math``'s ``sqrt`` /
``maximum``, so their state holds floats or arrays of the parameter's shape.
Subclasses say three things: their hyper-parameter checks, the state a parameter
starts with, and the update of one number; the loop, weight decay, ``maximize`` and
the bookkeeping live here.
"""

from __future__ import annotations

import abc
import copy
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..autograd import Value, enable_grad
from ._flat import FlatVector, is_flat
from .checks import LR, MAXIMIZE, WEIGHT_DECAY, Check

Parameter = Value | FlatVector
Params = Iterable[Parameter] | Iterable[dict[str, Any]]
State = dict[str, Any]


def lerp(start: float, end: float, weight: float) -> float:
    """start + weight * (end - start): a moving average, rounded as torch.lerp rounds.

    The two branches are equal in exact arithmetic; PyTorch picks one by |weight|
    for accuracy, and picking the same keeps our averages on PyTorch's numbers.
    """
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


def _listed(params: Any, name: str) -> list:
    """``list(params)``, or a TypeError naming the optimizer for what cannot be listed."""
    try:
        return list(params)
    except TypeError:
        raise TypeError(
            f"{name}: params must be a Value, a list of Values or a list of parameter "
            f"groups, got {type(params).__name__} {params!r}"
        ) from None


class Optimizer(abc.ABC):
    """Base class: holds ``param_groups`` (dicts of params + hyper-parameters) and
    ``state`` (one dict per parameter, created on its first step).

    Subclasses set ``checks`` (hyper-parameter name -> check) and implement
    ``init_state(group)`` and ``update(x, g, state, group) -> new x``, where g is the
    gradient after ``maximize`` and coupled weight decay have been applied.
    """

    checks: ClassVar[dict[str, Check]] = {
        "lr": LR,
        "weight_decay": WEIGHT_DECAY,
        "maximize": MAXIMIZE,
    }

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        self._check(defaults)
        self.defaults = dict(defaults)
        self.state: dict[Parameter, State] = {}
        self.param_groups: list[dict[str, Any]] = []
        # A lone Value is one parameter; a set is refused by _param_list (unordered).
        single = isinstance(params, (Value, set, frozenset)) or is_flat(params)
        groups = [{"params": params}] if single else _listed(params, type(self).__name__)
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # --- groups and validation ----------------------------------------------------

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group of parameters; options it leaves out take the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{name}: param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: param_group has no 'params' entry")
        unknown = set(param_group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(
                f"{name}: unknown hyper-parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.defaults)}"
            )
        group = {**self.defaults, **param_group, "params": self._param_list(param_group["params"])}
        self._check(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            raise ValueError(f"{name}: a parameter appears twice in one parameter group")
        if any(id(p) in seen for p in group["params"]):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _param_list(self, params: Any) -> Sequence[Parameter]:
        if isinstance(params, Value) or is_flat(params):
            return [params]
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{type(self).__name__}: parameters must be in an ordered collection "
                "(a set's order changes between runs); use a list"
            )
        params = _listed(params, type(self).__name__)
        for p in params:
            if not (isinstance(p, Value) or is_flat(p)):
                raise TypeError(
                    f"{type(self).__name__} can only optimize Values, "
                    f"but one of the params is {type(p).__name__} "
                    "(a FlatParameters from compiled.flat() is also accepted)"
                )
        return params

    def _check(self, group: Mapping[str, Any]) -> None:
        for key, check in self.checks.items():
            if key in group:
                check(group[key])
        self.check_group(group)

    def check_group(self, group: Mapping[str, Any]) -> None:  # noqa: B027 (a hook, empty here)
        """Checks that involve several hyper-parameters at once (none by default)."""

    # --- the update loop ----------------------------------------------------------

    def init_state(self, group: Mapping[str, Any]) -> State:
        """The state a parameter starts with (before its first step)."""
        return {}

    @abc.abstractmethod
    def update(self, x: float, g: float, state: State, group: Mapping[str, Any]) -> float:
        """One step: the new value of x given its gradient g, both floats (a Value)
        or both arrays (a FlatParameters); write it with operators and ``_math``."""

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns closure() if given.

        Before ``update``: g <- -g if maximize; then either
        g <- g + weight_decay * x (L2 penalty, coupled), or, with
        decoupled_weight_decay, x <- x * (1 - lr * weight_decay).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._check_gradients()
        for group in self.param_groups:
            decay = group.get("weight_decay", 0.0)
            decoupled = group.get("decoupled_weight_decay", False)
            maximize = group.get("maximize", False)
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self.init_state(group)
                x = p.data
                if maximize:
                    g = -g
                if decay != 0:
                    if decoupled:
                        x = x * (1 - group["lr"] * decay)
                    else:
                        g = g + decay * x
                p.data = self.update(x, g, state, group)
        return loss

    def _check_gradients(self) -> None:
        """Refuse, before any parameter changes, a gradient that is not a real number a
        float can hold (one assigned by hand: ``p.grad = "0.1"``)."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g.__class__ is not float and g is not None and not is_flat(p):
                    self._check_gradient(p, g)

    def _check_gradient(self, p: Parameter, g: Any) -> None:
        """The checks of one gradient that is not a float; the error names its parameter
        by number, found only then (the common all-float step pays no counting)."""
        error: type[Exception]
        if isinstance(g, bool) or not isinstance(g, numbers.Real):
            problem, error = "not a real number", TypeError
        else:
            try:
                float(g)
                return
            except OverflowError:
                problem, error = "too large for a float", OverflowError
        params = (q for group in self.param_groups for q in group["params"])
        index = next(i for i, q in enumerate(params) if q is p)
        raise error(
            f"{type(self).__name__}.step: the gradient of parameter {index} is "
            f"{type(g).__name__} {g!r}, {problem}; nothing was updated"
        )

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: None (PyTorch's default; ``step`` then
        skips a parameter the next backward does not reach), or zeros with
        ``set_to_none=False`` (for the gradients that are set, as PyTorch)."""
        # Written out, not a call of zero_grad per parameter (that takes half as long
        # again); a FlatParameters takes None, as 0.0, for zeros.
        if set_to_none:
            for group in self.param_groups:
                for p in group["params"]:
                    p.grad = None
        else:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad = 0.0

    # --- saving and resuming ------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain data: {"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}.

        Parameters are numbered in group order, as in PyTorch; the Values themselves
        are not saved. The result is a copy: later steps do not change it. The state
        of a FlatParameters (arrays) is saved as lists, so the result is JSON-safe.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in s.items()}
            for p, s in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state saved by ``state_dict()``.

        Everything is validated before anything changes: the group layout must match
        this optimizer's, every hyper-parameter must pass its check, and each
        parameter's state must have exactly the entries this optimizer keeps.
        Integer keys that went through JSON (as strings) are accepted.
        """
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: expected a dict with 'state' and "
                "'param_groups'"
            )
        saved_state = state_dict["state"]
        if not isinstance(saved_state, Mapping):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: 'state' is {saved_state!r}, "
                "expected a dict of per-parameter state"
            )
        groups, by_index = self._loaded_groups(state_dict["param_groups"])
        state = {}
        for key, saved in saved_state.items():
            index = int(key) if isinstance(key, str) and key.isdigit() else key
            if index not in by_index:
                raise ValueError(
                    f"{type(self).__name__}: loaded state is for parameter {key!r}, "
                    "which no group lists"
                )
            p, group = by_index[index]
            state[p] = self._loaded_state(index, saved, group, p)
        for current, group in zip(self.param_groups, groups, strict=True):
            current.clear()
            current.update(group)
        self.state = state

    def _loaded_groups(self, saved_groups: Any) -> tuple[list[dict[str, Any]], dict[Any, Any]]:
        """Checked copies of saved groups holding our Values, and index -> (Value, group)."""
        name = type(self).__name__
        if not isinstance(saved_groups, list) or len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}: loaded state dict has a different number of parameter groups"
            )
        groups, by_index = [], {}
        for number, (current, saved) in enumerate(
            zip(self.param_groups, saved_groups, strict=True)
        ):
            indices = saved.get("params") if isinstance(saved, Mapping) else None
            if not isinstance(indices, (list, tuple)) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in indices
            ):
                raise ValueError(
                    f"{name}: loaded parameter group {number} is {saved!r}, expected a dict "
                    "whose 'params' is a list of parameter indices"
                )
            if len(indices) != len(current["params"]):
                raise ValueError(
                    f"{name}: loaded state dict contains a parameter group "
                    "that doesn't match the size of optimizer's group"
                )
            missing = set(self.defaults) - set(saved)
            if missing:
                raise ValueError(f"{name}: loaded parameter group lacks {sorted(missing)}")
            group = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            self._check(group)
            group["params"] = current["params"]
            groups.append(group)
            for index, p in zip(saved["params"], current["params"], strict=True):
                by_index[index] = (p, group)
        if len(by_index) != sum(len(g["params"]) for g in groups):
            raise ValueError(f"{name}: loaded state dict numbers two parameters the same")
        return groups, by_index

    def _loaded_state(
        self, index: int, saved: Any, group: Mapping[str, Any], p: Parameter
    ) -> State:
        """A checked copy of one parameter's saved state (lists back to arrays for a
        FlatParameters)."""
        name = type(self).__name__
        expected = sorted(self.init_state(group))
        if not isinstance(saved, Mapping) or sorted(saved) != expected:
            got = sorted(saved) if isinstance(saved, Mapping) else type(saved).__name__
            raise ValueError(
                f"{name}: loaded state of parameter {index} has {got}, expected {expected}"
            )
        state = dict(saved)
        for key, value in saved.items():
            number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if is_flat(p) and isinstance(value, (list, np.ndarray)):
                state[key] = self._loaded_array(index, key, value, p.data.size)
            elif value is not None and not number:
                raise ValueError(
                    f"{name}: loaded state {key!r} of parameter {index} is {value!r}, not a number"
                )
        return state

    def _loaded_array(self, index: int, key: str, value: Any, size: int) -> np.ndarray:
        """A saved list as a float64 array of one FlatParameters' size."""
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        if array is None or array.shape != (size,):
            raise ValueError(
                f"{type(self).__name__}: loaded state {key!r} of parameter {index} is not "
                f"a list of {size} numbers (one per flat parameter)"
            )
        return array

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join([*lines, ")"])
