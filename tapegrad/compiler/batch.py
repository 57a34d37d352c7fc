"""The checks at compiled mode's boundary: the ``labels`` option and each call's arrays."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import numpy as np

from .runtime import Batch


class Labels(NamedTuple):
    """The declared values of each labels argument, and a sorted copy to look them up."""

    values: dict[int, tuple]
    sorted_values: dict[int, np.ndarray]
    order: dict[int, np.ndarray]


def check_labels(labels: Mapping[int, Sequence[float]] | None) -> Labels:
    """The ``labels`` option checked: argument position -> the values it can take."""
    checked: dict[int, tuple] = {}
    if labels is not None and not isinstance(labels, Mapping):
        raise TypeError(
            "compile: labels must map argument positions to their values, "
            f"e.g. {{1: range(10)}}, got {labels!r}"
        )
    for position, values in (labels or {}).items():
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise ValueError(
                f"compile: labels keys are argument positions (int >= 0), got {position!r}"
            )
        values = tuple(values)
        if not values or any(
            isinstance(v, bool) or not isinstance(v, numbers.Real) for v in values
        ):
            raise ValueError(
                f"compile: labels[{position}] must be a non-empty list of numbers, got {values!r}"
            )
        if len({float(v) for v in values}) != len(values):
            raise ValueError(f"compile: labels[{position}] lists a value twice: {values!r}")
        checked[position] = values
    sorted_values, order = {}, {}
    for position, values in checked.items():
        as_numbers = np.array([float(v) for v in values])
        order[position] = np.argsort(as_numbers)
        sorted_values[position] = as_numbers[order[position]]
    return Labels(checked, sorted_values, order)


def read_batch(
    name: str, labels: Labels, batch: tuple, shapes: Sequence[tuple[int, ...] | None] | None
) -> tuple[Batch, list]:
    """The checked ``Batch`` of one call, and each argument's first sample (None for
    labels) to trace with. ``shapes``: the traced sample shapes (None before tracing)."""
    if not batch:
        raise TypeError(f"compiled {name}: expected at least one batch array")
    if shapes is not None and len(batch) != len(shapes):
        raise TypeError(
            f"compiled {name}: fn takes {len(shapes)} batch array(s), one per argument "
            f"(as traced), got {len(batch)}"
        )
    for position in labels.values:
        if position >= len(batch):
            raise ValueError(
                f"compiled {name}: labels name argument {position}, "
                f"but {len(batch)} arrays were given"
            )
    arrays: list[np.ndarray | None] = []
    label_parts, size = [], None
    for position, x in enumerate(batch):
        kind = "labels" if position in labels.values else "inputs"
        try:
            x = np.asarray(_real(x), dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"compiled {name}: argument {position} must be an array of "
                f"numbers ({kind}), got {type(batch[position]).__name__}: {error}"
            ) from None
        except OverflowError as error:  # an int beyond float's range, as Value(10**400)
            raise OverflowError(
                f"compiled {name}: argument {position} holds a number too large for a "
                f"float ({kind}): {error}"
            ) from None
        if x.ndim == 0:
            raise ValueError(
                f"compiled {name}: argument {position} is a single number; "
                "pass a batch, one entry per sample"
            )
        if len(x) == 0:
            raise ValueError(
                f"compiled {name}: argument {position} is an empty batch (0 samples); "
                "a call needs at least one sample"
            )
        if size is None:
            size = len(x)
        if len(x) != size:
            raise ValueError(
                f"compiled {name}: argument {position} has {len(x)} samples, "
                f"expected {size} (as argument 0)"
            )
        if kind == "labels":
            if x.ndim != 1:
                raise ValueError(
                    f"compiled {name}: labels (argument {position}) must be one "
                    f"number per sample, got shape {x.shape}"
                )
            label_parts.append(_label_index(name, labels, position, x))
            arrays.append(None)
        else:
            arrays.append(x)
    if shapes is not None:
        _check_shapes(name, arrays, shapes)
    label_index = None
    if label_parts:
        dims = [len(labels.values[p]) for p in sorted(labels.values)]
        label_index = np.ravel_multi_index(label_parts, dims)
    samples = cast(int, size)  # read from the first argument (there is one, checked above)
    inputs = [None if x is None else x.reshape(samples, -1).T for x in arrays]
    first = [None if x is None else x[0] for x in arrays]
    return Batch(inputs, label_index, samples), first


class Seen(NamedTuple):
    """A checked batch, and what makes the arrays of a later call the same batch: the
    same float64 arrays (the program reads views of them, so their new numbers are
    seen) of the same shapes, and labels with the same bytes (their indices were
    looked up)."""

    arrays: tuple
    kinds: tuple  # (shape, dtype) of each array
    labels: tuple  # the bytes of each labels array, None for inputs
    batch: Batch


def remember(labels: Labels, batch: tuple, checked: Batch) -> Seen | None:
    """The ``Seen`` of a checked batch, or None if its arrays cannot be reused (an
    input converted to float64 is a copy, which would not see new numbers)."""
    label_bytes: list[bytes | None] = []
    for position, x in enumerate(batch):
        if x.__class__ is not np.ndarray:
            return None
        if position in labels.values:
            label_bytes.append(x.tobytes())
        elif x.dtype != np.float64:
            return None
        else:
            label_bytes.append(None)
    return Seen(batch, tuple((x.shape, x.dtype) for x in batch), tuple(label_bytes), checked)


def seen_again(seen: Seen, batch: tuple) -> bool:
    """Whether ``batch`` is the batch ``seen`` was made from (and its checks hold)."""
    if len(batch) != len(seen.arrays):
        return False
    for x, old, kind, label in zip(batch, seen.arrays, seen.kinds, seen.labels):
        if x is not old or (x.shape, x.dtype) != kind:
            return False
        if label is not None and x.tobytes() != label:
            return False
    return True


def _real(x: Any) -> np.ndarray:
    """``x`` as an array of real numbers (bool, int or float), as eager mode's Value
    takes them. TypeError for complex numbers, strings and other objects, which a
    conversion to float would truncate, parse, or turn into NaN."""
    array = np.asarray(x)
    if array.dtype.kind in "biuf":
        return array
    if array.dtype.kind == "O":
        for element in array.flat:
            if not isinstance(element, numbers.Real):
                raise TypeError(f"{type(element).__name__} {element!r} is not a real number")
        return array
    example = f" (e.g. {array.flat[0].item()!r})" if array.size else ""
    raise TypeError(f"{array.dtype} entries{example} are not real numbers")


def _label_index(name: str, labels: Labels, position: int, y: np.ndarray) -> np.ndarray:
    """Each sample's label as an index into the declared values."""
    values, order = labels.sorted_values[position], labels.order[position]
    where = np.searchsorted(values, y)
    bad = values.take(where, mode="clip") != y
    if bad.any():
        raise ValueError(
            f"compiled {name}: label {float(y[bad][0])!r} (argument {position}, sample "
            f"{int(np.argmax(bad))}) is not one of the declared "
            f"{list(labels.values[position])}"
        )
    return order.take(where)


def _check_shapes(name: str, arrays: list, shapes: Sequence[Any]) -> None:
    for position, (x, shape) in enumerate(zip(arrays, shapes)):
        if x is not None and x.shape[1:] != shape:
            raise ValueError(
                f"compiled {name}: argument {position} has samples of shape "
                f"{x.shape[1:]}, but was traced with {shape}"
            )
