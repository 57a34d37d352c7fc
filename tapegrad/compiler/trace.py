"""Stage 1, trace: fn + parameters + one sample -> a ``TracedGraph``.

``fn`` is recorded on the first sample of the batch: every input number becomes a
placeholder Value (it requires grad while tracing, so that ``x * 2.0`` records a
node), the parameters are the graph's leaves, and each argument declared in
``labels`` is a plain number, traced once per value it can take. Identical nodes of
all traces are stored once. Each node gets a level, 1 + the highest level of its
parents (0 for leaves), and two flags: ``batch`` (it depends on an input, so it has
one value per sample) and ``grad`` (it depends on a trainable parameter).
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, NoReturn, cast

import numpy as np

from ..autograd import ops
from ..autograd.engine import topological_order
from ..autograd.mode import enable_grad
from ..autograd.tracing import ONE_SAMPLE, WHOLE_BATCH, CompileError, tracing
from ..autograd.value import Value

# x * 1, 1 * x and x / 1 return x exactly, value and gradient: such nodes are dropped.
_TIMES_ONE = {
    ops.WITH_CONSTANT[("mul", 0)],
    ops.WITH_CONSTANT[("mul", 1)],
    ops.WITH_CONSTANT[("div", 1)],
}


class Placeholder(Value):
    """An input of the traced function: its number stands for every sample's.

    Python code that reads it (``.data``, ``float()``, ``bool()``, ``item()``) would
    take one branch, or compute one number, for the traced sample and replay that for
    every sample, so reading it is refused. Operations on it (which read the number
    inside the engine) record the graph as usual.
    """

    __slots__ = ()

    def _refuse(self, how: str) -> NoReturn:
        raise CompileError(
            f"compile: the function read the number of its input {self.label} ({how}); "
            "compiled mode records the function once and replays it for every sample, so "
            "Python code that depends on an input's number (a branch such as "
            "`if x.data > 0:`) would be frozen at the traced sample. Write it with Value "
            "operations (relu, abs, max through relu, ...) or run it eagerly"
        )

    @property
    def data(self) -> float:
        self._refuse(".data")

    def __float__(self) -> float:
        self._refuse("float()")

    def __bool__(self) -> bool:
        self._refuse("bool(), as in `if x:`")

    def item(self) -> float:
        self._refuse(".item()")


class Node(NamedTuple):
    """A node of the traced graph: a leaf (input, param, const) or an op on earlier nodes.

    ``where``: (argument, index) of an input, the position in ``params`` of a param.
    """

    kind: str
    where: Any
    data: float
    label: str | None
    op: ops.Op | None = None
    arg: float | None = None
    parents: tuple[int, ...] = ()
    batch: bool = False
    grad: bool = False
    level: int = 0


class TracedGraph(NamedTuple):
    """Every traced node in topological order, the parameters, and the roots.

    ``roots[c, k]`` is the node of output k of fn for label combination c (one row
    when there are no labels); ``shapes[a]`` is the shape of one sample of argument
    a (None for a labels argument). Param i is node i. ``modules``: the modules fn
    called while it was traced (their training flags are part of the graph).
    """

    nodes: tuple[Node, ...]
    params: tuple[Value, ...]
    roots: np.ndarray
    shapes: tuple[tuple[int, ...] | None, ...]
    modules: tuple[object, ...] = ()


def describe_node(nodes: Sequence[Node], node: Node | None) -> str:
    """A node as error messages name it: op, first parents, fixed number, label, level."""
    if node is None:
        return "a different result node"
    if node.kind != "op":
        return f"{node.kind} {node.data!r}" + (f" ({node.label})" if node.label else "")
    op = cast(ops.Op, node.op)  # an op node has one
    shown = [_short(nodes, p) for p in node.parents[:4]]
    if len(node.parents) > 4:
        shown.append("...")
    shown = in_order(op, shown, None if node.arg is None else repr(node.arg))
    label = f" labelled {node.label!r}" if node.label else ""
    return f"{op.name}({', '.join(shown)}){label} at level {node.level}"


def in_order(op: ops.Op, operands: list, arg: Any) -> list:
    """``operands`` with the op's fixed number ``arg`` (unless None) in its place, as
    the expression reads: first for a reflected op (``3.0 / x`` is div(3.0, x)), else
    last (``x / 3.0``, ``x.leaky_relu(0.1)``)."""
    if arg is None:
        return operands
    return [arg, *operands] if op.constant_at == 0 else [*operands, arg]


def _short(nodes: Sequence[Node], i: int) -> str:
    node = nodes[i]
    if node.kind == "op":
        return f"<{cast(ops.Op, node.op).name} #{i}>"
    return node.label or f"{node.kind} {node.data:.4g}"


def format_graph(graph: TracedGraph) -> str:
    """The traced graph, one line per node: the printed form of this stage."""
    lines = []
    for i, node in enumerate(graph.nodes):
        flags = "".join(f for f, on in (("B", node.batch), ("G", node.grad)) if on)
        if node.kind == "op":
            arg = "" if node.arg is None else f" {node.arg:g}"
            what = f"{cast(ops.Op, node.op).name}{arg}({', '.join(f'#{p}' for p in node.parents)})"
        else:
            what = f"{node.kind} {node.label or format(node.data, 'g')}"
        lines.append(f"#{i:<3} L{node.level} {flags:<2} {what}")
    lines.append(f"roots {graph.roots.tolist()}")
    return "\n".join(lines)


class _Builder:
    """Collects the nodes of every trace; identical nodes are stored once."""

    def __init__(self, params: Sequence[Value]) -> None:
        self.nodes: list[Node] = []
        self.index: dict[Value, int] = {}  # traced Value -> node (keeps the Values alive)
        self.keys: dict[tuple, int] = {}
        for i, p in enumerate(params):
            self.index[p] = self._new(
                ("param", i), Node("param", i, p.data, p.label, grad=p.requires_grad)
            )

    def _new(self, key: tuple, node: Node) -> int:
        found = self.keys.get(key)
        if found is not None:
            return found
        self.nodes.append(node)
        self.keys[key] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def placeholder(self, x: float, position: int, i: int) -> Value:
        label = f"arg{position}[{i}]"
        v = Placeholder(x, label=label)
        self.index[v] = self._new(
            ("input", position, i), Node("input", (position, i), x, label, batch=True)
        )
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
        return tuple(
            self._leaf(v) if not isinstance(v, Value) or v not in self.index else self.index[v]
            for v in outs
        )

    def _leaf(self, v: Value | float) -> int:
        if not isinstance(v, Value):
            v = Value(v, requires_grad=False)
        if v.requires_grad:
            raise CompileError(
                f"compile: the graph uses {v!r}, which requires grad but is neither an "
                "input nor one of params: pass it in params, or detach() it to make it "
                "a constant"
            )
        found = self._new(("const", v.data.hex()), Node("const", None, v.data, None))
        if self.nodes[found].label is None and v.label is not None:
            self.nodes[found] = self.nodes[found]._replace(label=v.label)
        return found

    def _op_node(self, v: Value) -> int:
        index = self.index
        parents = tuple(index[p] if p in index else self._leaf(p) for p in v.parents)
        op, arg = v.primitive, v.arg
        if (op is ops.SUM and len(parents) == 1) or (op in _TIMES_ONE and arg == 1.0):
            return parents[0]
        nodes = self.nodes
        node = Node(
            "op",
            None,
            v.data,
            v.label,
            op,
            arg,
            parents,
            batch=any(nodes[p].batch for p in parents),
            grad=any(nodes[p].grad for p in parents),
            level=1 + max(nodes[p].level for p in parents),
        )
        return self._new((op, arg, parents), node)


def trace(
    fn: Callable[..., Any],
    name: str,
    params: Sequence[Value],
    first: Sequence[np.ndarray | None],
    labels: Mapping[int, Sequence[float]],
    sample_is_batch: bool = False,
) -> TracedGraph:
    """Record ``fn`` on one sample, once per label combination, plus once more to check
    that it is deterministic.

    ``first[a]`` is argument a's first sample (an array of the sample's shape), or
    None for a labels argument, whose values come from ``labels``.
    """
    builder = _Builder(params)
    placeholders: list[Any] = []
    for position, x in enumerate(first):
        if x is None:
            placeholders.append(None)
            continue
        flat = [builder.placeholder(v, position, i) for i, v in enumerate(x.ravel().tolist())]
        placeholders.append(_nest(flat, x.shape))
    positions = sorted(labels)
    combos = list(itertools.product(*(labels[p] for p in positions)))
    roots: list[tuple[int, ...]] = []
    # Frozen parameters still record the operations applied to them, in this thread
    # only (see autograd.tracing.Trace): the program reads their numbers at every call.
    frozen = [p for p in params if not p.requires_grad]
    with tracing(WHOLE_BATCH if sample_is_batch else ONE_SAMPLE, frozen) as current:
        for combo in combos + combos[:1]:
            current.again = bool(roots)  # layers' side effects happen at the first only
            args = list(placeholders)
            for position, value in zip(positions, combo):
                args[position] = value
            with enable_grad():
                out = fn(*args)
            before = len(builder.nodes)
            traced = builder.absorb(name, out)
            if len(roots) == len(combos):  # the second trace of the first combination
                _check_deterministic(name, builder.nodes, before, traced, roots[0])
            elif roots and len(traced) != len(roots[0]):
                raise CompileError(
                    f"compile: {name} returns {len(traced)} values for label "
                    f"{combo} but {len(roots[0])} for label {combos[0]}"
                )
            else:
                roots.append(traced)
    shapes = tuple(None if x is None else x.shape for x in first)
    return TracedGraph(
        tuple(builder.nodes),
        tuple(params),
        np.array(roots, dtype=np.intp),
        shapes,
        tuple(current.modules.values()),
    )


def _check_deterministic(
    name: str, nodes: list[Node], before: int, traced: tuple[int, ...], first: tuple[int, ...]
) -> None:
    if traced != first or len(nodes) != before:
        changed = nodes[before] if len(nodes) > before else None
        raise CompileError(
            f"compile: {name} is not deterministic: tracing the same "
            "sample twice recorded different graphs (first new node: "
            f"{describe_node(nodes, changed)}). Random layers cannot be compiled: "
            "put Dropout in eval() mode, or draw the randomness outside "
            "fn and pass it in as an input."
        )


def _nest(flat: list, shape: tuple) -> Any:
    """The flat list of placeholders arranged as nested lists of ``shape``."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0]
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]
