"""Where each Value goes in a drawing and where each edge runs, data flowing left to
right.

The library lays out its own graphs, so the page and the diagram fallback need no
Graphviz program. A Value's column is one more than its deepest parent's (a leaf sits
just left of its first use). An edge that skips columns passes each column in between
through a lane of its own, placed among the boxes of that column like a small node,
so it never runs under a box that is not one of its ends; from one column to the next
an edge is a curve in the gap between them, where no box is. Rows within a column
follow the mean row of the neighbours, a few sweeps each way, and then move toward
their neighbours' height, so edges stay short and rarely cross. Each box spreads the
ends of its edges along its sides (two edges between the same two Values never share
an end), and a box whose edges carry labels is tall enough for one label per end.
Past ``columns`` columns the layers wrap into bands stacked top to bottom; an edge
from one band to the next runs around them, through the margins and the gap between
the bands.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

from .record import Node

BOX_WIDTH, BOX_HEIGHT = 136, 52
COLUMN_GAP, ROW_GAP, BAND_GAP, MARGIN = 72, 14, 44, 16
LANE_GAP = 8  # between a lane and a box beside it, and between two lanes
LABEL_PITCH = 14  # height per edge end on a box side whose edges carry labels
PORT_PITCH = 3  # the least distance between two edge ends on one side of a box
MAX_LABELS = 13  # edges into one box whose labels are still drawn
MAX_SPREAD = 52  # edge ends per side that get PORT_PITCH each; more share the room
WRAP_LANE = 6  # distance between edges running from one band to the next

T = TypeVar("T", bound=Hashable)
Point = tuple[float, float]
Curve = tuple[Point, Point, Point, Point]  # a cubic Bezier: start, two controls, end


@dataclass(frozen=True)
class Box:
    """A Value's box: top-left corner and size."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Route:
    """The way edge ``parent`` -> ``child`` (the child's operand ``operand``) runs: from
    the parent's right side to the child's left side, as cubic Bezier pieces (a straight
    piece has its controls on its line)."""

    parent: int
    child: int
    operand: int
    curves: tuple[Curve, ...]

    @property
    def end(self) -> Point:
        """Where the edge meets its child."""
        return self.curves[-1][3]

    def path(self) -> str:
        """The route as SVG path data."""
        (x, y), *_ = self.curves[0]
        pieces = " ".join(
            "C" + " ".join(f"{px:.1f},{py:.1f}" for px, py in curve[1:]) for curve in self.curves
        )
        return f"M{x:.1f},{y:.1f} {pieces}"


@dataclass(frozen=True)
class Layout:
    """Each kept node's box (by node index), each edge's route, the canvas size."""

    boxes: dict[int, Box]
    routes: tuple[Route, ...]
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


def _pack(targets: list[float], offsets: list[float]) -> list[float]:
    """Tops as near ``targets`` as the order allows (least squares): element i must lie
    at least ``offsets[i] - offsets[i - 1]`` below element i - 1 (pool adjacent
    violators on ``target - offset``, which must not decrease)."""
    blocks: list[list[float]] = []  # [sum, count] of each pooled run
    for t, o in zip(targets, offsets):
        blocks.append([t - o, 1.0])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] > blocks[-1][0] * blocks[-2][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    tops: list[float] = []
    for total, count in blocks:
        tops += [total / count] * int(count)
    return [z + o for z, o in zip(tops, offsets)]


class _Graph:
    """The layered graph: kept nodes and lanes (negative ids), each in a column."""

    def __init__(self, nodes: Sequence[Node], kept: list[int]) -> None:
        column = _columns(nodes, kept)
        inside = set(kept)
        self.column = dict(column)
        self.up: dict[int, list[int]] = {i: [] for i in kept}
        self.down: dict[int, list[int]] = {i: [] for i in kept}
        self.height: dict[int, float] = {}
        # Each edge as (parent, child, operand, its elements from parent to child).
        self.chains: list[tuple[int, int, int, list[int]]] = []
        lane = 0
        for i in kept:
            for k, p in enumerate(nodes[i].parents):
                if p not in inside:
                    continue
                chain = [p]
                for c in range(column[p] + 1, column[i]):
                    lane -= 1
                    self.column[lane], self.height[lane] = c, 0.0
                    self.up[lane], self.down[lane] = [], []
                    chain.append(lane)
                chain.append(i)
                for a, b in pairwise(chain):
                    self.down[a].append(b)
                    self.up[b].append(a)
                self.chains.append((p, i, k, chain))
        for i in kept:
            n_in, n_out = len(self.up[i]), len(self.down[i])
            labelled = any(nodes[i].operands) and n_in <= MAX_LABELS
            # Room for a label per edge end; unlabelled ends only need to stay apart,
            # up to a height past which a wide fan would make the box a pillar.
            spread = min(max(n_in, n_out) + 1, MAX_SPREAD) * PORT_PITCH
            self.height[i] = max(BOX_HEIGHT, (n_in + 1) * LABEL_PITCH if labelled else 0, spread)
        self.layers: list[list[int]] = [[] for _ in range(max(column.values()) + 1)]
        for e in sorted(self.column, key=lambda e: (e < 0, abs(e))):
            self.layers[self.column[e]].append(e)

    def gap(self, a: int, b: int) -> float:
        """The least space between neighbours ``a`` above ``b`` in a column."""
        return ROW_GAP if a >= 0 and b >= 0 else LANE_GAP

    def order(self) -> None:
        """Sort each column by the mean row of its neighbours, a few sweeps each way."""
        row = {e: float(r) for layer in self.layers for r, e in enumerate(layer)}

        def sweep(layers: list[list[int]], neighbours: dict[int, list[int]]) -> None:
            for layer in layers:
                for e in layer:
                    near = neighbours[e]
                    if near:
                        row[e] = sum(row[j] for j in near) / len(near)
                layer.sort(key=lambda e: row[e])
                for r, e in enumerate(layer):
                    row[e] = float(r)

        for _ in range(3):
            sweep(self.layers, self.up)
            sweep(self.layers[::-1], self.down)

    def place(self, band: list[list[int]]) -> dict[int, float]:
        """Tops within one band (the highest at 0): stacked, then each moved toward the
        mean height of its neighbours in the band, keeping the order."""
        inside = {e for layer in band for e in layer}
        offsets = []
        for layer in band:
            o, off = 0.0, []
            for r, e in enumerate(layer):
                off.append(o)
                o += self.height[e] + (self.gap(e, layer[r + 1]) if r + 1 < len(layer) else 0)
            offsets.append(off)
        tallest = max(off[-1] + self.height[layer[-1]] for off, layer in zip(offsets, band))
        top: dict[int, float] = {}
        for off, layer in zip(offsets, band):
            start = (tallest - off[-1] - self.height[layer[-1]]) / 2
            top.update({e: start + o for e, o in zip(layer, off)})

        def centre(e: int) -> float:
            return top[e] + self.height[e] / 2

        def relax(order: Iterable[int], neighbours: dict[int, list[int]]) -> None:
            for c in order:
                layer = band[c]
                targets = []
                for e in layer:
                    near = [centre(j) for j in neighbours[e] if j in inside]
                    wanted = sum(near) / len(near) if near else centre(e)
                    targets.append(wanted - self.height[e] / 2)
                top.update(zip(layer, _pack(targets, offsets[c])))

        for _ in range(4):
            relax(range(1, len(band)), self.up)
            relax(range(len(band) - 2, -1, -1), self.down)
        highest = min(top.values())
        return {e: t - highest for e, t in top.items()}


def lay_out(nodes: Sequence[Node], kept: list[int], columns: int = 8) -> Layout:
    """Boxes of the ``kept`` nodes and routes of the edges between them, at most
    ``columns`` columns per band."""
    g = _Graph(nodes, kept)
    g.order()
    bands = [g.layers[s : s + columns] for s in range(0, len(g.layers), columns)]

    def band_of(e: int) -> int:
        return g.column[e] // columns

    # Edges from one band into the next, each with a lane of its own around them;
    # the lowest start takes the lane nearest the boxes, so that none crosses another
    # on the right.
    wraps: dict[tuple[int, int], int] = {}  # (edge, position in its chain) -> lane
    crossing: list[list[tuple[int, int]]] = [[] for _ in bands]
    for n, (_, _, _, chain) in enumerate(g.chains):
        for j in range(len(chain) - 1):
            if band_of(chain[j + 1]) != band_of(chain[j]):
                crossing[band_of(chain[j])].append((n, j))
    most = max(map(len, crossing))
    lanes_room = 8 + (most - 1) * WRAP_LANE if most else 0
    left = MARGIN + lanes_room

    tops: dict[int, float] = {}
    band_bottom: list[float] = []
    y = float(MARGIN)
    placed = [g.place(band) for band in bands]
    for b, relative in enumerate(placed):
        tops.update({e: y + t for e, t in relative.items()})
        bottom = y + max(t + g.height[e] for e, t in relative.items())
        band_bottom.append(bottom)
        room = 16 + (len(crossing[b]) - 1) * WRAP_LANE if crossing[b] else 0
        y = bottom + max(BAND_GAP, room)
    height = band_bottom[-1] + MARGIN

    def x_of(e: int) -> float:
        return left + (g.column[e] % columns) * (BOX_WIDTH + COLUMN_GAP)

    widest = max(len(band) for band in bands)
    right = left + widest * (BOX_WIDTH + COLUMN_GAP) - COLUMN_GAP
    width = right + lanes_room + MARGIN
    boxes = {e: Box(x_of(e), tops[e], BOX_WIDTH, g.height[e]) for e in g.up if e >= 0}

    for pieces in crossing:
        starts = [tops[g.chains[n][3][j]] for n, j in pieces]
        for lane, (_, key) in enumerate(sorted(zip(starts, pieces), key=lambda s: -s[0])):
            wraps[key] = lane

    def centre(e: int) -> float:
        return tops[e] + g.height[e] / 2

    # Edge ends along each box side, in the order of the element at the other end.
    ends_in: dict[tuple[int, int], float] = {}  # (edge, position in chain) -> y
    ends_out: dict[tuple[int, int], float] = {}
    arriving: dict[int, list[tuple[float, int, int, int]]] = {e: [] for e in g.up}
    leaving: dict[int, list[tuple[float, int, int, int]]] = {e: [] for e in g.up}
    for n, (_, _, k, chain) in enumerate(g.chains):
        for j in range(len(chain) - 1):
            a, b = chain[j], chain[j + 1]
            leaving[a].append((centre(b), b, k, n))
            arriving[b].append((centre(a), a, k, n))
    for e in g.up:
        for side, ends, step in ((leaving, ends_out, 0), (arriving, ends_in, 1)):
            ordered = sorted(side[e])
            for r, (_, _, _, n) in enumerate(ordered):
                chain = g.chains[n][3]
                j = chain.index(e) - step
                ends[(n, j)] = tops[e] + g.height[e] * (r + 1) / (len(ordered) + 1)

    routes = []
    for n, (p, i, k, chain) in enumerate(g.chains):
        curves: list[Curve] = []
        for j in range(len(chain) - 1):
            a, b = chain[j], chain[j + 1]
            if a < 0:  # a lane: straight through its column
                ya = ends_in[(n, j - 1)]
                curves.append(_line((x_of(a), ya), (x_of(a) + BOX_WIDTH, ya)))
            x1, y1 = x_of(a) + BOX_WIDTH, ends_out[(n, j)]
            x2, y2 = x_of(b), ends_in[(n, j)]
            if (n, j) in wraps:
                lane = wraps[(n, j)]
                xr = right + 8 + lane * WRAP_LANE
                yg = band_bottom[band_of(a)] + 8 + lane * WRAP_LANE
                xl = left - 8 - lane * WRAP_LANE
                corners = [(x1, y1), (xr, y1), (xr, yg), (xl, yg), (xl, y2), (x2, y2)]
                curves += [_line(s, t) for s, t in pairwise(corners)]
            else:
                bend = (x2 - x1) / 2
                curves.append(((x1, y1), (x1 + bend, y1), (x2 - bend, y2), (x2, y2)))
        routes.append(Route(p, i, k, tuple(curves)))
    return Layout(boxes, tuple(routes), width, height)


def _line(a: Point, b: Point) -> Curve:
    """A straight piece as a cubic Bezier."""
    return (a, a, b, b)
