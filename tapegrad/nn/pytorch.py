"""Weights to and from PyTorch state dicts, without importing torch.

A ``torch.nn.Sequential`` of Linear, ReLU (or another activation) and BatchNorm1d has
the tapegrad twin ``nn.Sequential`` of ``Linear``, ``ReLU`` and ``BatchNorm1d`` at the
same positions; an ``nn.MLP(nin, sizes)`` is ``Sequential(Linear, ReLU, Linear, ReLU,
..., Linear)``: its layer i sits at position 2i. The names map as

    torch ``0.weight`` (out, in)   <->  row j is ``0.neurons.j.w`` (a Linear's)
    torch ``0.bias`` (out,)        <->  ``0.neurons.j.b``
    torch ``2.weight``, ``2.bias``  <->  ``2.gamma``, ``2.beta`` (BatchNorm1d, LayerNorm,
                                        GroupNorm)
    ``running_mean``, ``running_var``, ``num_batches_tracked``: the same names

Modules without parameters (ReLU, Tanh, Sigmoid, Dropout) have no entries in either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from .layers import MLP, BatchNorm1d, GroupNorm, LayerNorm, Linear, Neuron
from .module import IncompatibleKeys, Module, StateEntry


class _Entry(NamedTuple):
    """One tensor of PyTorch's state dict: its name, its shape, how to read it from the
    model, and the tapegrad state entries a value of that shape becomes."""

    key: str
    shape: tuple[int, ...]
    read: Callable[[], Any]
    write: Callable[[np.ndarray], dict[str, StateEntry]]


def _plan(op: str, model: Module) -> tuple[list[_Entry], dict[str, BatchNorm1d]]:
    """The tensors of ``model``'s PyTorch twin and its BatchNorm1d modules by the key of
    their ``num_batches_tracked``; ValueError (naming ``op``) for a model that has
    none, or has state the twin leaves out."""
    if not isinstance(model, Module):
        raise TypeError(f"{op}: expected a tapegrad Module, got {type(model).__name__} {model!r}")
    entries: list[_Entry] = []
    norms: dict[str, BatchNorm1d] = {}

    def visit(module: Module, torch_prefix: str, prefix: str, activation_ok: bool) -> None:
        if isinstance(module, Linear):
            linear(module, torch_prefix, prefix, activation_ok)
        elif isinstance(module, MLP):
            for i, layer in enumerate(module.layers):
                linear(layer, f"{torch_prefix}{2 * i}.", f"{prefix}layers.{i}.", True)
        elif isinstance(module, (BatchNorm1d, LayerNorm, GroupNorm)):
            norm(module, torch_prefix, prefix)
        else:
            for name, child in module.named_children():
                visit(child, f"{torch_prefix}{name}.", f"{prefix}{name}.", False)

    def linear(layer: Linear, tp: str, p: str, activation_ok: bool) -> None:
        neurons, where = layer.neurons, p[:-1] or type(layer).__name__
        if not activation_ok and any(n.activation != "linear" for n in neurons):
            raise ValueError(
                f"{op}: {where}: a Linear with activation "
                f"{neurons[0].activation!r} has no PyTorch twin (torch.nn.Linear has "
                "none): use Linear(..., activation='linear') followed by nn.ReLU()"
            )
        if any(type(n) is not Neuron for n in neurons):
            raise ValueError(
                f"{op}: {where}: a Linear with neurons of its own kind has no PyTorch twin"
            )
        shape = (len(neurons), layer.nin)
        entries.append(
            _Entry(
                f"{tp}weight",
                shape,
                lambda: [[w.data for w in n.w] for n in neurons],
                lambda a: {f"{p}neurons.{j}.w": row for j, row in enumerate(a.tolist())},
            )
        )
        if all(n.b is not None for n in neurons):
            entries.append(
                _Entry(
                    f"{tp}bias",
                    shape[:1],
                    lambda: [n.b.data for n in neurons if n.b is not None],
                    lambda a: {f"{p}neurons.{j}.b": b for j, b in enumerate(a.tolist())},
                )
            )

    def norm(module: BatchNorm1d | LayerNorm | GroupNorm, tp: str, p: str) -> None:
        for torch_name, name in (("weight", "gamma"), ("bias", "beta")):
            values = getattr(module, name)
            if values is not None:
                n = len(values)
                entries.append(_Entry(f"{tp}{torch_name}", (n,), _floats(values), _as(p + name)))
        if isinstance(module, BatchNorm1d):
            n = module.num_features
            for name in ("running_mean", "running_var"):
                entries.append(_Entry(f"{tp}{name}", (n,), _copy(module, name), _as(p + name)))
            key = f"{tp}num_batches_tracked"
            entries.append(_Entry(key, (), lambda: module.num_batches_tracked, _none))
            norms[key] = module

    visit(model, "", "", False)
    covered = {name for entry in entries for name in entry.write(np.zeros(entry.shape))}
    left = [name for name in model.state_dict() if name not in covered]
    if left:
        shown = ", ".join(left[:5]) + (f", ... ({len(left) - 5} more)" if len(left) > 5 else "")
        raise ValueError(
            f"{op}: {type(model).__name__} has state with no PyTorch twin: {shown} (a model "
            "of Linear, activations, Dropout, BatchNorm1d, LayerNorm, GroupNorm, nested in "
            "Sequential, ModuleList or modules of one's own, maps; parameters of its own "
            "do not)"
        )
    return entries, norms


def _floats(values: list) -> Callable[[], list[float]]:
    return lambda: [v.data for v in values]


def _copy(module: Module, name: str) -> Callable[[], list[float]]:
    return lambda: list(getattr(module, name))


def _as(name: str) -> Callable[[np.ndarray], dict[str, StateEntry]]:
    return lambda a: {name: a.tolist()}


def _none(a: np.ndarray) -> dict[str, StateEntry]:
    return {}


def torch_state_dict(model: Module) -> dict[str, Any]:
    """``model``'s weights as the state dict of its PyTorch twin (see
    ``load_torch_state_dict``): names such as
    ``0.weight`` (a list of ``out`` rows of ``in`` floats), ``0.bias``, and BatchNorm's
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` (an int).

    Plain nested lists: ``{k: torch.tensor(v, dtype=torch.float64) for k, v in
    ...items()}`` is a state dict that ``torch_model.load_state_dict`` takes (it copies
    each value into its tensor's dtype; ``torch.tensor(v)`` alone would round the
    numbers to float32 first).
    """
    entries, _ = _plan("torch_state_dict", model)
    return {entry.key: entry.read() for entry in entries}


def load_torch_state_dict(
    model: Module, state: Mapping[str, Any], strict: bool = True
) -> IncompatibleKeys:
    """Copy a PyTorch state dict into ``model``, its tapegrad twin; returns the
    ``(missing_keys, unexpected_keys)`` in PyTorch's names.

    The twin of a ``torch.nn.Sequential`` of Linear, activations and BatchNorm1d (or
    LayerNorm, GroupNorm, Dropout) is the ``nn.Sequential`` of the same modules at the
    same positions: row j of ``0.weight`` is ``0.neurons.j.w``, a norm's ``weight`` and
    ``bias`` are its ``gamma`` and ``beta``. An ``nn.MLP`` is the twin of Linear,
    activation, Linear, ..., Linear: its layer i is at position 2i.

    Values may be tensors, NumPy arrays, nested lists, or anything with ``tolist()``.
    A missing or unexpected key (with ``strict``), a shape that differs from the
    model's, or a value that is not a finite number is refused with a ValueError
    listing every such key, and nothing is changed.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"load_torch_state_dict: expected a dict, got {type(state).__name__}")
    if not isinstance(strict, bool):
        raise TypeError(f"load_torch_state_dict: strict must be a bool, got {strict!r}")
    entries, norms = _plan("load_torch_state_dict", model)
    keys = {entry.key for entry in entries}
    missing = [entry.key for entry in entries if entry.key not in state]
    unexpected = [str(key) for key in state if key not in keys]
    problems = []
    if strict and missing:
        problems.append(f"missing {len(missing)} entries: {', '.join(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected {len(unexpected)} entries: {', '.join(unexpected)}")
    loaded: dict[str, StateEntry] = {}
    counts: dict[str, int] = {}
    for entry in entries:
        if entry.key not in state:
            continue
        array, problem = _array(state[entry.key], entry.shape)
        if problem is not None:
            problems.append(f"{entry.key}: {problem}")
        elif entry.key in norms:
            if not float(array).is_integer() or array < 0:
                problems.append(f"{entry.key}: expected a count (an int >= 0), got {array}")
            else:
                counts[entry.key] = int(array)
        else:
            loaded.update(entry.write(array))
    if problems:
        raise ValueError(
            f"load_torch_state_dict: state does not fit this {type(model).__name__}:\n  "
            + "\n  ".join(problems)
        )
    model.load_state_dict(loaded, strict=False)
    for key, count in counts.items():
        norms[key].num_batches_tracked = count
    return IncompatibleKeys(missing, unexpected)


def _array(value: object, shape: tuple[int, ...]) -> tuple[np.ndarray, str | None]:
    """``value`` as a float64 array and what makes it unfit for ``shape`` (None: nothing)."""
    raw = value.tolist() if hasattr(value, "tolist") else value
    if isinstance(raw, (str, bytes)):
        return np.zeros(0), f"expected numbers of shape {shape}, got {raw!r}"
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        shown = repr(raw)
        shown = shown if len(shown) <= 60 else shown[:60] + "..."
        return np.zeros(0), f"expected numbers of shape {shape}, got {shown}"
    if array.shape != shape:
        return array, f"expected shape {shape}, got {array.shape}"
    if not np.isfinite(array).all():
        return array, "holds a value that is not a finite number"
    return array, None
