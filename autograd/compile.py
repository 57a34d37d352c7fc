"""Compiled mode: trace a per-sample computation once, replay it over a batch with NumPy.

``compile(fn, params)`` returns a function of a batch. On its first call it records
``fn`` on ONE sample: every input number becomes a placeholder Value (it requires grad
while tracing, so that ``x * 2.0`` records a node), the parameters are the graph's
leaves, and each argument declared in ``labels`` is a plain number, traced once per
value it can take. Identical nodes of all traces are merged, and the graph is lowered:

* every node gets a level, 1 + the highest level of its parents; the nodes of a level
  with the same op (and fixed number) form a group, run as one NumPy call;
* each placeholder becomes a row of a (rows, batch) array, one column per sample, and
  nodes that depend only on parameters and constants are computed once, as (rows, 1);
* the kernels are the op table's own rules, ``op.forward(ARRAYS, ...)`` and
  ``op.grad(ARRAYS, ...)``. An n-ary op (sum, dot) is a sum of terms, so its rule runs
  on the terms of a whole group at once and ``np.add.reduceat`` sums each segment;
* dot nodes of one level that read the same inputs in the same order (a dense layer)
  become one matrix product, forward and backward.

Each call reads ``p.data`` of every parameter (optimizer updates are seen without
tracing again), runs forward and backward level by level, and adds the gradient of
the batch's mean (or sum) of ``fn`` into ``p.grad``, so any optimizer works unchanged.
"""

from __future__ import annotations

import itertools
import numbers
from operator import attrgetter
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import ops
from .engine import topological_order
from .mathlib import ARRAYS
from .mode import MODE, enable_grad
from .value import Value

REDUCTIONS = ("mean", "sum")

_DATA = attrgetter("data")
_GRAD = attrgetter("grad")
# x * 1, 1 * x and x / 1 return x exactly, value and gradient: such nodes are dropped.
_TIMES_ONE = {ops.WITH_CONSTANT[("mul", 0)], ops.WITH_CONSTANT[("mul", 1)],
              ops.WITH_CONSTANT[("div", 1)]}
PARAMS, CONSTANTS = 0, 1  # the first two slots; then one per input argument, one per group


def compile(
    fn: Callable[..., Value | Sequence[Value]],
    params: Iterable[Value],
    *,
    labels: Mapping[int, Sequence[float]] | None = None,
    reduction: str = "mean",
) -> Compiled:
    """Compile ``fn``, a function of ONE sample, into a function of a batch of samples.

    ``fn`` takes one argument per array passed to the compiled function: a sample of
    shape () arrives as a Value, (n,) as a list of n Values, (n, m) as nested lists.
    It returns a Value (a per-sample loss, which may include parameter-only terms such
    as a weight penalty) or a list of Values. ``compiled(*batch)`` returns

        loss = reduction_i fn(batch[0][i], batch[1][i], ...)   (mean or sum over i)

    and adds d loss / d p into ``p.grad`` of every parameter, as ``loss.backward()``
    would. ``labels`` maps an argument position to the values it can take (class
    indices, -1/+1): that argument reaches ``fn`` as a plain number, and ``fn`` is
    traced once per value (losses of ``nn.functional`` need their targets as numbers).

    The graph is traced at the first call, on that batch's first sample: Python
    control flow on ``.data`` inside ``fn`` is frozen there. Refused with an error
    naming the node: a leaf that requires grad but is not in ``params``, and a random
    ``fn`` (Dropout in training mode), found by tracing twice. Layers that normalise
    over the batch (BatchNorm1d in training) raise while tracing one sample.
    """
    return Compiled(fn, params, labels=labels, reduction=reduction)


class CompileError(ValueError):
    """A graph that compiled mode refuses, with the node that makes it so."""


class Compiled:
    """A per-sample function traced once and run over batches; see ``compile``."""

    def __init__(
        self,
        fn: Callable[..., Value | Sequence[Value]],
        params: Iterable[Value],
        *,
        labels: Mapping[int, Sequence[float]] | None = None,
        reduction: str = "mean",
    ) -> None:
        if not callable(fn):
            raise TypeError(f"compile: fn must be callable, got {type(fn).__name__} {fn!r}")
        if isinstance(params, Value):
            raise TypeError("compile: params must be an iterable of Values; wrap one in a list")
        self.params = list(dict.fromkeys(params))
        for p in self.params:
            if not isinstance(p, Value):
                raise TypeError(f"compile: params must be Values, got {type(p).__name__} {p!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"compile: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.fn, self.reduction = fn, reduction
        self.name = getattr(fn, "__name__", type(fn).__name__)
        self.labels = _check_labels(labels)
        self._program: _Program | None = None

    # --- public calls ----------------------------------------------------------------

    def __call__(self, *batch: Any) -> float:
        """Forward and backward over ``batch``: the reduced loss; d loss/d p added to p.grad."""
        program, run = self._start(batch, training=True)
        run.slots[PARAMS] = np.fromiter(
            map(_DATA, program.layout), np.float64, len(program.layout)
        ).reshape(-1, 1)
        loss = run.forward_backward(self.reduction)
        _add_grads(program, run.grads[PARAMS])
        return loss

    def forward(self, *batch: Any) -> np.ndarray:
        """fn on every sample, no gradients: shape (batch,), or (batch, k) for k outputs."""
        program, run = self._start(batch, training=False)
        run.slots[PARAMS] = np.fromiter(
            map(_DATA, program.layout), np.float64, len(program.layout)
        ).reshape(-1, 1)
        return run.outputs()

    def value_and_grad(self, flat_params: Sequence[float], *batch: Any) -> tuple[float, np.ndarray]:
        """The reduced loss and its gradient at ``flat_params`` (one number per parameter,
        in ``params`` order), without reading or writing any Value: a pure function
        for array optimizers (and scipy.optimize)."""
        theta = np.asarray(flat_params, dtype=np.float64)
        if theta.shape != (len(self.params),):
            raise ValueError(
                f"value_and_grad: expected {len(self.params)} parameters, got shape {theta.shape}"
            )
        program, run = self._start(batch, training=True)
        run.slots[PARAMS] = theta[program.layout_index].reshape(-1, 1)
        loss = run.forward_backward(self.reduction)
        grad = np.zeros(len(self.params))
        grad[program.layout_index] = run.grads[PARAMS][:, 0] * program.trainable
        return loss, grad

    def describe(self) -> str:
        """The lowered program, one line per group: level, op, nodes, batch or once."""
        if self._program is None:
            return f"compiled {self.name}: not traced yet (it is traced at the first call)"
        return self._program.describe(self.name)

    def __repr__(self) -> str:
        if self._program is None:
            return f"Compiled({self.name}, not traced yet)"
        return f"Compiled({self.name}, {self._program.summary()})"

    # --- tracing and inputs ------------------------------------------------------------

    def _start(self, batch: tuple, training: bool) -> tuple[_Program, _Run]:
        arrays, label_index, size = self._read_batch(batch)
        if self._program is None:
            self._program = _Program(*self._trace(arrays), self.name)
        program = self._program
        if training and program.outputs_per_sample != 1:
            raise TypeError(
                f"compiled {self.name}: fn returns {program.outputs_per_sample} values per "
                "sample; training needs one (a loss). forward() gives every output."
            )
        return program, _Run(program, arrays, label_index, size)

    def _read_batch(self, batch: tuple) -> tuple[list, np.ndarray | None, int]:
        if not batch:
            raise TypeError(f"compiled {self.name}: expected at least one batch array")
        for position in self.labels:
            if position >= len(batch):
                raise ValueError(
                    f"compiled {self.name}: labels name argument {position}, "
                    f"but {len(batch)} arrays were given"
                )
        arrays, label_parts, size = [], [], None
        for position, x in enumerate(batch):
            kind = "labels" if position in self.labels else "inputs"
            try:
                x = np.asarray(x, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise TypeError(
                    f"compiled {self.name}: argument {position} must be an array of "
                    f"numbers ({kind}), got {type(batch[position]).__name__}: {error}"
                ) from None
            if x.ndim == 0:
                raise ValueError(
                    f"compiled {self.name}: argument {position} is a single number; "
                    "pass a batch, one entry per sample"
                )
            if size is None:
                size = len(x)
            if len(x) != size or size == 0:
                raise ValueError(
                    f"compiled {self.name}: argument {position} has {len(x)} samples, "
                    f"expected {size} (and at least 1)"
                )
            if kind == "labels":
                if x.ndim != 1:
                    raise ValueError(
                        f"compiled {self.name}: labels (argument {position}) must be one "
                        f"number per sample, got shape {x.shape}"
                    )
                label_parts.append(self._label_index(position, x))
                arrays.append(None)
            else:
                arrays.append(x)
        if self._program is not None:
            self._program.check_shapes(arrays)
        label_index = None
        if label_parts:
            dims = [len(self.labels[p]) for p in sorted(self.labels)]
            label_index = np.ravel_multi_index(label_parts, dims)
        return arrays, label_index, size

    def _label_index(self, position: int, y: np.ndarray) -> np.ndarray:
        values = np.array([float(v) for v in self.labels[position]])
        order = np.argsort(values)
        where = np.searchsorted(values[order], y).clip(0, len(values) - 1)
        bad = values[order][where] != y
        if bad.any():
            raise ValueError(
                f"compiled {self.name}: label {y[bad][0]!r} (argument {position}, sample "
                f"{int(np.argmax(bad))}) is not one of the declared "
                f"{list(self.labels[position])}"
            )
        return order[where]

    def _trace(self, arrays: list) -> tuple:
        """Record fn on the first sample, once per label combination, plus once more
        to check that it is deterministic; returns the merged graph and its roots."""
        frozen = [p for p in self.params if p.grad is None]
        graph = _Graph(self.params)
        placeholders = []
        for position, x in enumerate(arrays):
            if x is None:
                placeholders.append(None)
                continue
            flat = [graph.placeholder(v, position, i, f"arg{position}[{i}]")
                    for i, v in enumerate(x[0].ravel().tolist())]
            placeholders.append(_nest(flat, x.shape[1:]))
        positions = sorted(self.labels)
        combos = list(itertools.product(*(self.labels[p] for p in positions)))
        roots = []
        previous = MODE.tracing
        try:
            MODE.tracing = True
            for p in frozen:  # frozen parameters must still record the ops applied to them
                p.grad = 0.0
            for combo in combos + combos[:1]:
                args = list(placeholders)
                for p, value in zip(positions, combo):
                    args[p] = value
                with enable_grad():
                    out = self.fn(*args)
                before = len(graph.nodes)
                traced = graph.absorb(self.name, out)
                if len(roots) == len(combos):  # the second trace of the first combination
                    if traced != roots[0] or len(graph.nodes) != before:
                        changed = graph.nodes[before] if len(graph.nodes) > before else None
                        raise CompileError(
                            f"compile: {self.name} is not deterministic: tracing the same "
                            "sample twice recorded different graphs (first new node: "
                            f"{graph.describe(changed)}). Random layers cannot be compiled: "
                            "put Dropout in eval() mode, or draw the randomness outside "
                            "fn and pass it in as an input."
                        )
                elif roots and len(traced) != len(roots[0]):
                    raise CompileError(
                        f"compile: {self.name} returns {len(traced)} values for label "
                        f"{combo} but {len(roots[0])} for label {combos[0]}"
                    )
                else:
                    roots.append(traced)
        finally:
            MODE.tracing = previous
            for p in frozen:
                p.grad = None
        return graph, np.array(roots, dtype=np.intp), arrays


def _check_labels(labels: Mapping[int, Sequence[float]] | None) -> dict[int, tuple]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise TypeError(
            "compile: labels must map argument positions to their values, "
            f"e.g. {{1: range(10)}}, got {labels!r}"
        )
    checked = {}
    for position, values in labels.items():
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise ValueError(f"compile: labels keys are argument positions (int >= 0), got {position!r}")
        values = tuple(values)
        if not values or any(
            isinstance(v, bool) or not isinstance(v, numbers.Real) for v in values
        ):
            raise ValueError(
                f"compile: labels[{position}] must be a non-empty list of numbers, got {values!r}"
            )
        if len(set(float(v) for v in values)) != len(values):
            raise ValueError(f"compile: labels[{position}] lists a value twice: {values!r}")
        checked[position] = values
    return checked


def _nest(flat: list, shape: tuple) -> Any:
    """The flat list of placeholders arranged as nested lists of ``shape``."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0]
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _add_grads(program: _Program, grads: np.ndarray) -> None:
    """p.grad += gradient for every trainable parameter, with few Python operations."""
    params = program.trainable_params
    if not params:
        return
    new = grads[program.trainable_rows, 0]
    try:
        new += np.fromiter(map(_GRAD, params), np.float64, len(params))
    except TypeError:  # a parameter was frozen (grad None) after compiling
        for p, g in zip(params, new.tolist()):
            if p.grad is not None:
                p.grad += g
        return
    for p, g in zip(params, new.tolist()):
        p.grad = g


# --- the traced graph ----------------------------------------------------------------


class _Node:
    """A node of the merged graph: a leaf (input, param, const) or an op on earlier nodes.

    ``batch``: depends on an input (one value per sample); ``grad``: depends on a
    trainable parameter (needs a gradient); ``level``: 0 for leaves, else 1 + the
    highest level of the parents.
    """

    __slots__ = ("kind", "op", "arg", "parents", "where", "label", "data",
                 "batch", "grad", "level")

    def __init__(self, kind: str, where: Any = None, data: float = 0.0,
                 label: str | None = None, batch: bool = False, grad: bool = False) -> None:
        self.kind, self.where, self.data, self.label = kind, where, data, label
        self.op, self.arg, self.parents = None, None, ()
        self.batch, self.grad, self.level = batch, grad, 0


class _Graph:
    """Nodes of every trace in topological order; identical nodes are stored once."""

    def __init__(self, params: list[Value]) -> None:
        self.params = params
        self.nodes: list[_Node] = []
        self.index: dict[Value, int] = {}  # traced Value -> node (keeps the Values alive)
        self.keys: dict[tuple, int] = {}
        for i, p in enumerate(params):
            self._new(("param", i), _Node("param", i, p.data, p.label, grad=p.grad is not None))
            self.index[p] = len(self.nodes) - 1

    def _new(self, key: tuple, node: _Node) -> int:
        found = self.keys.get(key)
        if found is not None:
            return found
        self.nodes.append(node)
        self.keys[key] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def placeholder(self, x: float, position: int, i: int, label: str) -> Value:
        v = Value(x, label=label)
        self.index[v] = self._new(("input", position, i),
                                  _Node("input", (position, i), x, label, batch=True))
        return v

    def absorb(self, name: str, out: Any) -> tuple[int, ...]:
        """Add the graph behind fn's result; the node of each returned value."""
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        if not outs:
            raise TypeError(f"compile: {name} returned an empty list")
        for v in outs:
            if not isinstance(v, (Value, numbers.Real)) or isinstance(v, bool):
                raise TypeError(
                    f"compile: {name} must return a Value or a list of Values, got "
                    f"{type(v).__name__} {v!r}"
                )
        values = [v for v in outs if isinstance(v, Value)]
        for v in topological_order(values):
            self.index[v] = self._op_node(v)
        return tuple(self._leaf(v) if not isinstance(v, Value) or v not in self.index
                     else self.index[v] for v in outs)

    def _leaf(self, v: Value | float) -> int:
        if not isinstance(v, Value):
            v = Value(v, requires_grad=False)
        if v.grad is not None:
            raise CompileError(
                f"compile: the graph uses {v!r}, which requires grad but is neither an "
                "input nor one of params: pass it in params, or detach() it to make it "
                "a constant"
            )
        return self._new(("const", v.data.hex()), _Node("const", None, v.data, v.label))

    def _op_node(self, v: Value) -> int:
        index = self.index
        parents = tuple(index[p] if p in index else self._leaf(p) for p in v._prev)
        op = v._op
        if (op is ops.SUM and len(parents) == 1) or (op in _TIMES_ONE and v._arg == 1.0):
            return parents[0]
        nodes = self.nodes
        node = _Node("op", None, v.data, v.label,
                     batch=any(nodes[p].batch for p in parents),
                     grad=any(nodes[p].grad for p in parents))
        node.op, node.arg, node.parents = op, v._arg, parents
        node.level = 1 + max(nodes[p].level for p in parents)
        return self._new((op, v._arg, parents), node)

    def describe(self, node: _Node | None) -> str:
        if node is None:
            return "a different result node"
        if node.kind != "op":
            return f"{node.kind} {node.data!r}" + (f" ({node.label})" if node.label else "")
        shown = ", ".join(self._short(p) for p in node.parents[:4])
        more = ", ..." if len(node.parents) > 4 else ""
        arg = "" if node.arg is None else f", {node.arg!r}"
        label = f" labelled {node.label!r}" if node.label else ""
        return f"{node.op.name}({shown}{more}{arg}){label} at level {node.level}"

    def _short(self, i: int) -> str:
        node = self.nodes[i]
        if node.kind == "op":
            return f"<{node.op.name} #{i}>"
        return node.label or f"{node.kind} {node.data:.4g}"


# --- lowering: groups, slots and row plans -------------------------------------------


class _Rows:
    """Where the rows of one operand of a group live, and how to read and scatter them.

    Positions are (slot, row) per operand element. ``read(slots)`` gives an array of
    shape (n, columns): a view when the rows are one contiguous range of one slot, a
    single row (broadcast) when every element is the same node, else a gathered copy.
    ``scatter(grads, c)`` adds a contribution into the gradient slots, summed over the
    batch for a slot computed once, and only for the elements that need a gradient.
    """

    def __init__(self, positions: list[tuple[int, int]], need: list[bool],
                 columns: list[bool], broadcast: bool = True) -> None:
        self.n = len(positions)
        slots = {s for s, _ in positions}
        rows = np.array([r for _, r in positions], dtype=np.intp)
        self.uniform = broadcast and self.n > 1 and len(set(positions)) == 1
        if len(slots) == 1:
            (slot,) = slots
            if self.uniform:
                self.read = _slice_reader(slot, slice(rows[0], rows[0] + 1))
            elif np.array_equal(rows, np.arange(rows[0], rows[0] + self.n)):
                self.read = _slice_reader(slot, slice(rows[0], rows[0] + self.n))
            else:
                self.read = _take_reader(slot, rows)
        else:
            self.read = _gather_reader(positions, columns)
        self.pieces = []  # (slot, rows in slot, positions in operand or None, duplicates)
        for slot in sorted(slots):
            at = [i for i, (s, _) in enumerate(positions) if s == slot and need[i]]
            if not at:
                continue
            where = rows[at]
            if self.uniform:
                self.pieces.append((slot, slice(where[0], where[0] + 1), None, False))
                continue
            everything = len(at) == self.n
            duplicates = len(set(where.tolist())) < len(at)
            if np.array_equal(where, np.arange(where[0], where[0] + len(at))):
                where = slice(int(where[0]), int(where[0]) + len(at))
            self.pieces.append((slot, where, None if everything else np.array(at, np.intp),
                                duplicates))

    def finish(self, assigned: set[int], columns: list[bool], wide: bool) -> None:
        """Fix how ``scatter`` writes, once the program knows which gradient slots are
        assigned (written whole by this operand alone) and whether the contribution
        has one column per sample (``wide``)."""
        writers = [_piece_writer(slot, where, at, duplicates, wide and not columns[slot],
                                 slot in assigned)
                   for slot, where, at, duplicates in self.pieces]
        if self.uniform:
            (write,) = writers

            def scatter(grads: list, c: np.ndarray) -> None:
                write(grads, np.add.reduce(c, axis=0, keepdims=True))

        elif len(writers) == 1:
            scatter = writers[0]
        else:

            def scatter(grads: list, c: np.ndarray) -> None:
                for write in writers:
                    write(grads, c)

        self.scatter = scatter


def _piece_writer(slot: int, rows: slice | np.ndarray, at: np.ndarray | None,
                  duplicates: bool, narrow: bool, assign: bool) -> Callable:
    """Write contribution rows ``at`` (all if None) into gradient rows ``rows`` of
    ``slot``, summed over the batch when ``narrow``; assigned when ``assign``."""
    reduce = np.add.reduce

    def write(grads: list, c: np.ndarray) -> None:
        if at is not None:
            c = c[at]
        if narrow:
            c = reduce(c, axis=1, keepdims=True)
        if assign:
            grads[slot] = c
        elif duplicates:
            np.add.at(grads[slot], rows, c)
        else:
            grads[slot][rows] += c

    return write


def _slice_reader(slot: int, rows: slice) -> Callable:
    return lambda slots: slots[slot][rows]


def _take_reader(slot: int, rows: np.ndarray) -> Callable:
    return lambda slots: slots[slot].take(rows, axis=0)


def _gather_reader(positions: list[tuple[int, int]], columns: list[bool]) -> Callable:
    """Rows from several slots into one array, broadcasting once-computed rows."""
    slots = sorted({s for s, _ in positions})
    parts = [(s, np.array([i for i, (t, _) in enumerate(positions) if t == s], np.intp),
              np.array([r for t, r in positions if t == s], np.intp)) for s in slots]
    batch_slot = next((s for s in slots if columns[s]), None)
    n = len(positions)

    def read(slots_now: list) -> np.ndarray:
        width = 1 if batch_slot is None else slots_now[batch_slot].shape[1]
        out = np.empty((n, width))
        for s, at, rows in parts:
            out[at] = slots_now[s].take(rows, axis=0)
        return out

    return read


def _full(c: Any, shape: tuple) -> np.ndarray:
    """A local gradient as an array of the group's shape (a rule may return a scalar)."""
    if c.__class__ is np.ndarray and c.shape == shape:
        return c
    return np.broadcast_to(np.asarray(c, dtype=np.float64), shape)


class _Group:
    """Nodes of one level computed by one NumPy call (subclasses: map, segment, matmul).

    ``forward(slots, saved)`` returns the group's values and appends what backward
    needs to ``saved``; ``backward(grads, g, out, saved_entry)`` scatters the
    gradients of the operands that need one.
    """

    slot: int
    size: int
    batch: bool
    grad: bool
    nodes: list[int]
    operands: list[_Rows]

    def wide(self, operand: _Rows) -> bool:
        """Whether this group's contribution to ``operand`` has one column per sample."""
        return self.batch

    def label(self) -> str:
        raise NotImplementedError


class _Map(_Group):
    """A unary or binary op (possibly with a fixed number) applied elementwise."""

    def __init__(self, op: ops.Op, arg: float | None, operands: list[_Rows]) -> None:
        self.op, self.arg, self.operands = op, arg, operands
        self.readers = [r.read for r in operands]

    def forward(self, slots: list, saved: list) -> np.ndarray:
        xs = [read(slots) for read in self.readers]
        saved.append(xs)
        if self.arg is None:
            return self.op.forward(ARRAYS, *xs)
        return self.op.forward(ARRAYS, *xs, self.arg)

    def backward(self, grads: list, g: np.ndarray, out: np.ndarray, xs: list) -> None:
        op = self.op
        if self.arg is None:
            local = op.grad(ARRAYS, g, out, *xs)
        else:
            local = op.grad(ARRAYS, g, out, *xs, self.arg)
        if op.arity == 1:
            local = (local,)
        shape = g.shape
        for rows, c in zip(self.operands, local):
            if rows.pieces:
                rows.scatter(grads, _full(c, shape))

    def label(self) -> str:
        return self.op.name if self.arg is None else f"{self.op.name} {self.arg:g}"


class _Segment(_Group):
    """n-ary sum or dot: the op's rule on every term of the group, summed per node."""

    def __init__(self, op: ops.Op, operands: list[_Rows], lengths: list[int]) -> None:
        self.op, self.operands = op, operands
        self.readers = [r.read for r in operands]
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
        self.owner = np.repeat(np.arange(len(lengths)), lengths)

    def forward(self, slots: list, saved: list) -> np.ndarray:
        xs = [read(slots) for read in self.readers]
        saved.append(xs)
        return np.add.reduceat(self.op.forward(ARRAYS, *xs), self.starts, axis=0)

    def backward(self, grads: list, g: np.ndarray, out: np.ndarray, xs: list) -> None:
        g_terms = g[self.owner]
        local = self.op.grad(ARRAYS, g_terms, out[self.owner], *xs)
        for rows, c in zip(self.operands, local):
            if rows.pieces:
                rows.scatter(grads, _full(c, g_terms.shape))

    def label(self) -> str:
        return f"{self.op.name} of {len(self.owner)} terms"


class _MatMul(_Group):
    """Dot nodes sharing their inputs: out (k, batch) = W (k, n) @ X (n, batch)."""

    def __init__(self, weights: _Rows, inputs: _Rows, k: int) -> None:
        self.weights, self.inputs, self.k = weights, inputs, k
        self.operands = [weights, inputs]

    def forward(self, slots: list, saved: list) -> np.ndarray:
        w = self.weights.read(slots).reshape(self.k, -1)
        x = self.inputs.read(slots)
        saved.append((w, x))
        return w @ x

    def backward(self, grads: list, g: np.ndarray, out: np.ndarray, wx: tuple) -> None:
        w, x = wx
        if self.weights.pieces:
            self.weights.scatter(grads, (g @ x.T).reshape(-1, 1))
        if self.inputs.pieces:
            self.inputs.scatter(grads, w.T @ g)

    def wide(self, operand: _Rows) -> bool:
        return operand is self.inputs and self.batch

    def label(self) -> str:
        return f"dot as matmul {self.k}x{self.inputs.n}"


class _Program:
    """The lowered graph: slots, groups in level order, and the rows of the outputs."""

    def __init__(self, graph: _Graph, roots: np.ndarray, arrays: list, name: str) -> None:
        nodes = graph.nodes
        self.graph, self.name = graph, name
        self.shapes = [None if x is None else x.shape[1:] for x in arrays]
        self.outputs_per_sample = roots.shape[1]
        self.position: dict[int, tuple[int, int]] = {}
        self.columns = [False, False] + [x is not None for x in arrays]  # batch-wide slots
        self.sizes = [0, 0] + [0 if x is None else int(np.prod(x.shape[1:])) for x in arrays]
        for i, node in enumerate(nodes):
            if node.kind == "input":
                position, flat = node.where
                self.position[i] = (2 + position, flat)
        self.layout: list[Value] = []
        self.layout_index: list[int] = []
        self.constants: list[float] = []
        self.groups: list[_Group] = []
        keyed = self._group_nodes(nodes)
        self._lay_out_weights(keyed, nodes, graph)
        for key, members in sorted(keyed.items(), key=lambda kv: (kv[0][1], kv[1][0])):
            self._lower(key, members, nodes)
        self.roots = _Rows([self._place(i) for i in roots.ravel()],
                           [nodes[i].grad for i in roots.ravel()], self.columns,
                           broadcast=False)
        self.layout_index = np.array(self.layout_index, dtype=np.intp)
        trainable = [nodes[graph.index[p]].grad for p in self.layout]
        self.trainable = np.array(trainable, dtype=np.float64)
        self.trainable_rows = np.flatnonzero(self.trainable)
        self.trainable_params = [p for p, t in zip(self.layout, trainable) if t]
        self.constant_slot = np.array(self.constants, dtype=np.float64).reshape(-1, 1)
        self.sizes[PARAMS], self.sizes[CONSTANTS] = len(self.layout), len(self.constants)
        self._plan_gradients()

    # grouping

    def _group_nodes(self, nodes: list[_Node]) -> dict[tuple, list[int]]:
        keyed: dict[tuple, list[int]] = {}
        self.halves: dict[int, tuple] = {}
        for i, node in enumerate(nodes):
            if node.kind != "op":
                continue
            op, parents = node.op, node.parents
            if op.arity == 0:
                key = ("segment", node.level, op, node.batch)
                if op is ops.DOT and node.batch:
                    n = len(parents) // 2
                    a, b = parents[:n], parents[n:]
                    for w, x in ((a, b), (b, a)):
                        if not any(nodes[j].batch for j in w):
                            key = ("matmul", node.level, x)
                            self.halves[i] = (w, x)
                            break
            else:
                key = ("map", node.level, op, node.arg,
                       tuple(nodes[p].batch for p in parents))
            keyed.setdefault(key, []).append(i)
        return keyed

    def _lay_out_weights(self, keyed: dict, nodes: list[_Node], graph: _Graph) -> None:
        """Parameters get rows in the order the matrix products read them (row-major),
        so each weight matrix is a view of the parameter slot; the others follow in
        order of first use."""
        for key, members in sorted(keyed.items(), key=lambda kv: (kv[0][1], kv[1][0])):
            if key[0] == "matmul":
                for i in members:
                    for w in self.halves[i][0]:
                        self._place(w)

    def _place(self, i: int) -> tuple[int, int]:
        """The (slot, row) of node i, giving a parameter or a constant its row on first use."""
        found = self.position.get(i)
        if found is not None:
            return found
        node = self.graph.nodes[i]
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

    def _lower(self, key: tuple, members: list[int], nodes: list[_Node]) -> None:
        kind = key[0]

        def sort_key(i: int) -> tuple:
            first = self.halves[i][0][0] if kind == "matmul" else nodes[i].parents[0]
            rest = () if kind != "map" else nodes[i].parents[1:]
            return tuple(self._sort_position(p) for p in (first, *rest))

        members = sorted(members, key=sort_key)
        need = [nodes[i].grad for i in members]

        def rows(ids: list[int]) -> _Rows:
            return _Rows([self._place(j) for j in ids], [nodes[j].grad for j in ids],
                         self.columns)

        if kind == "matmul":
            weights = [w for i in members for w in self.halves[i][0]]
            group: _Group = _MatMul(rows(weights), rows(list(self.halves[members[0]][1])),
                                    len(members))
        elif kind == "segment":
            op = key[2]
            parts = [nodes[i].parents for i in members]
            if op is ops.DOT:
                halves = [[p for ps in parts for p in ps[:len(ps) // 2]],
                          [p for ps in parts for p in ps[len(ps) // 2:]]]
                lengths = [len(ps) // 2 for ps in parts]
            else:
                halves = [[p for ps in parts for p in ps]]
                lengths = [len(ps) for ps in parts]
            group = _Segment(op, [rows(h) for h in halves], lengths)
        else:
            arity = nodes[members[0]].op.arity
            group = _Map(key[2], key[3],
                         [rows([nodes[i].parents[j] for i in members]) for j in range(arity)])
        group.slot = len(self.columns)
        group.size = len(members)
        group.batch = nodes[members[0]].batch
        group.grad = any(need)
        group.nodes = members
        self.columns.append(group.batch)
        self.sizes.append(len(members))
        for row, i in enumerate(members):
            self.position[i] = (group.slot, row)
        self.groups.append(group)

    def _sort_position(self, i: int) -> tuple:
        found = self.position.get(i)
        if found is not None:
            return (found[0], found[1], 0)
        kind = self.graph.nodes[i].kind
        return (PARAMS if kind == "param" else CONSTANTS, len(self.graph.nodes), i)

    def _plan_gradients(self) -> None:
        """A gradient slot written whole by a single scatter is assigned that array;
        the others are allocated as zeros at each call and accumulated into."""
        writers: dict[int, list] = {}
        operands = [(self.roots, True)] + [
            (rows, g.wide(rows)) for g in self.groups if g.grad for rows in g.operands
        ]
        for rows, _ in operands:
            for slot, where, at, _ in rows.pieces:
                writers.setdefault(slot, []).append((rows, where, at))
        self.assigned = set()
        for slot, pieces in writers.items():
            rows, where, at = pieces[0]
            if (len(pieces) == 1 and at is None and not rows.uniform
                    and isinstance(where, slice) and where.start == 0
                    and where.stop == self.sizes[slot]):
                self.assigned.add(slot)
        self.accumulated = [s for s in writers if s not in self.assigned]
        for rows, wide in operands:
            rows.finish(self.assigned, self.columns, wide)

    def check_shapes(self, arrays: list) -> None:
        for position, (x, shape) in enumerate(zip(arrays, self.shapes)):
            if x is not None and x.shape[1:] != shape:
                raise ValueError(
                    f"compiled {self.name}: argument {position} has samples of shape "
                    f"{x.shape[1:]}, but was traced with {shape}"
                )

    # description

    def summary(self) -> str:
        nodes = sum(g.size for g in self.groups)
        levels = len({self.graph.nodes[g.nodes[0]].level for g in self.groups})
        matmuls = sum(isinstance(g, _MatMul) for g in self.groups)
        return (f"{nodes} op nodes in {len(self.groups)} groups over {levels} levels, "
                f"{matmuls} matmuls, {len(self.layout)} parameters")

    def describe(self, name: str) -> str:
        lines = [f"compiled {name}: {self.summary()}"]
        for g in self.groups:
            level = self.graph.nodes[g.nodes[0]].level
            where = "per sample" if g.batch else "once"
            backward = "" if g.grad else ", no backward"
            lines.append(f"  level {level:>3}  {g.label():<32} x{g.size:<6} {where}{backward}")
        return "\n".join(lines)


class _Run:
    """The arrays of one call: slot values, saved operands, gradient slots."""

    def __init__(self, program: _Program, arrays: list, label_index: np.ndarray | None,
                 size: int) -> None:
        self.program, self.size, self.label_index = program, size, label_index
        slots: list = [None, program.constant_slot]
        for x in arrays:
            slots.append(None if x is None else x.reshape(size, -1).T)
        self.slots = slots
        self.saved: list = []
        self.grads: list = []

    def _forward(self) -> None:
        slots, saved = self.slots, self.saved
        group = None
        try:
            for group in self.program.groups:
                slots.append(group.forward(slots, saved))
        except (ArithmeticError, ValueError) as error:
            raise type(error)(self._failure("forward", group, error)) from error

    def _failure(self, stage: str, group: _Group, error: Exception) -> str:
        graph = self.program.graph
        return (f"compiled {self.program.name}: {stage} of {group.size} node(s) like "
                f"{graph.describe(graph.nodes[group.nodes[0]])} failed: {error}")

    def _per_sample(self) -> np.ndarray:
        """fn's outputs for every sample, shape (outputs, batch), picking each sample's
        label among the traced ones."""
        program, size = self.program, self.size
        values = program.roots.read(self.slots)
        if values.shape[1] != size:
            values = np.broadcast_to(values, (values.shape[0], size))
        k = program.outputs_per_sample
        if self.label_index is None:
            return values
        values = values.reshape(-1, k, size)
        return values[self.label_index, :, np.arange(size)].T

    def outputs(self) -> np.ndarray:
        self._forward()
        out = self._per_sample()
        return out[0].copy() if out.shape[0] == 1 else out.T.copy()

    def forward_backward(self, reduction: str) -> float:
        """Run forward and backward; the reduced loss. Parameter gradients end in
        ``self.grads[PARAMS]``, shape (parameters, 1)."""
        self._forward()
        program, slots, size = self.program, self.slots, self.size
        total = float(self._per_sample()[0].sum())
        weight = 1.0 / size if reduction == "mean" else 1.0
        if self.label_index is None:
            seed = np.full((1, size), weight)
        else:
            seed = np.zeros((program.roots.n, size))
            seed[self.label_index, np.arange(size)] = weight
        grads = [None] * len(slots)
        columns, sizes = program.columns, program.sizes
        for s in program.accumulated:
            grads[s] = np.zeros((sizes[s], size if columns[s] else 1))
        if program.roots.pieces:
            program.roots.scatter(grads, seed)
        saved, groups = self.saved, program.groups
        group = None
        try:
            for i in range(len(groups) - 1, -1, -1):
                group = groups[i]
                if group.grad:
                    out = slots[group.slot]
                    group.backward(grads, _full(grads[group.slot], out.shape), out, saved[i])
        except (ArithmeticError, ValueError) as error:
            raise type(error)(self._failure("backward", group, error)) from error
        if grads[PARAMS] is None:
            grads[PARAMS] = np.zeros((len(program.layout), 1))
        self.grads = grads
        return total / size if reduction == "mean" else total
