"""Stage 4, runtime: a ``Program`` + a ``Batch`` + the parameters -> outputs or a loss.

The inputs are (rows, batch) arrays, one column per sample; the parameters one
column (rows, 1) in the schedule's layout. When fn takes labels, the program
computes every traced label's outputs and each sample picks its own.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .codegen import Program


class Batch(NamedTuple):
    """A checked batch: ``inputs[a]`` (rows, size) per argument (None for labels), and
    each sample's label combination as an index into the traced ones (or None)."""

    inputs: list[np.ndarray | None]
    label_index: np.ndarray | None
    size: int


def _per_sample(program: Program, batch: Batch, roots: np.ndarray) -> np.ndarray:
    """fn's outputs for every sample, shape (outputs, batch), picking each sample's
    label among the traced ones."""
    size, k = batch.size, program.outputs_per_sample
    if roots.shape[1] != size:
        roots = np.broadcast_to(roots, (roots.shape[0], size))
    if batch.label_index is None:
        return roots
    return roots.reshape(-1, k, size)[batch.label_index, :, np.arange(size)].T


def outputs(program: Program, params: np.ndarray, batch: Batch) -> np.ndarray:
    """fn on every sample: shape (batch,), or (batch, k) for k outputs."""
    out = _per_sample(program, batch, program.forward(params, batch.inputs))
    return out[0].copy() if out.shape[0] == 1 else out.T.copy()


class Seed(NamedTuple):
    """What backward starts from for one batch: d loss / d roots (``weights``), and
    the flat positions in ``roots`` of each sample's own loss (None: row 0)."""

    weights: np.ndarray
    picks: np.ndarray | None


def seed(program: Program, batch: Batch, reduction: str) -> Seed:
    """The ``Seed`` of a batch: each sample's loss weighted 1/size (mean) or 1 (sum)."""
    size = batch.size
    weight = 1.0 / size if reduction == "mean" else 1.0
    if batch.label_index is None:
        return Seed(np.full((1, size), weight), None)
    weights = np.zeros((program.root_rows, size))
    columns = np.arange(size)
    weights[batch.label_index, columns] = weight
    return Seed(weights, batch.label_index * size + columns)


def forward_backward(
    program: Program, params: np.ndarray, batch: Batch, reduction: str, start: Seed | None = None
) -> tuple[float, np.ndarray]:
    """The reduced loss and its gradient with respect to the parameter column, shape
    (parameters, 1) in the program's layout; ``start``: the batch's seed, if kept."""
    size = batch.size
    if start is None:
        start = seed(program, batch, reduction)
    # Eager mode raises ZeroDivisionError where a rule divides by zero (the derivative
    # of sqrt at 0), where NumPy would give inf: here such a division raises too, and
    # the program reports it as eager mode does.
    with np.errstate(divide="raise"):
        roots, grads = program.train(params, batch.inputs, start.weights)
    if roots.shape[1] != size:  # the loss does not depend on the samples
        total = float(_per_sample(program, batch, roots)[0].sum())
    elif start.picks is None:
        total = float(roots[0].sum())
    else:
        total = float(roots.take(start.picks).sum())
    return (total / size if reduction == "mean" else total), grads
