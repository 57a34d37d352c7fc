"""Hypothesis strategies over the op table, for the project's tests and for yours.

Inputs come from each op's ``domain`` (away from the kinks in ``avoid``), a user's
primitive included; random expressions are trees or DAGs over every op in ``OPS`` and
``WITH_CONSTANT`` (and the primitives passed in), so a new table entry shows up in
them without new test code. An operand outside its op's domain is first squashed into
it with lo + (hi - lo) * sigmoid(operand), which is itself built from table ops.
``mlp_shapes``, ``batches`` and ``mlps`` draw networks and data for testing layers
and losses. Needs hypothesis (``pip install "tapegrad[testing]"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

try:
    from hypothesis import strategies as st
except ImportError as error:  # hypothesis is the optional extra "testing"
    raise ImportError(
        "tapegrad.testing.strategies needs hypothesis, which is not installed: "
        'pip install "tapegrad[testing]" (check_grads and tapegrad.testing.reference '
        "work without it)"
    ) from error

from ..autograd.mode import MODE
from ..autograd.ops import OPS, WITH_CONSTANT, Op
from ..autograd.value import Value
from ..nn import MLP
from .reference import apply, reference

ALL_OPS: tuple[Op, ...] = (*OPS.values(), *WITH_CONSTANT.values())
KINK_MARGIN = 1e-3  # no input closer than this to a point in an op's ``avoid``


@cache
def in_domain(op: Op, margin: float = KINK_MARGIN) -> st.SearchStrategy[float]:
    """Floats where ``op`` is defined and smooth: its domain, away from its kinks."""
    lo, hi = op.domain
    kinks = [a for a in sorted(op.avoid) if lo < a < hi]
    edges = [lo, *(e for a in kinks for e in (a - margin, a + margin)), hi]
    pieces = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if a < b]
    return st.one_of(*(st.floats(a, b) for a, b in pieces))


@cache
def arg_for(op: Op) -> st.SearchStrategy[float | None]:
    """The op's fixed parameter: one of its sample_args, a number from its domain for a
    binary op with a number fixed, or None."""
    if op.base is not None:
        return in_domain(op)
    if op.has_arg:
        return st.sampled_from(op.sample_args)
    return st.none()


@cache
def arity(op: Op) -> st.SearchStrategy[int]:
    """How many operands a node of ``op`` takes; n-ary ops get a random count."""
    if op.arity:
        return st.just(op.arity)
    if op.weighted_sum:  # n weights, n inputs, and a bias or not
        return st.integers(2, 13)
    return st.integers(1, 8)


@cache
def op_inputs(op: Op, arg: float | None = None) -> st.SearchStrategy:
    """(operands, parameter) for one node of ``op``: operands from its domain, the
    parameter as given or drawn by ``arg_for``."""
    args = arg_for(op) if arg is None else st.just(arg)
    operands = arity(op).flatmap(lambda n: st.lists(in_domain(op), min_size=n, max_size=n))
    return st.tuples(operands, args)


# --- random expressions -------------------------------------------------------------


class _Readable:
    """Hypothesis prints a failing example as this formula, not field by field."""

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(repr(self))


@dataclass(frozen=True, eq=False)
class Var(_Readable):
    index: int

    def __repr__(self) -> str:
        return f"x{self.index}"


@dataclass(frozen=True, eq=False)
class Const(_Readable):
    """A Value that requires no gradient."""

    value: float

    def __repr__(self) -> str:
        return f"const({self.value!r})"


@dataclass(frozen=True, eq=False)
class Node(_Readable):
    op: Op
    arg: float | None
    children: tuple

    def __repr__(self) -> str:
        name = self.op.name if self.op.base is None else f"{self.op.name}@{self.op.constant_at}"
        args = [repr(c) for c in self.children] + ([] if self.arg is None else [repr(self.arg)])
        return f"{name}({', '.join(args)})"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _needs_squash(op: Op, x: float) -> bool:
    lo, hi = op.domain
    margin = 0.05 * (hi - lo)
    return not lo + margin <= x <= hi - margin


@dataclass(eq=False)
class Expression(_Readable):
    """A random function of ``n_vars`` variables, on Values and on floats.

    Where each operand gets squashed is decided at the first evaluation on Values and
    then kept, so that finite differences see one smooth function.
    """

    root: Var | Const | Node
    n_vars: int
    squash: dict = field(default_factory=dict)  # id(node) -> one flag per operand
    nearest_kink: float = math.inf

    def __repr__(self) -> str:
        return f"Expression({self.root!r})"

    def __call__(self, *xs: Value) -> Value:
        """The expression over Values, one argument per variable: ``f(*xs)``, the
        shape ``check_grads`` and ``jvp`` call."""
        return self.values(xs)

    def values(self, xs: Sequence[Value]) -> Value:
        """The expression over Values ``xs`` (every shared subexpression built once)."""
        return self._evaluate(xs, on_values=True)

    def floats(self, *point: float) -> float:
        """The same function on floats, with the math references of every op."""
        return self._evaluate(point, on_values=False)

    def _evaluate(self, xs, on_values: bool):
        memo: dict[int, object] = {}
        stack: list[Var | Const | Node] = [self.root]
        while stack:  # post-order, so shared nodes are evaluated once
            e = stack[-1]
            if id(e) in memo:
                stack.pop()
                continue
            if isinstance(e, Var):
                memo[id(e)] = xs[e.index]
            elif isinstance(e, Const):
                memo[id(e)] = Value(e.value, requires_grad=False) if on_values else e.value
            elif isinstance(e, Node):
                todo = [c for c in e.children if id(c) not in memo]
                if todo:
                    stack.extend(todo)
                    continue
                memo[id(e)] = self._node(e, [memo[id(c)] for c in e.children], on_values)
            stack.pop()
        return memo[id(self.root)]

    def _node(self, e: Node, operands: list, on_values: bool):
        # While compiled mode traces, an input's number may not be read; by then the
        # first (eager) evaluation has fixed the squashing and measured the kinks.
        tracing = on_values and MODE.tracing
        if id(e) not in self.squash:
            self.squash[id(e)] = tuple(_needs_squash(e.op, float(x)) for x in operands)
        lo, hi = e.op.domain
        if on_values:
            operands = [
                x.sigmoid() * (hi - lo) + lo if s else x
                for x, s in zip(operands, self.squash[id(e)])
            ]
            if not tracing:
                for x in operands:
                    for kink in e.op.avoid:
                        self.nearest_kink = min(self.nearest_kink, abs(x.data - kink))
            return apply(e.op, operands, e.arg)
        operands = [
            lo + (hi - lo) * _sigmoid(x) if s else x for x, s in zip(operands, self.squash[id(e)])
        ]
        f = reference(e.op)
        return f(*operands) if e.arg is None else f(*operands, e.arg)


def _ops(ops: Iterable[Op] | None, primitives: Iterable[Op]) -> tuple[Op, ...]:
    """The ops an expression draws from: ``ops`` (the whole table by default) and the
    user's ``primitives``."""
    chosen = (*(ALL_OPS if ops is None else ops), *primitives)
    for op in chosen:
        if not isinstance(op, Op):
            raise TypeError(
                f"expressions: ops and primitives must be Ops (tapegrad.OPS values or "
                f"tapegrad.primitive results), got {type(op).__name__} {op!r}"
            )
    if not chosen:
        raise ValueError("expressions: no ops to draw from")
    return chosen


def _nodes(children: st.SearchStrategy, ops: tuple[Op, ...]) -> st.SearchStrategy[Node]:
    @st.composite
    def build(draw):
        op = draw(st.sampled_from(ops))
        kids = tuple(draw(children) for _ in range(draw(arity(op))))
        return Node(op, draw(arg_for(op)), kids)

    return build()


def trees(n_vars: int, ops: tuple[Op, ...] = ALL_OPS) -> st.SearchStrategy:
    """Expression trees over ``ops`` (the op table) with variables x0..x{n_vars-1} as
    leaves."""
    var = st.integers(0, n_vars - 1).map(Var)
    leaves = st.one_of(var, var, var, st.floats(-2.0, 2.0).map(Const))  # mostly variables
    return st.recursive(leaves, lambda children: _nodes(children, ops), max_leaves=10)


@st.composite
def dags(draw, n_vars: int, ops: tuple[Op, ...] = ALL_OPS) -> Node:
    """A program in which every step may reuse any earlier result (the same Value
    several times); the output is the sum of every step, so all of them matter."""
    pool: list = [Var(i) for i in range(n_vars)]
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(ops))
        kids = tuple(draw(st.sampled_from(pool)) for _ in range(draw(arity(op))))
        pool.append(Node(op, draw(arg_for(op)), kids))
    return Node(OPS["sum"], None, tuple(pool[n_vars:]))


def expressions(
    max_vars: int = 4,
    shapes: Sequence[str] = ("tree", "dag"),
    *,
    ops: Iterable[Op] | None = None,
    primitives: Iterable[Op] = (),
) -> st.SearchStrategy[tuple[Expression, list[float]]]:
    """``(f, point)``: a random function ``f(*xs)`` of 1..max_vars Values and a point to
    evaluate it at.

    ``f`` is a tree or a DAG (``shapes``) over ``ops`` (by default every op of the
    table) and the user's ``primitives``; ``f.floats(*point)`` is the same function on
    floats, from the references. ``f.nearest_kink``, measured at the first evaluation
    on Values, says how close an operand came to a kink (relu at 0, ...): finite
    differences need it to be larger than their step.
    """
    if not isinstance(max_vars, int) or max_vars < 1:
        raise ValueError(f"expressions: max_vars must be a positive integer, got {max_vars!r}")
    unknown = set(shapes) - {"tree", "dag"}
    if not shapes or unknown:
        raise ValueError(f"expressions: shapes must be among 'tree' and 'dag', got {shapes!r}")
    chosen = _ops(ops, primitives)
    return _expressions(max_vars, tuple(shapes), chosen)


@st.composite
def _expressions(
    draw, max_vars: int, shapes: tuple[str, ...], ops: tuple[Op, ...]
) -> tuple[Expression, list[float]]:
    n = draw(st.integers(1, max_vars))
    shape = draw(st.sampled_from(shapes))
    root = draw(trees(n, ops) if shape == "tree" else dags(n, ops))
    point = draw(st.lists(st.floats(-3.0, 3.0), min_size=n, max_size=n))
    return Expression(root, n), point


# --- networks and data ----------------------------------------------------------------

SMOOTH_ACTIVATIONS = ("tanh", "sigmoid", "linear")
"""Activations without a kink: finite differences see a smooth network everywhere."""


def mlp_shapes(
    max_inputs: int = 4, max_hidden: int = 2, max_width: int = 6, max_outputs: int = 3
) -> st.SearchStrategy[tuple[int, list[int]]]:
    """``(nin, sizes)`` for ``nn.MLP(nin, sizes)``: 1..max_inputs inputs, 0..max_hidden
    hidden layers of 1..max_width neurons, 1..max_outputs outputs."""
    return st.tuples(
        st.integers(1, max_inputs),
        st.lists(st.integers(1, max_width), max_size=max_hidden),
        st.integers(1, max_outputs),
    ).map(lambda shape: (shape[0], [*shape[1], shape[2]]))


def batches(
    nin: int,
    min_size: int = 1,
    max_size: int = 8,
    elements: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[list[list[float]]]:
    """A batch of ``min_size``..``max_size`` samples of ``nin`` numbers each (from
    ``elements``, floats in [-3, 3] by default), as a list of rows."""
    numbers = st.floats(-3.0, 3.0) if elements is None else elements
    row = st.lists(numbers, min_size=nin, max_size=nin)
    return st.lists(row, min_size=min_size, max_size=max_size)


def mlps(
    activations: Sequence[str | Callable[[Value], Value]] = SMOOTH_ACTIVATIONS,
    max_batch: int = 8,
    **shape: int,
) -> st.SearchStrategy[tuple[MLP, list[list[float]]]]:
    """``(model, batch)``: an ``nn.MLP`` of a drawn shape (``mlp_shapes``' keywords),
    hidden activation and seed, and a batch of 1..max_batch samples for it."""
    return _mlps(mlp_shapes(**shape), tuple(activations), max_batch)


@st.composite
def _mlps(
    draw,
    shapes: st.SearchStrategy[tuple[int, list[int]]],
    activations: tuple[str | Callable[[Value], Value], ...],
    max_batch: int,
) -> tuple[MLP, list[list[float]]]:
    nin, sizes = draw(shapes)
    activation = draw(st.sampled_from(activations))
    model = MLP(nin, sizes, activation, seed=draw(st.integers(0, 2**32 - 1)))
    return model, draw(batches(nin, max_size=max_batch))
