"""Stage 2, schedule: a ``TracedGraph`` -> a ``Schedule`` (groups, slots, row layout).

* The op nodes of a level with the same op (and fixed number, and the same pattern
  of per-sample operands) form a group, run as one NumPy call: a ``MapGroup``
  (elementwise unary or binary op) or a ``SegmentGroup`` (n-ary sum or dot, whose
  terms are summed per node).
* Dot nodes of one level that read the same per-sample inputs in the same order
  (a dense layer) become one ``MatMulGroup``: W (k, n) @ X (n, batch) (+ b).
* Every value lives in a slot, an array of (rows, columns): slot 0 holds the
  parameters, slot 1 the constants, then one slot per input argument and one per
  group. A slot has one column per sample when it depends on an input, else one
  column (computed once). Parameters get rows in ``params`` order, so slot 0 is the
  ``flat()`` vector itself; a layer's weights, evenly spaced in it (each neuron's
  weights then its bias), are read as a strided view.
* Each operand of a group is a ``Rows``: where its elements live, and which of them
  need a gradient (the pieces backward scatters into).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypedDict, cast

import numpy as np

from ..autograd import ops
from ..autograd.value import Value
from .trace import Node, TracedGraph

PARAMS, CONSTANTS = 0, 1  # the first two slots; then one per input argument, one per group


class Piece(NamedTuple):
    """Elements of an operand that live in one slot and need a gradient."""

    slot: int
    where: slice | np.ndarray  # their rows in the slot
    at: np.ndarray | None  # their positions in the operand (None: all of them)
    duplicates: bool  # a row appears twice (scatter with np.add.at)


@dataclass(frozen=True, eq=False)
class Rows:
    """Where the elements of one operand of a group live: (slot, row) each.

    ``uniform``: every element is the same node (read one row and broadcast it; the
    gradient is summed over the elements). ``wide``: the operand's slots that have
    one column per sample.
    """

    positions: tuple[tuple[int, int], ...]
    rows: np.ndarray
    slots: tuple[int, ...]
    wide: frozenset[int]
    uniform: bool
    pieces: tuple[Piece, ...]

    @property
    def n(self) -> int:
        return len(self.positions)


def is_range(rows: np.ndarray) -> bool:
    """Whether ``rows`` is first, first + 1, ..., a contiguous range (read as a view)."""
    return bool(len(rows)) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows)))


def make_rows(
    positions: Sequence[tuple[int, int]],
    need: Sequence[bool],
    columns: Sequence[bool],
    broadcast: bool = False,
) -> Rows:
    """The ``Rows`` of an operand from its elements' (slot, row) and whether each needs
    a gradient; ``broadcast``: the operand of an elementwise op (may be ``uniform``)."""
    positions = tuple(positions)
    n = len(positions)
    slots = tuple(sorted({s for s, _ in positions}))
    rows = np.array([r for _, r in positions], dtype=np.intp)
    uniform = broadcast and n > 1 and len(set(positions)) == 1
    pieces = []
    for slot in slots:
        at = [i for i, (s, _) in enumerate(positions) if s == slot and need[i]]
        if not at:
            continue
        where = rows[at]
        if uniform:
            pieces.append(Piece(slot, slice(int(where[0]), int(where[0]) + 1), None, False))
            continue
        duplicates = len(set(where.tolist())) < len(at)
        span = slice(int(where[0]), int(where[0]) + len(at)) if is_range(where) else where
        pieces.append(Piece(slot, span, None if len(at) == n else np.array(at), duplicates))
    return Rows(
        positions, rows, slots, frozenset(s for s in slots if columns[s]), uniform, tuple(pieces)
    )


@dataclass(frozen=True, eq=False)
class Group(abc.ABC):
    """The nodes of one level computed by one NumPy call into slot ``slot``.

    ``batch``: one value per sample; ``grad``: some node needs a gradient, so the
    group has a backward pass; ``nodes``: the graph's nodes, in row order.
    """

    slot: int
    level: int
    batch: bool
    grad: bool
    nodes: tuple[int, ...]
    operands: tuple[Rows, ...]

    @property
    def size(self) -> int:
        return len(self.nodes)

    def wide(self, operand: Rows) -> bool:
        """Whether this group's contribution to ``operand`` has one column per sample."""
        return self.batch

    @abc.abstractmethod
    def label(self) -> str:
        """A short description for ``describe()``."""


@dataclass(frozen=True, eq=False)
class MapGroup(Group):
    """A unary or binary op (possibly with a fixed number) applied elementwise."""

    op: ops.Op
    arg: float | None

    def label(self) -> str:
        return self.op.name if self.arg is None else f"{self.op.name} {self.arg:g}"


@dataclass(frozen=True, eq=False)
class SegmentGroup(Group):
    """n-ary sum or dot: the op's rule runs on every term of the group at once, and
    node j is the sum of terms starts[j] .. starts[j + 1] - 1 (``owner`` of each term)."""

    op: ops.Op
    starts: np.ndarray
    owner: np.ndarray

    def label(self) -> str:
        return f"{self.op.name} of {len(self.owner)} terms"


@dataclass(frozen=True, eq=False)
class MatMulGroup(Group):
    """Dot nodes sharing their inputs: operands (weights, inputs[, bias]), k nodes."""

    k: int

    @property
    def weights(self) -> Rows:
        return self.operands[0]

    @property
    def inputs(self) -> Rows:
        return self.operands[1]

    @property
    def bias(self) -> Rows | None:
        return self.operands[2] if len(self.operands) == 3 else None

    def wide(self, operand: Rows) -> bool:
        return operand is not self.weights and self.batch

    def label(self) -> str:
        return f"dot as matmul {self.k}x{self.inputs.n}"


@dataclass(frozen=True, eq=False)
class Schedule:
    """The lowered graph: groups in level order and the layout of every slot.

    ``columns[s]``/``sizes[s]``: whether slot s is per sample, and its rows.
    ``layout``: the parameters in slot 0's row order, the order of ``params``
    (``layout_index``: their positions in ``params``, 0 to n - 1); ``trainable``:
    1.0 for a row that needs a gradient; ``trainable_rows``/``trainable_params``: those
    of them fn reads, which a call gives a gradient. Backward assigns the gradient
    slots in ``assigned`` (written whole by one scatter) and makes those in
    ``accumulated`` from their contributions (codegen starts each empty or at zero).
    """

    graph: TracedGraph
    nodes: tuple[Node, ...]  # the graph's nodes, plus a constant 1 a bias may need
    groups: tuple[Group, ...]
    roots: Rows
    columns: tuple[bool, ...]
    sizes: tuple[int, ...]
    layout: tuple[Value, ...]
    layout_index: np.ndarray
    constants: np.ndarray
    trainable: np.ndarray
    trainable_rows: np.ndarray
    trainable_params: tuple[Value, ...]
    assigned: frozenset[int]
    accumulated: tuple[int, ...]

    @property
    def outputs_per_sample(self) -> int:
        return self.graph.roots.shape[1]


class GroupKey(NamedTuple):
    """What the nodes of one group share. ``operands``: for a map, which operands are
    per sample; for a segment, whether it is per sample; for a matmul, the input
    nodes and whether there is a bias."""

    kind: str  # "map", "segment" or "matmul"
    level: int
    op: ops.Op
    arg: float | None
    operands: tuple


class _GroupFields(TypedDict):
    """The fields every kind of ``Group`` has but ``operands``."""

    slot: int
    level: int
    batch: bool
    grad: bool
    nodes: tuple[int, ...]


class DotHalves(NamedTuple):
    """A dot node read as a matrix product row: weights (not per sample), inputs, bias."""

    weights: tuple[int, ...]
    inputs: tuple[int, ...]
    bias: int | None


def schedule(graph: TracedGraph) -> Schedule:
    """Group, order and lay out the traced graph."""
    return _Scheduler(graph).result()


def describe(plan: Schedule, name: str) -> str:
    """The schedule, one line per group: level, op, nodes, per sample or once."""
    lines = [f"compiled {name}: {summary(plan)}"]
    for g in plan.groups:
        where = "per sample" if g.batch else "once"
        backward = "" if g.grad else ", no backward"
        lines.append(f"  level {g.level:>3}  {g.label():<32} x{g.size:<6} {where}{backward}")
    return "\n".join(lines)


def summary(plan: Schedule) -> str:
    """Op nodes, groups, levels, matrix products and parameters, in one line."""
    nodes = sum(g.size for g in plan.groups)
    levels = len({g.level for g in plan.groups})
    matmuls = sum(isinstance(g, MatMulGroup) for g in plan.groups)
    return (
        f"{nodes} op nodes in {len(plan.groups)} groups over {levels} levels, "
        f"{matmuls} matmuls, {len(plan.layout)} parameters"
    )


class _Scheduler:
    """The mutable state of scheduling one graph; ``result()`` freezes it."""

    def __init__(self, graph: TracedGraph) -> None:
        self.graph = graph
        self.nodes = list(graph.nodes)
        self.position: dict[int, tuple[int, int]] = {}
        self.columns = [False, False] + [shape is not None for shape in graph.shapes]
        self.sizes = [0, 0] + [
            0 if shape is None else int(np.prod(shape)) for shape in graph.shapes
        ]
        for i, node in enumerate(self.nodes):
            if node.kind == "input":
                position, flat = node.where
                self.position[i] = (2 + position, flat)
        self.layout: list[Value] = []
        self.layout_index: list[int] = []
        self.constants: list[float] = []
        self.groups: list[Group] = []
        self.halves: dict[int, DotHalves] = {}
        self.one: int | None = None
        keyed = sorted(self._group_nodes().items(), key=lambda kv: (kv[0].level, kv[1][0]))
        for i in range(len(graph.params)):  # param i is node i
            self._place(i)
        for key, members in keyed:
            self._lower(key, members)
        roots = graph.roots.ravel()
        self.roots = make_rows(
            [self._place(i) for i in roots], [self.nodes[i].grad for i in roots], self.columns
        )

    def result(self) -> Schedule:
        nodes = self.nodes
        trainable = [nodes[i].grad for i in self.layout_index]  # param i is node i
        # A parameter fn never reads gets no gradient (None, as in eager mode): every
        # parameter has a row, so whether one is read is found here.
        read = {p for node in nodes if node.kind == "op" for p in node.parents}
        read.update(self.graph.roots.ravel().tolist())
        gets_gradient = [t and i in read for t, i in zip(trainable, self.layout_index)]
        self.sizes[PARAMS], self.sizes[CONSTANTS] = len(self.layout), len(self.constants)
        assigned, accumulated = self._plan_gradients()
        return Schedule(
            graph=self.graph,
            nodes=tuple(nodes),
            groups=tuple(self.groups),
            roots=self.roots,
            columns=tuple(self.columns),
            sizes=tuple(self.sizes),
            layout=tuple(self.layout),
            layout_index=np.array(self.layout_index, dtype=np.intp),
            constants=np.array(self.constants, dtype=np.float64).reshape(-1, 1),
            trainable=np.array(trainable, dtype=np.float64),
            trainable_rows=np.flatnonzero(gets_gradient),
            trainable_params=tuple(p for p, t in zip(self.layout, gets_gradient) if t),
            assigned=assigned,
            accumulated=accumulated,
        )

    def _group_nodes(self) -> dict[GroupKey, list[int]]:
        nodes = self.nodes
        keyed: dict[GroupKey, list[int]] = {}
        for i, node in enumerate(nodes):
            if node.kind != "op":
                continue
            op, parents = cast(ops.Op, node.op), node.parents  # an op node has one
            if op.arity == 0:
                key = GroupKey("segment", node.level, op, None, (node.batch,))
                n = len(parents) // 2
                if op is ops.DOT and node.batch and n:
                    a, b = parents[:n], parents[n : 2 * n]
                    bias = parents[-1] if len(parents) % 2 else None
                    for w, x in ((a, b), (b, a)):
                        # A product of per-sample inputs by weights; when only the bias
                        # is per sample, the terms are no matrix product (a segment).
                        if not any(nodes[j].batch for j in w) and any(nodes[j].batch for j in x):
                            key = GroupKey("matmul", node.level, op, None, (x, bias is None))
                            self.halves[i] = DotHalves(w, x, bias)
                            break
            else:
                key = GroupKey(
                    "map", node.level, op, node.arg, tuple(nodes[p].batch for p in parents)
                )
            keyed.setdefault(key, []).append(i)
        return keyed

    def _place(self, i: int) -> tuple[int, int]:
        """The (slot, row) of node i, giving a parameter or a constant its row on first use."""
        found = self.position.get(i)
        if found is not None:
            return found
        node = self.nodes[i]
        if node.kind == "param":
            self.position[i] = (PARAMS, len(self.layout))
            self.layout.append(self.graph.params[node.where])
            self.layout_index.append(node.where)
        elif node.kind == "const":
            self.position[i] = (CONSTANTS, len(self.constants))
            self.constants.append(node.data)
        else:
            raise AssertionError(f"node {i} used before its group was lowered")
        return self.position[i]

    def _constant_one(self) -> int:
        """The node of the constant 1.0 (added when the graph has none)."""
        if self.one is None:
            found = [i for i, n in enumerate(self.nodes) if n.kind == "const" and n.data == 1.0]
            if not found:
                self.nodes.append(Node("const", None, 1.0, None))
                found = [len(self.nodes) - 1]
            self.one = found[0]
        return self.one

    def _rows(self, ids: Sequence[int], broadcast: bool = False) -> Rows:
        return make_rows(
            [self._place(j) for j in ids],
            [self.nodes[j].grad for j in ids],
            self.columns,
            broadcast,
        )

    def _lower(self, key: GroupKey, members: list[int]) -> None:
        nodes, kind = self.nodes, key.kind

        def sort_key(i: int) -> tuple:
            first = self.halves[i].weights[0] if kind == "matmul" else nodes[i].parents[0]
            rest = () if kind != "map" else nodes[i].parents[1:]
            return tuple(self._sort_position(p) for p in (first, *rest))

        members = sorted(members, key=sort_key)
        slot, first = len(self.columns), nodes[members[0]]
        common: _GroupFields = {
            "slot": slot,
            "level": key.level,
            "batch": first.batch,
            "grad": any(nodes[i].grad for i in members),
            "nodes": tuple(members),
        }
        group: Group
        if kind == "matmul":
            halves = [self.halves[i] for i in members]
            wxb = [
                self._rows([w for h in halves for w in h.weights]),
                self._rows(halves[0].inputs),
            ]
            if halves[0].bias is not None:  # then every member has one (see GroupKey)
                wxb.append(self._rows([cast(int, h.bias) for h in halves]))
            group = MatMulGroup(operands=tuple(wxb), k=len(members), **common)
        elif kind == "segment":
            parts = [nodes[i].parents for i in members]
            if key.op is ops.DOT:
                # A bias b is one more term, b * 1, so the rule sees only (w, x) pairs.
                split: list[list[int]] = [[], []]
                for ps in parts:
                    n = len(ps) // 2
                    split[0] += ps[:n] + ps[2 * n :]
                    split[1] += ps[n : 2 * n] + (self._constant_one(),) * (len(ps) % 2)
                lengths = [len(ps) // 2 + len(ps) % 2 for ps in parts]
            else:
                split = [[p for ps in parts for p in ps]]
                lengths = [len(ps) for ps in parts]
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
            group = SegmentGroup(
                operands=tuple(self._rows(h) for h in split),
                op=key.op,
                starts=starts,
                owner=np.repeat(np.arange(len(lengths)), lengths),
                **common,
            )
        else:
            operands = tuple(
                self._rows([nodes[i].parents[j] for i in members], broadcast=True)
                for j in range(key.op.arity)
            )
            group = MapGroup(operands=operands, op=key.op, arg=key.arg, **common)
        self.columns.append(group.batch)
        self.sizes.append(len(members))
        for row, i in enumerate(members):
            self.position[i] = (slot, row)
        self.groups.append(group)

    def _sort_position(self, i: int) -> tuple:
        found = self.position.get(i)
        if found is not None:
            return (found[0], found[1], 0)
        kind = self.nodes[i].kind
        return (PARAMS if kind == "param" else CONSTANTS, len(self.graph.nodes), i)

    def _plan_gradients(self) -> tuple[frozenset[int], tuple[int, ...]]:
        """A gradient slot written whole by a single scatter is assigned that array;
        the others start as zeros at each call and are accumulated into."""
        writers: dict[int, list[tuple[Rows, Piece]]] = {}
        operands = [self.roots] + [rows for g in self.groups if g.grad for rows in g.operands]
        for rows in operands:
            for piece in rows.pieces:
                writers.setdefault(piece.slot, []).append((rows, piece))
        assigned = set()
        for slot, pieces in writers.items():
            rows, piece = pieces[0]
            where = piece.where
            if (
                len(pieces) == 1
                and not rows.uniform
                and isinstance(where, slice)
                and where.start == 0
                and where.stop == self.sizes[slot]
            ):
                assigned.add(slot)
        needed = set(writers) | {g.slot for g in self.groups if g.grad} | {PARAMS}
        return frozenset(assigned), tuple(sorted(needed - assigned))
