"""Where each Value goes in a drawing: layered columns, data flowing left to right.

The library lays out its own graphs, so the page and the diagram fallback need no
Graphviz program. A Value's column is one more than its deepest parent's (an input
sits just left of its first use); rows within a column follow the mean row of the
parents, a few sweeps each way, so edges stay short and rarely cross. Past
``columns`` columns the layers wrap into bands stacked top to bottom, so a long chain
stays readable instead of running off to the right.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from .record import Node

BOX_WIDTH, BOX_HEIGHT = 136, 52
COLUMN_GAP, ROW_GAP, BAND_GAP, MARGIN = 64, 14, 44, 16

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Layout:
    """Top-left corner of each kept node's box (by node index) and the canvas size."""

    boxes: dict[int, tuple[float, float]]
    width: float
    height: float


def nearest(root: T, parents: Callable[[T], Iterable[T]], limit: int) -> set[T]:
    """The ``limit`` nodes nearest ``root`` (it included), breadth first through
    ``parents``; all of them when there are no more than ``limit``. Every drawing
    cuts a graph too large to show this way."""
    kept = {root}
    queue = deque([root])
    while queue and len(kept) < limit:
        for p in parents(queue.popleft()):
            if p not in kept and len(kept) < limit:
                kept.add(p)
                queue.append(p)
    return kept


def _columns(nodes: Sequence[Node], kept: list[int]) -> dict[int, int]:
    inside = set(kept)
    column: dict[int, int] = {}
    for i in kept:  # parents come first in the record
        column[i] = 1 + max((column[p] for p in nodes[i].parents if p in inside), default=-1)
    first_use: dict[int, int] = {}
    for i in kept:
        for p in nodes[i].parents:
            if p in inside and not nodes[p].parents:
                first_use[p] = min(first_use.get(p, column[i]), column[i])
    for leaf, use in first_use.items():
        column[leaf] = max(use - 1, 0)
    return column


def _ordered_rows(
    nodes: Sequence[Node], kept: list[int], column: dict[int, int]
) -> list[list[int]]:
    layers: list[list[int]] = [[] for _ in range(max(column.values()) + 1)]
    for i in kept:
        layers[column[i]].append(i)
    children: dict[int, list[int]] = {i: [] for i in kept}
    for i in kept:
        for p in nodes[i].parents:
            if p in children:
                children[p].append(i)
    row = {i: float(r) for layer in layers for r, i in enumerate(layer)}

    def sweep(ordered: list[list[int]], neighbours) -> None:
        for layer in ordered:
            for i in layer:
                near = [row[j] for j in neighbours(i) if j in row]
                if near:
                    row[i] = sum(near) / len(near)
            layer.sort(key=lambda i: row[i])
            for r, i in enumerate(layer):
                row[i] = float(r)

    for _ in range(3):
        sweep(layers, lambda i: nodes[i].parents)
        sweep(layers[::-1], lambda i: children[i])
    return layers


def lay_out(nodes: Sequence[Node], kept: list[int], columns: int = 8) -> Layout:
    """Positions of the ``kept`` nodes, at most ``columns`` columns per band."""
    layers = _ordered_rows(nodes, kept, _columns(nodes, kept))
    boxes: dict[int, tuple[float, float]] = {}
    top, width = MARGIN, 0.0
    for start in range(0, len(layers), columns):
        band = layers[start : start + columns]
        tallest = max(len(layer) for layer in band)
        for c, layer in enumerate(band):
            # Centre short columns against the band's tallest one.
            offset = (tallest - len(layer)) * (BOX_HEIGHT + ROW_GAP) / 2
            for r, i in enumerate(layer):
                x = MARGIN + c * (BOX_WIDTH + COLUMN_GAP)
                boxes[i] = (x, top + offset + r * (BOX_HEIGHT + ROW_GAP))
                width = max(width, x + BOX_WIDTH + MARGIN)
        top += tallest * (BOX_HEIGHT + ROW_GAP) - ROW_GAP + BAND_GAP
    return Layout(boxes, width, top - BAND_GAP + MARGIN)
