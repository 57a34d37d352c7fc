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
``compiled.flat()`` moves the trainable parameters into one NumPy vector instead
(``FlatParameters``): calls then read and write that vector and no Value, and an
optimizer given the vector runs its update rule once on arrays.
"""

from __future__ import annotations

import abc
import builtins
import itertools
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

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
compile_source = builtins.compile  # this module's ``compile`` is the public function


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
        self._lookup = {}  # argument position -> (sorted label values, their indices)
        for position, values in self.labels.items():
            numbers_ = np.array([float(v) for v in values])
            order = np.argsort(numbers_)
            self._lookup[position] = (numbers_[order], order)
        self._program: _Program | None = None
        self._flat: FlatParameters | None = None

    # --- public calls ----------------------------------------------------------------

    def __call__(self, *batch: Any) -> float:
        """Forward and backward over ``batch``: the reduced loss; d loss/d p added to p.grad
        (to ``flat.grad`` while a ``flat()`` view is active)."""
        program, run = self._start(batch, training=True)
        run.params = self._parameter_column(program)
        loss = run.forward_backward(self.reduction)
        flat = self._flat
        if flat is None:
            _add_grads(program, run.grads)
        else:
            flat._grad = flat._bridge(program).add_grads(flat._grad, run.grads)
        return loss

    def forward(self, *batch: Any) -> np.ndarray:
        """fn on every sample, no gradients: shape (batch,), or (batch, k) for k outputs."""
        program, run = self._start(batch, training=False)
        run.params = self._parameter_column(program)
        return run.outputs()

    def _parameter_column(self, program: _Program) -> np.ndarray:
        """The parameters' numbers as the program's (rows, 1) slot: from the active
        ``flat()`` view, else from the Values."""
        flat = self._flat
        if flat is not None:
            return flat._bridge(program).params(flat._data)
        return _numbers(_DATA, program.layout).reshape(-1, 1)

    def flat(self) -> FlatParameters:
        """The trainable parameters as one float64 vector: the active view, made on
        first use from the Values' current numbers. See ``FlatParameters``."""
        if self._flat is None:
            self._flat = FlatParameters(self)
        return self._flat

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
        run.params = theta[program.layout_index].reshape(-1, 1)
        loss = run.forward_backward(self.reduction)
        grad = np.zeros(len(self.params))
        grad[program.layout_index] = run.grads[:, 0] * program.trainable
        return loss, grad

    def describe(self) -> str:
        """The lowered program, one line per group: level, op, nodes, batch or once."""
        if self._program is None:
            return f"compiled {self.name}: not traced yet (it is traced at the first call)"
        return self._program.describe(self.name)

    @property
    def source(self) -> str | None:
        """The generated Python of forward and backward (None until the first call)."""
        return None if self._program is None else self._program.source

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
        """Each sample's label as an index into the declared values."""
        values, order = self._lookup[position]
        where = np.searchsorted(values, y)
        bad = values.take(where, mode="clip") != y
        if bad.any():
            raise ValueError(
                f"compiled {self.name}: label {float(y[bad][0])!r} (argument {position}, sample "
                f"{int(np.argmax(bad))}) is not one of the declared "
                f"{list(self.labels[position])}"
            )
        return order.take(where)

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
        if len({float(v) for v in values}) != len(values):
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


def _numbers(field: Callable[[Value], float], values: Sequence[Value]) -> np.ndarray:
    """``field`` (``_DATA`` or ``_GRAD``) of every Value, as a float64 array."""
    return np.fromiter(map(field, values), np.float64, len(values))


def _add_grads(program: _Program, grads: np.ndarray) -> None:
    """p.grad += gradient for every trainable parameter: one tight loop, the cheapest
    way to touch thousands of Values (use ``flat()`` to touch none)."""
    pairs = zip(program.trainable_params, grads[program.trainable_rows, 0].tolist())
    while True:
        try:
            for p, g in pairs:
                p.grad += g
            return
        except TypeError:  # p was frozen (grad None) after compiling: skip it, go on
            continue


class FlatParameters:
    """The trainable parameters of a Compiled as one float64 vector, for fast training.

    ``flat = compiled.flat()`` copies every parameter that requires grad (in
    ``params`` order; ``flat.params`` lists them) into ``flat.data`` and starts
    ``flat.grad`` at their current gradients. From then on ``compiled(*batch)`` reads
    the parameters from ``flat.data`` and adds its gradient into ``flat.grad``: no
    Value is read or written. Pass ``flat`` to an optimizer as its one parameter
    (``optim.SGD([flat], lr=0.05)``): its update rule then runs once on the arrays.

    The Values are stale while the view is active: ``sync()`` writes ``flat.data``
    (and, if asked, ``flat.grad``) back into them, for eager evaluation, saving or
    drawing; ``close()`` syncs and ends the view (so does leaving a ``with`` block).
    Parameters frozen when the view is made (grad None) are not in it: calls keep
    reading their Values. The arrays are never changed in place: calls, ``zero_grad``
    and assignments (``flat.data = ...``, as optimizers do) bind a new array, so an
    array kept elsewhere (SGD's first momentum buffer is the gradient itself) keeps
    its numbers, as a float would.
    """

    __slots__ = ("_cached_bridge", "_compiled", "_data", "_grad", "params")

    def __init__(self, compiled: Compiled) -> None:
        self._compiled = compiled
        self.params = [p for p in compiled.params if p.grad is not None]
        self._data = _numbers(_DATA, self.params)
        self._grad = _numbers(_GRAD, self.params)
        self._cached_bridge: _Bridge | None = None  # made by the first call

    @property
    def data(self) -> np.ndarray:
        """The parameters' numbers, shape (n,); assigning stores a copy (or a number
        broadcast) as a new array."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = self._new(value, "data")

    @property
    def grad(self) -> np.ndarray:
        """The accumulated gradients, shape (n,); assigning stores a copy (or a number
        broadcast: ``grad = 0.0``) as a new array."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            raise ValueError("FlatParameters: grad cannot be None (freeze Values before flat())")
        self._grad = self._new(value, "grad")

    def _new(self, value: Any, name: str) -> np.ndarray:
        array = np.empty(len(self.params))
        try:
            array[...] = value
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"FlatParameters: {name} must be {len(self.params)} numbers, got {error}"
            ) from None
        return array

    @property
    def active(self) -> bool:
        """True until ``close()``: the compiled calls read and write these arrays."""
        return self._compiled._flat is self

    def zero_grad(self) -> None:
        """grad <- 0 (a new array)."""
        self._grad = np.zeros(len(self.params))

    def sync(self, grad: bool = False) -> None:
        """Write ``data`` (and ``grad`` if asked) back into the Values."""
        for p, x in zip(self.params, self._data.tolist()):
            p.data = x
        if grad:
            for p, g in zip(self.params, self._grad.tolist()):
                p.grad = g

    def reload(self) -> None:
        """Read the Values' numbers into ``data`` (after changing them by hand)."""
        self._data = _numbers(_DATA, self.params)

    def close(self) -> None:
        """Sync data and grad into the Values and end the view: calls use Values again."""
        self.sync(grad=True)
        if self.active:
            self._compiled._flat = None

    def __enter__(self) -> FlatParameters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        state = "active" if self.active else "closed"
        return f"FlatParameters({len(self.params)} parameters of {self._compiled.name}, {state})"

    def _bridge(self, program: _Program) -> _Bridge:
        if self._cached_bridge is None:  # a Compiled traces its program once and keeps it
            self._cached_bridge = _Bridge(program, self.params)
        return self._cached_bridge


class _Bridge:
    """Index arrays between a flat vector (in ``params`` order) and a program's layout."""

    def __init__(self, program: _Program, params: list[Value]) -> None:
        where = {id(p): i for i, p in enumerate(params)}
        n = len(params)
        index = np.array([where.get(id(p), -1) for p in program.layout], dtype=np.intp)
        self.frozen = [p for p, i in zip(program.layout, index.tolist()) if i < 0]
        self.frozen_rows = np.flatnonzero(index < 0)
        self.from_flat = index  # layout row -> flat position (-1: a frozen Value)
        self.identity = np.array_equal(index, np.arange(n))
        # flat position -> layout row, or the extra zero row for a parameter the
        # program does not differentiate (frozen at tracing, or unused by fn)
        rows = np.full(n, len(index), dtype=np.intp)
        live = (index >= 0) & (program.trainable != 0)
        rows[index[live]] = np.flatnonzero(live)
        self.to_flat = rows
        self.all_rows = self.identity and bool(live.all())

    def params(self, data: np.ndarray) -> np.ndarray:
        """The program's parameter slot, shape (rows, 1)."""
        if self.identity:
            return data.reshape(-1, 1)
        slot = data.take(self.from_flat)
        if self.frozen:
            slot[self.frozen_rows] = _numbers(_DATA, self.frozen)
        return slot.reshape(-1, 1)

    def add_grads(self, grad: np.ndarray, grads: np.ndarray) -> np.ndarray:
        """grad + the program's parameter gradients (in flat order), a new array."""
        column = grads[:, 0]
        if self.all_rows:
            return grad + column
        return grad + np.append(column, 0.0).take(self.to_flat)


# --- the traced graph ----------------------------------------------------------------


class _Node:
    """A node of the merged graph: a leaf (input, param, const) or an op on earlier nodes.

    ``batch``: depends on an input (one value per sample); ``grad``: depends on a
    trainable parameter (needs a gradient); ``level``: 0 for leaves, else 1 + the
    highest level of the parents.
    """

    __slots__ = (
        "arg",
        "batch",
        "data",
        "grad",
        "kind",
        "label",
        "level",
        "op",
        "parents",
        "where",
    )

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

    def constant(self, x: float) -> int:
        """The node of the constant ``x``."""
        return self._new(("const", x.hex()), _Node("const", None, x))

    def _leaf(self, v: Value | float) -> int:
        if not isinstance(v, Value):
            v = Value(v, requires_grad=False)
        if v.grad is not None:
            raise CompileError(
                f"compile: the graph uses {v!r}, which requires grad but is neither an "
                "input nor one of params: pass it in params, or detach() it to make it "
                "a constant"
            )
        found = self.constant(v.data)
        self.nodes[found].label = self.nodes[found].label or v.label
        return found

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


class _Source:
    """The lines of a generated function and the constants (index arrays, kernels) it
    refers to by name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "A": ARRAYS, "np": np, "full": _full, "reduce": np.add.reduce,
            "reduceat": np.add.reduceat, "add_at": np.add.at, "broadcast_to": np.broadcast_to,
        }

    def constant(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def line(self, text: str) -> None:
        self.lines.append("        " + text)


class _Rows:
    """Where the rows of one operand of a group live, and how to read and scatter them.

    Positions are (slot, row) per operand element; slot s is the local ``s<s>`` of the
    generated code and its gradient ``g<s>``. Reading gives an array (n, columns): a
    view when the rows are one contiguous range of one slot, one row (broadcast, for
    elementwise operands) when every element is the same node, else a gathered copy.
    Scattering adds a contribution into the gradient slots, summed over the batch for
    a slot computed once, and only for the elements that need a gradient.
    """

    def __init__(self, positions: list[tuple[int, int]], need: list[bool],
                 columns: list[bool], broadcast: bool = False) -> None:
        self.n = len(positions)
        self.positions, self.columns = positions, columns
        self.slots = sorted({s for s, _ in positions})
        rows = np.array([r for _, r in positions], dtype=np.intp)
        self.rows = rows
        self.uniform = broadcast and self.n > 1 and len(set(positions)) == 1
        self.pieces = []  # (slot, rows in slot, positions in operand or None, duplicates)
        for slot in self.slots:
            at = [i for i, (s, _) in enumerate(positions) if s == slot and need[i]]
            if not at:
                continue
            where = rows[at]
            if self.uniform:
                self.pieces.append((slot, slice(int(where[0]), int(where[0]) + 1), None, False))
                continue
            duplicates = len(set(where.tolist())) < len(at)
            if _is_range(where):
                where = slice(int(where[0]), int(where[0]) + len(at))
            self.pieces.append((slot, where, None if len(at) == self.n else np.array(at),
                                duplicates))

    def read(self, src: _Source) -> str:
        """An expression for the operand's values."""
        if len(self.slots) == 1:
            slot, first = self.slots[0], int(self.rows[0])
            if self.uniform:
                return f"s{slot}[{first}:{first + 1}]"
            if _is_range(self.rows):
                return f"s{slot}[{first}:{first + self.n}]"
            return f"s{slot}.take({src.constant('rows', self.rows)}, axis=0)"
        gather = src.constant("gather", _gatherer(self.positions, self.columns))
        return f"{gather}(({', '.join(f's{s}' for s in self.slots)},))"

    def scatter(self, src: _Source, c: str, wide: bool, assigned: set[int]) -> None:
        """Lines adding contribution ``c`` (one column per sample if ``wide``) into the
        gradients of the operand's elements that need one."""
        if self.uniform:
            src.line(f"{c} = reduce({c}, axis=0, keepdims=True)")
        for slot, where, at, duplicates in self.pieces:
            part = c if at is None else f"{c}[{src.constant('at', at)}]"
            if wide and not self.columns[slot]:
                part = f"reduce({part}, axis=1, keepdims=True)"
            rows = (f"{where.start}:{where.stop}" if isinstance(where, slice)
                    else src.constant("rows", where))
            if slot in assigned:
                src.line(f"g{slot} = {part}")
            elif duplicates:
                src.line(f"add_at(g{slot}, {rows}, {part})")
            else:
                src.line(f"g{slot}[{rows}] += {part}")


def _is_range(rows: np.ndarray) -> bool:
    return bool(len(rows)) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows)))


def _gatherer(positions: list[tuple[int, int]], columns: list[bool]) -> Callable:
    """Rows from several slots (given in slot order) into one array, broadcasting the
    slots computed once to one column per sample."""
    slots = sorted({s for s, _ in positions})
    parts = [(np.array([i for i, (t, _) in enumerate(positions) if t == s], np.intp),
              np.array([r for t, r in positions if t == s], np.intp)) for s in slots]
    wide = [k for k, s in enumerate(slots) if columns[s]]
    n = len(positions)

    def gather(arrays: tuple) -> np.ndarray:
        out = np.empty((n, arrays[wide[0]].shape[1] if wide else 1))
        for array, (at, rows) in zip(arrays, parts):
            out[at] = array.take(rows, axis=0)
        return out

    return gather


def _full(c: Any, shape: tuple) -> np.ndarray:
    """A local gradient as an array of the group's shape (a rule may return a scalar)."""
    if c.__class__ is np.ndarray and c.shape == shape:
        return c
    return np.broadcast_to(np.asarray(c, dtype=np.float64), shape)


class _Group(abc.ABC):
    """The nodes of one level computed by one NumPy call (map, segment or matmul).

    A group writes the lines of its forward pass (its values into ``s<slot>``, its
    operands kept in locals for backward) and of its backward pass (from its
    gradient ``g<slot>`` into its operands' gradients).
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

    @abc.abstractmethod
    def label(self) -> str:
        """A short description for ``describe()``."""


class _Map(_Group):
    """A unary or binary op (possibly with a fixed number) applied elementwise:
    ``op.forward(ARRAYS, x, ...)`` and ``op.grad(ARRAYS, g, out, x, ...)``."""

    def __init__(self, op: ops.Op, arg: float | None, operands: list[_Rows]) -> None:
        self.op, self.arg, self.operands = op, arg, operands

    def _call(self, src: _Source, rule: str, *args: str) -> str:
        kernel = src.constant(f"{self.op.name}_{rule}_", getattr(self.op, rule))
        xs = [f"x{self.slot}_{j}" for j in range(len(self.operands))]
        arg = [] if self.arg is None else [repr(self.arg)]
        return f"{kernel}(A, {', '.join([*args, *xs, *arg])})"

    def forward(self, src: _Source) -> None:
        for j, rows in enumerate(self.operands):
            src.line(f"x{self.slot}_{j} = {rows.read(src)}")
        src.line(f"s{self.slot} = {self._call(src, 'forward')}")

    def backward(self, src: _Source, assigned: set[int]) -> None:
        s = self.slot
        local = [f"c{s}_{j}" for j in range(len(self.operands))]
        rule = self._call(src, "grad", f"g{s}", f"s{s}")
        src.line(f"{', '.join(local)}, = {rule}")
        for c, rows in zip(local, self.operands):
            if rows.pieces:
                src.line(f"{c} = full({c}, s{s}.shape)")
                rows.scatter(src, c, self.wide(rows), assigned)

    def label(self) -> str:
        return self.op.name if self.arg is None else f"{self.op.name} {self.arg:g}"


class _Segment(_Group):
    """n-ary sum or dot as segments: the op's rule runs on every term of the group at
    once, ``reduceat`` sums each node's terms, and backward repeats g per term."""

    def __init__(self, op: ops.Op, operands: list[_Rows], lengths: list[int]) -> None:
        self.op, self.operands = op, operands
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
        self.owner = np.repeat(np.arange(len(lengths)), lengths)

    def forward(self, src: _Source) -> None:
        s = self.slot
        xs = [f"x{s}_{j}" for j in range(len(self.operands))]
        for x, rows in zip(xs, self.operands):
            src.line(f"{x} = {rows.read(src)}")
        terms = f"{src.constant(self.op.name + '_forward_', self.op.forward)}(A, {', '.join(xs)})"
        if len(self.starts) == 1:
            src.line(f"s{s} = reduce({terms}, axis=0, keepdims=True)")
        else:
            src.line(f"s{s} = reduceat({terms}, {src.constant('starts', self.starts)}, axis=0)")

    def backward(self, src: _Source, assigned: set[int]) -> None:
        s, n = self.slot, len(self.owner)
        if len(self.starts) == 1:
            src.line(f"t{s} = ({n}, s{s}.shape[1])")
            src.line(f"gt{s}, ot{s} = broadcast_to(g{s}, t{s}), broadcast_to(s{s}, t{s})")
        else:
            owner = src.constant("owner", self.owner)
            src.line(f"gt{s}, ot{s} = g{s}[{owner}], s{s}[{owner}]")
            src.line(f"t{s} = gt{s}.shape")
        xs = ", ".join(f"x{s}_{j}" for j in range(len(self.operands)))
        src.line(f"c{s} = {src.constant(self.op.name + '_grad_', self.op.grad)}(A, gt{s}, ot{s}, {xs})")
        for j, rows in enumerate(self.operands):
            if rows.pieces:
                src.line(f"c{s}_{j} = full(c{s}[{j}], t{s})")
                rows.scatter(src, f"c{s}_{j}", self.wide(rows), assigned)

    def label(self) -> str:
        return f"{self.op.name} of {len(self.owner)} terms"


class _MatMul(_Group):
    """Dot nodes sharing their inputs: out (k, batch) = W (k, n) @ X (n, batch) (+ b);
    backward dW = g X^T (summed over the batch by the product), dX = W^T g, db = g."""

    def __init__(self, weights: _Rows, inputs: _Rows, bias: _Rows | None, k: int) -> None:
        self.weights, self.inputs, self.bias, self.k = weights, inputs, bias, k
        self.operands = [weights, inputs] + ([bias] if bias is not None else [])

    def forward(self, src: _Source) -> None:
        s = self.slot
        src.line(f"w{s} = {self.weights.read(src)}.reshape({self.k}, {self.inputs.n})")
        src.line(f"x{s} = {self.inputs.read(src)}")
        bias = "" if self.bias is None else f" + {self.bias.read(src)}"
        src.line(f"s{s} = w{s} @ x{s}{bias}")

    def backward(self, src: _Source, assigned: set[int]) -> None:
        s = self.slot
        if self.weights.pieces:
            src.line(f"cw{s} = (g{s} @ x{s}.T).reshape(-1, 1)")
            self.weights.scatter(src, f"cw{s}", False, assigned)
        if self.inputs.pieces:
            src.line(f"cx{s} = w{s}.T @ g{s}")
            self.inputs.scatter(src, f"cx{s}", self.batch, assigned)
        if self.bias is not None and self.bias.pieces:
            self.bias.scatter(src, f"g{s}", self.batch, assigned)

    def wide(self, operand: _Rows) -> bool:
        return operand is not self.weights and self.batch

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
                           [nodes[i].grad for i in roots.ravel()], self.columns)
        self.layout_index = np.array(self.layout_index, dtype=np.intp)
        trainable = [nodes[graph.index[p]].grad for p in self.layout]
        self.trainable = np.array(trainable, dtype=np.float64)
        self.trainable_rows = np.flatnonzero(self.trainable)
        self.trainable_params = [p for p, t in zip(self.layout, trainable) if t]
        self.constant_slot = np.array(self.constants, dtype=np.float64).reshape(-1, 1)
        self.sizes[PARAMS], self.sizes[CONSTANTS] = len(self.layout), len(self.constants)
        self._plan_gradients()
        self._generate()

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
                n = len(parents) // 2
                if op is ops.DOT and node.batch and n:
                    a, b = parents[:n], parents[n:2 * n]
                    bias = parents[-1] if len(parents) % 2 else None
                    for w, x in ((a, b), (b, a)):
                        if not any(nodes[j].batch for j in w):
                            key = ("matmul", node.level, x, bias is None)
                            self.halves[i] = (w, x, bias)
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
        def first_parameter(i: int) -> int:
            return min((nodes[w].where for w in self.halves[i][0] if nodes[w].kind == "param"),
                       default=len(nodes))

        for key, members in sorted(keyed.items(), key=lambda kv: (kv[0][1], kv[1][0])):
            if key[0] == "matmul":
                for i in sorted(members, key=first_parameter):
                    for w in self.halves[i][0]:
                        if nodes[w].kind != "op":
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

        def rows(ids: list[int], broadcast: bool = False) -> _Rows:
            return _Rows([self._place(j) for j in ids], [nodes[j].grad for j in ids],
                         self.columns, broadcast)

        if kind == "matmul":
            weights = [w for i in members for w in self.halves[i][0]]
            biases = [self.halves[i][2] for i in members]
            group: _Group = _MatMul(rows(weights), rows(list(self.halves[members[0]][1])),
                                    None if biases[0] is None else rows(biases), len(members))
        elif kind == "segment":
            op = key[2]
            parts = [nodes[i].parents for i in members]
            if op is ops.DOT:
                # A bias b is one more term, b * 1, so the rule sees only (w, x) pairs.
                one = self.graph.constant(1.0)
                halves = [[], []]
                for ps in parts:
                    n = len(ps) // 2
                    halves[0] += ps[:n] + ps[2 * n:]
                    halves[1] += ps[n:2 * n] + (one,) * (len(ps) % 2)
                lengths = [len(ps) // 2 + len(ps) % 2 for ps in parts]
            else:
                halves = [[p for ps in parts for p in ps]]
                lengths = [len(ps) for ps in parts]
            group = _Segment(op, [rows(h) for h in halves], lengths)
        else:
            arity = nodes[members[0]].op.arity
            group = _Map(key[2], key[3],
                         [rows([nodes[i].parents[j] for i in members], broadcast=True)
                          for j in range(arity)])
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
        the others start as zeros at each call and are accumulated into."""
        writers: dict[int, list] = {}
        operands = [self.roots] + [rows for g in self.groups if g.grad for rows in g.operands]
        for rows in operands:
            for slot, where, at, _ in rows.pieces:
                writers.setdefault(slot, []).append((rows, where, at))
        self.assigned = set()
        for slot, pieces in writers.items():
            rows, where, at = pieces[0]
            if (len(pieces) == 1 and not rows.uniform and isinstance(where, slice)
                    and where.start == 0 and where.stop == self.sizes[slot]):
                self.assigned.add(slot)
        needed = set(writers) | {g.slot for g in self.groups if g.grad} | {PARAMS}
        self.accumulated = sorted(needed - self.assigned)

    def _generate(self) -> None:
        """Write the straight-line functions ``forward(s0, inputs) -> roots`` and
        ``train(s0, inputs, seed) -> (roots, g0)``: one block of lines per group."""
        inputs = [f"s{2 + i}" for i in range(len(self.shapes))]
        src = _Source()
        src.names["s1"] = self.constant_slot
        src.names["fail"] = self._failure
        for i, group in enumerate(self.groups):
            src.line(f"stage = {i}  # level {self.graph.nodes[group.nodes[0]].level}: "
                     f"{group.label()} x{group.size}")
            group.forward(src)
        src.line(f"roots = {self.roots.read(src)}")
        forward = list(src.lines)
        src.line("B = seed.shape[1]")
        for slot in self.accumulated:
            src.line(f"g{slot} = np.zeros(({self.sizes[slot]}, "
                     f"{'B' if self.columns[slot] else 1}))")
        self.roots.scatter(src, "seed", True, self.assigned)
        for i in range(len(self.groups) - 1, -1, -1):
            group = self.groups[i]
            if group.grad:
                src.line(f"stage = {len(self.groups) + i}  # backward of {group.label()}")
                group.backward(src, self.assigned)
        train = src.lines[len(forward):]
        header = f"    ({', '.join(inputs)},) = inputs\n    stage = -1\n    try:\n"
        footer = ("    except (ArithmeticError, ValueError) as error:\n"
                  "        raise fail(stage, error) from error\n")
        self.source = (
            "def forward(s0, inputs):\n" + header + "\n".join(forward)
            + "\n        return roots\n" + footer + "\n\n"
            "def train(s0, inputs, seed):\n" + header + "\n".join(forward + train)
            + "\n        return roots, g0\n" + footer
        )
        # The source is built here from the op table and index arrays only: no user text.
        exec(compile_source(self.source, f"<compiled {self.name}>", "exec"), src.names)  # noqa: S102
        self.forward, self.train = src.names["forward"], src.names["train"]

    def _failure(self, stage: int, error: Exception) -> Exception:
        """The error of the generated code, naming the group that raised it."""
        group = self.groups[stage % len(self.groups)]
        node = self.graph.describe(self.graph.nodes[group.nodes[0]])
        where = "backward" if stage >= len(self.groups) else "forward"
        return type(error)(f"compiled {self.name}: {where} of {group.size} node(s) like "
                           f"{node} failed: {error}")

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
    """One call of the program on a batch: inputs as (rows, batch) arrays, labels."""

    def __init__(self, program: _Program, arrays: list, label_index: np.ndarray | None,
                 size: int) -> None:
        self.program, self.size, self.label_index = program, size, label_index
        self.inputs = [None if x is None else x.reshape(size, -1).T for x in arrays]
        self.params: np.ndarray | None = None
        self.grads: np.ndarray | None = None

    def _per_sample(self, roots: np.ndarray) -> np.ndarray:
        """fn's outputs for every sample, shape (outputs, batch), picking each sample's
        label among the traced ones."""
        size, k = self.size, self.program.outputs_per_sample
        if roots.shape[1] != size:
            roots = np.broadcast_to(roots, (roots.shape[0], size))
        if self.label_index is None:
            return roots
        return roots.reshape(-1, k, size)[self.label_index, :, np.arange(size)].T

    def outputs(self) -> np.ndarray:
        out = self._per_sample(self.program.forward(self.params, self.inputs))
        return out[0].copy() if out.shape[0] == 1 else out.T.copy()

    def forward_backward(self, reduction: str) -> float:
        """Forward and backward; the reduced loss. The parameters' gradients (in the
        program's layout) end in ``self.grads``, shape (parameters, 1)."""
        size = self.size
        weight = 1.0 / size if reduction == "mean" else 1.0
        if self.label_index is None:
            seed = np.full((1, size), weight)
        else:
            seed = np.zeros((self.program.roots.n, size))
            seed[self.label_index, np.arange(size)] = weight
        roots, self.grads = self.program.train(self.params, self.inputs, seed)
        total = float(self._per_sample(roots)[0].sum())
        return total / size if reduction == "mean" else total
