"""Stage 3, codegen: a ``Schedule`` -> a ``Program`` (Python source and its functions).

Two straight-line functions are written, one block of lines per group:
``forward(s0, inputs) -> roots`` and ``train(s0, inputs, seed) -> (roots, g0)``.
Local ``s<k>`` holds slot k (s0 the parameters, s1 the constants, then the inputs
and the groups), ``g<k>`` its gradient. The kernels are the op table's own rules,
run once at generation on ``INLINE``, which writes them as NumPy expressions (the
domain-checked functions stay calls of ``ArrayMath``); an n-ary op's rule runs on
the terms of a whole group at once and ``np.add.reduceat`` sums each node's terms.
Operands are read as views wherever their rows are evenly spaced in one slot.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd import ops
from ..autograd.engine import backward_failure
from ..autograd.mathlib import ARRAYS, FLOATS
from .schedule import (
    PARAMS,
    Group,
    MapGroup,
    MatMulGroup,
    Rows,
    Schedule,
    SegmentGroup,
    is_range,
)
from .trace import describe_node, in_order


@dataclass(frozen=True, eq=False)
class Program:
    """The generated functions, their source, and what a run needs to read them.

    ``outputs_per_sample``: fn's outputs; ``root_rows``: rows of ``roots`` (outputs
    times label combinations).
    """

    source: str
    forward: Callable[[np.ndarray, list], np.ndarray]
    train: Callable[[np.ndarray, list, np.ndarray], tuple[np.ndarray, np.ndarray]]
    outputs_per_sample: int
    root_rows: int


class Source:
    """The lines of a generated function and the constants (index arrays, kernels) it
    refers to by name."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        self.sizes = sizes
        self.lines: list[str] = []
        # Backward's gradient slots that are added into: the rows written so far, the
        # slots some line adds into before all its rows were written (so they start
        # at zero) and those bound whole to their first contribution.
        self.written: dict[int, np.ndarray] = {}
        self.zeroed: set[int] = set()
        self.rebound: set[int] = set()
        self.matrices: set[int] = set()  # slots read as weight matrices (by reshaping)
        self.names: dict[str, Any] = {
            "A": ARRAYS,
            "np": np,
            "full": _full,
            "reduce": np.add.reduce,
            "reduceat": np.add.reduceat,
            "add_at": np.add.at,
            "inf": np.inf,  # how repr() writes the numbers of a rule (see Expr)
            "nan": np.nan,
        }

    def constant(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def line(self, text: str) -> None:
        self.lines.append("        " + text)

    def first_write(self, slot: int, rows: slice | np.ndarray) -> bool:
        """Whether no line wrote these rows of gradient slot ``slot`` before (marking
        them written); if some were and some not, the slot starts at zero."""
        written = self.written[slot]
        before = written[rows].copy()  # a slice would be a view
        written[rows] = True
        if before.all():
            return False
        if before.any():
            self.zeroed.add(slot)
            return False
        return True


def generate(plan: Schedule, name: str) -> Program:
    """Write and compile the forward and train functions of ``plan``."""
    inputs = [f"s{2 + i}" for i in range(len(plan.graph.shapes))]
    src = Source(plan.sizes)
    src.names["s1"] = plan.constants
    src.names["fail"] = _Failure(plan, name)
    groups = plan.groups
    for i, group in enumerate(groups):
        src.line(f"stage = {i}  # level {group.level}: {group.label()} x{group.size}")
        _FORWARD[type(group)](group, src)
    src.line(f"roots = {read(plan.roots, src)}")
    forward = list(src.lines)
    src.written = {slot: np.zeros(plan.sizes[slot], bool) for slot in plan.accumulated}
    src.matrices = {s for g in groups if isinstance(g, MatMulGroup) for s in g.weights.slots}
    scatter(plan.roots, src, "seed", True, plan.assigned)
    for i in range(len(groups) - 1, -1, -1):
        group = groups[i]
        if group.grad:
            src.line(f"stage = {len(groups) + i}  # backward of {group.label()}")
            _BACKWARD[type(group)](group, src, plan.assigned)
    train = ["        B = seed.shape[1]"]
    for slot in plan.accumulated:
        # A slot whose rows are each first assigned (by "=" or out=) starts empty; one
        # added into before, or with rows nobody writes, starts at zero.
        if slot not in src.rebound:
            start = "empty" if slot not in src.zeroed and src.written[slot].all() else "zeros"
            columns = "B" if plan.columns[slot] else 1
            train.append(f"        g{slot} = np.{start}(({plan.sizes[slot]}, {columns}))")
    train += src.lines[len(forward) :]
    header = f"    ({', '.join(inputs)},) = inputs\n    stage = -1\n    try:\n"
    footer = (
        "    except (ArithmeticError, ValueError) as error:\n"
        "        raise fail(stage, error, locals()) from error\n"
    )
    source = (
        "def forward(s0, inputs):\n"
        + header
        + "\n".join(forward)
        + "\n        return roots\n"
        + footer
        + "\n\n"
        "def train(s0, inputs, seed):\n"
        + header
        + "\n".join(forward + train)
        + f"\n        return roots, g{PARAMS}\n"
        + footer
    )
    # The source is built here from the op table and index arrays only: no user text.
    exec(builtins.compile(source, f"<compiled {name}>", "exec"), src.names)
    # Taken out of the namespace they run in: a function kept in its own globals would
    # be a reference cycle, and a dropped program would wait for the cyclic collector.
    return Program(
        source,
        src.names.pop("forward"),
        src.names.pop("train"),
        plan.outputs_per_sample,
        plan.roots.n,
    )


class _Failure:
    """The error of the generated code, naming the group that raised it.

    An error of an elementwise group is replaced by the error eager mode raises on
    the first element where the op's rule fails on floats, naming that element's
    input and sample (a division by zero in NumPy is a FloatingPointError, see
    ``runtime``; on floats it is eager mode's ZeroDivisionError).
    """

    def __init__(self, plan: Schedule, name: str) -> None:
        self.plan, self.name = plan, name

    def __call__(self, stage: int, error: Exception, scope: dict[str, Any]) -> Exception:
        groups = self.plan.groups
        group = groups[stage % len(groups)]
        node = describe_node(self.plan.nodes, self.plan.nodes[group.nodes[0]])
        backward = stage >= len(groups)
        where = "backward" if backward else "forward"
        head = f"compiled {self.name}: {where} of {group.size} node(s) like {node}"
        if isinstance(group, MapGroup):
            found = _on_floats(group, scope, backward, head)
            if found is not None:
                return found
        return type(error)(f"{head} failed: {error}")


def _on_floats(
    group: MapGroup, scope: dict[str, Any], backward: bool, head: str
) -> Exception | None:
    """The error the op's rule raises on floats (as in eager mode) at the first element
    of the group where it raises, after ``head`` and the sample, naming the op and its
    inputs (in backward, as eager backward does); None if it raises nowhere."""
    s, op = group.slot, group.op
    xs = [scope[f"x{s}_{j}"] for j in range(len(group.operands))]
    arg = () if group.arg is None else (group.arg,)
    if backward:
        arrays = np.broadcast_arrays(scope[f"g{s}"], scope[f"s{s}"], *xs)
        rule = op.grad
    else:
        arrays = np.broadcast_arrays(*xs)
        rule = op.forward
    for index in np.ndindex(arrays[0].shape):
        numbers = [float(a[index]) for a in arrays]
        try:
            rule(FLOATS, *numbers, *arg)
        except (ArithmeticError, ValueError) as found:
            inputs = in_order(op, numbers[-len(xs) :], group.arg)
            if backward:
                message = backward_failure(op.name, inputs, found)
            else:
                message = f"{op.name}({', '.join(map(repr, inputs))}): {found}"
            at = f", sample {index[1]}" if group.batch else ""
            return type(found)(f"{head}{at}: {message}")
    return None


# --- reading and scattering operands -------------------------------------------------


def read(rows: Rows, src: Source) -> str:
    """An expression for an operand's values, an array (n, columns): a view when the
    rows are evenly spaced in one slot (the slot itself when they are all of it), one
    row (broadcast) when every element is the same node, else a gathered copy."""
    if len(rows.slots) == 1:
        slot, first = rows.slots[0], int(rows.rows[0])
        whole = is_range(rows.rows) and first == 0 and rows.n == src.sizes[slot]
        if whole or (rows.uniform and src.sizes[slot] == 1):
            return f"s{slot}"
        if rows.uniform:
            return f"s{slot}[{first}:{first + 1}]"
        spaced = _spaced(rows.rows)
        if spaced is not None:
            return f"s{slot}[{spaced}]"
        return f"s{slot}.take({src.constant('rows', rows.rows)}, axis=0)"
    blocks = _blocks(rows, src.sizes)
    if blocks is not None:
        return f"np.concatenate(({', '.join(blocks)},))"
    gather = src.constant("gather", _gatherer(rows))
    return f"{gather}(({', '.join(f's{s}' for s in rows.slots)},))"


def _blocks(rows: Rows, sizes: tuple[int, ...]) -> list[str] | None:
    """Views of the operand's runs of rows, in order, if each run is evenly spaced
    rows of one slot and every slot has the same columns (then a concatenation of
    them is the operand); else None."""
    if rows.uniform or 0 < len(rows.wide) < len(rows.slots):
        return None
    blocks, start = [], 0
    slots = [slot for slot, _ in rows.positions]
    for i in range(1, rows.n + 1):
        if i == rows.n or slots[i] != slots[start]:
            slot, run = slots[start], rows.rows[start:i]
            spaced = _spaced(run)
            if spaced is None:
                return None
            whole = run[0] == 0 and len(run) == sizes[slot] and is_range(run)
            blocks.append(f"s{slot}" if whole else f"s{slot}[{spaced}]")
            start = i
    return blocks


def _spaced(rows: np.ndarray) -> str | None:
    """``rows`` as a slice (first:stop or first:stop:step) if they are evenly spaced."""
    first = int(rows[0])
    if len(rows) == 1:
        return f"{first}:{first + 1}"
    step = int(rows[1]) - first
    if step < 1 or not np.array_equal(rows, np.arange(first, first + step * len(rows), step)):
        return None
    stop = int(rows[-1]) + 1
    return f"{first}:{stop}" if step == 1 else f"{first}:{stop}:{step}"


def matrix(rows: Rows, k: int, prefix: str, sizes: tuple[int, ...]) -> str | None:
    """A (k, n) view of slot ``prefix<slot>`` (values "s", gradients "g") holding the
    operand's elements row-major, if they are k evenly spaced runs of n rows of one
    slot (a layer's weights, each neuron's followed by its bias); else None."""
    if len(rows.slots) != 1 or rows.uniform or rows.n % k:
        return None
    slot, n = rows.slots[0], rows.n // k
    grid = rows.rows.reshape(k, n)
    first = int(grid[0, 0])
    stride = int(grid[1, 0]) - first if k > 1 else n
    expected = first + stride * np.arange(k)[:, None] + np.arange(n)
    if stride < n or not np.array_equal(grid, expected) or first + k * stride > sizes[slot]:
        return None
    view = f"{prefix}{slot}[{first}:{first + k * stride}].reshape({k}, {stride})"
    return view if stride == n else f"{view}[:, :{n}]"


def scatter(
    rows: Rows, src: Source, c: str, wide: bool, assigned: frozenset[int], fresh: bool = False
) -> None:
    """Lines adding contribution ``c`` (one column per sample if ``wide``) into the
    gradients of the operand's elements that need one, summed over the batch for a
    slot computed once (in one reduction with the sum over a uniform operand).
    ``fresh``: ``c`` is a new array, which a gradient slot may take as it is."""
    for slot, where, at, duplicates in rows.pieces:
        if at is None:
            part, new = c, fresh
        else:
            spaced = _spaced(at)
            # a fancy index copies
            part, new = f"{c}[{spaced or src.constant('at', at)}]", spaced is None
        over_batch = wide and slot not in rows.wide
        axis = ("None" if over_batch else "0") if rows.uniform else ("1" if over_batch else None)
        view = True  # g<slot>[where_text] is a view (not a fancy index)
        if isinstance(where, slice):
            whole = where.start == 0 and where.stop == src.sizes[slot]
            where_text = f"{where.start}:{where.stop}"
        else:
            whole, spaced = False, _spaced(where)
            view = spaced is not None
            where_text = spaced or src.constant("rows", where)
        target = f"g{slot}" if whole else f"g{slot}[{where_text}]"
        reduced = None if axis is None else f"reduce({part}, axis={axis}, keepdims=True"
        if slot in assigned:
            src.line(f"g{slot} = {part if reduced is None else reduced + ')'}")
        elif duplicates:
            src.first_write(slot, where)
            src.zeroed.add(slot)
            src.line(f"add_at(g{slot}, {where_text}, {part if reduced is None else reduced + ')'})")
        elif not src.first_write(slot, where):
            src.line(f"{target} += {part if reduced is None else reduced + ')'}")
        elif reduced is not None:
            src.line(f"{reduced}, out={target})" if view else f"{target} = {reduced})")
        elif whole and new and slot not in src.matrices:
            src.rebound.add(slot)
            src.line(f"g{slot} = {part}")
        else:
            src.line(f"{target}[...] = {part}" if whole else f"{target} = {part}")


def _gatherer(rows: Rows) -> Callable:
    """Rows from several slots (given in slot order) into one array, broadcasting the
    slots computed once to one column per sample."""
    positions = rows.positions
    parts = [
        (
            np.array([i for i, (t, _) in enumerate(positions) if t == s], np.intp),
            np.array([r for t, r in positions if t == s], np.intp),
        )
        for s in rows.slots
    ]
    wide = [k for k, s in enumerate(rows.slots) if s in rows.wide]
    n = len(positions)

    def gather(arrays: tuple) -> np.ndarray:
        out = np.empty((n, arrays[wide[0]].shape[1] if wide else 1))
        for array, (at, where) in zip(arrays, parts):
            out[at] = array.take(where, axis=0)
        return out

    return gather


def _full(c: Any, shape: tuple) -> np.ndarray:
    """A local gradient as an array of the group's shape (a rule may return a scalar)."""
    if c.__class__ is np.ndarray and c.shape == shape:
        return c
    return np.broadcast_to(np.asarray(c, dtype=np.float64), shape)


# --- the op table's rules, written inline ---------------------------------------------

Shape = tuple[int, bool]  # (rows: n or 1, one column per sample)


class Expr:
    """A NumPy expression and its shape: what a rule of the op table returns when it
    runs on ``INLINE`` instead of arrays, so the generated line computes it with no
    call through the table. ``boolean``: a comparison (a step), which NumPy turns
    into 0.0/1.0 when it multiplies."""

    __slots__ = ("boolean", "shape", "text")

    def __init__(self, text: str, shape: Shape | None, boolean: bool = False) -> None:
        self.text, self.shape, self.boolean = text, shape, boolean

    def value(self) -> str:
        """The expression as float64 numbers."""
        return f"({self.text}).astype(np.float64)" if self.boolean else self.text

    def _binary(self, other: Any, symbol: str, reflected: bool = False) -> Expr:
        a, b = (other, self) if reflected else (self, other)
        return Expr(f"({_text(a)} {symbol} {_text(b)})", _broadcast(a, b))

    def __add__(self, other: Any) -> Expr:
        return self._binary(other, "+")

    def __radd__(self, other: Any) -> Expr:
        # sum() starts from the integer 0: 0 + x is x (up to the sign of a zero).
        if other.__class__ is int and other == 0:
            return Expr(self.value(), self.shape)
        return self._binary(other, "+", True)

    def __sub__(self, other: Any) -> Expr:
        return self._binary(other, "-")

    def __rsub__(self, other: Any) -> Expr:
        return self._binary(other, "-", True)

    def __mul__(self, other: Any) -> Expr:
        return self._binary(other, "*")

    def __rmul__(self, other: Any) -> Expr:
        return self._binary(other, "*", True)

    def __truediv__(self, other: Any) -> Expr:
        return self._binary(other, "/")

    def __rtruediv__(self, other: Any) -> Expr:
        return self._binary(other, "/", True)

    def __pow__(self, other: Any) -> Expr:
        return self._binary(other, "**")

    def __rpow__(self, other: Any) -> Expr:
        return self._binary(other, "**", True)

    def __neg__(self) -> Expr:
        return Expr(f"(-{self.value()})", self.shape)


def _text(x: Any) -> str:
    """An operand of a generated expression: an Expr, or a number written by repr
    (inf and nan are names of the program's namespace)."""
    if isinstance(x, Expr):
        return x.value() if x.shape is None else x.text
    return repr(float(x))


def _broadcast(*operands: Any) -> Shape | None:
    shapes = [x.shape for x in operands if isinstance(x, Expr) and x.shape is not None]
    if not shapes:
        return None
    return max(r for r, _ in shapes), any(w for _, w in shapes)


class _Inline:
    """The ``m`` namespace of the op table's rules, writing NumPy expressions (Expr).

    The functions NumPy has as they are, and relu and its step, are written inline;
    every other one (those that check their domain: log, sqrt, div, pow, ...) is a
    call of ``ArrayMath``'s, named ``A`` in the program."""

    add = staticmethod(operator.add)
    sub = staticmethod(operator.sub)
    mul = staticmethod(operator.mul)
    neg = staticmethod(operator.neg)
    _NUMPY = frozenset(("exp", "tanh", "sin", "cos", "abs"))

    @staticmethod
    def relu(x: Expr) -> Expr:
        return Expr(f"np.maximum({x.text}, 0.0)", x.shape)

    @staticmethod
    def step(x: Expr) -> Expr:
        # Not x > 0: NaN counts as above the kink (see ArrayMath.step).
        return Expr(f"~({x.text} <= 0.0)", x.shape, boolean=True)

    @staticmethod
    def log(x: Expr) -> Expr:
        # ArrayMath.log checks its domain with np.any, a slow call: checked here by
        # the array's own any(), and ArrayMath.log raises its error where it fails.
        if not x.text.isidentifier():
            return Expr(f"A.log({x.text})", x.shape)
        return Expr(f"(A.log({x.text}) if ({x.text} <= 0.0).any() else np.log({x.text}))", x.shape)

    def __getattr__(self, name: str) -> Callable[..., Expr]:
        if name.startswith("_") or not hasattr(ARRAYS, name):
            raise AttributeError(f"ArrayMath has no function {name!r}")
        where = "np" if name in self._NUMPY else "A"

        def function(*args: Any) -> Expr:
            return Expr(f"{where}.{name}({', '.join(map(_text, args))})", _broadcast(*args))

        return function


INLINE = _Inline()


def _operand(name: str, rows: Rows) -> Expr:
    """The Expr of a local holding an operand read by ``read``."""
    return Expr(name, (1 if rows.uniform else rows.n, bool(rows.wide)))


def _scatter_locals(
    group: MapGroup | SegmentGroup,
    src: Source,
    local: Sequence[Any],
    shape: tuple[int, str],
    assigned: frozenset[int],
) -> None:
    """Add each operand's local gradient into the gradient rows of the nodes it was
    read from; ``shape``: the group's (rows, columns text), to which a local gradient
    of another shape is broadcast."""
    s = group.slot
    for j, (c, rows) in enumerate(zip(local, group.operands)):
        if rows.pieces:
            name = f"c{s}_{j}"
            rows_n, columns = shape
            if isinstance(c, Expr) and c.shape == (rows_n, group.batch):
                src.line(f"{name} = {c.value()}")
                fresh = not c.text.isidentifier()  # computed, not another local
            elif isinstance(c, Expr) and c.shape == (1, group.batch):
                # one row for every term (a sum's gradient): repeated, a new array
                src.line(f"{name} = np.repeat({c.value()}, {rows_n}, axis=0)")
                fresh = True
            else:
                src.line(f"{name} = full({_text(c)}, ({rows_n}, {columns}))")
                fresh = False
            scatter(rows, src, name, group.wide(rows), assigned, fresh)


# --- forward and backward of each kind of group --------------------------------------


def _inputs(group: MapGroup | SegmentGroup, src: Source) -> list[Expr]:
    """Lines reading the group's operands into locals x<slot>_<j>, and their Exprs."""
    xs = []
    for j, rows in enumerate(group.operands):
        name = f"x{group.slot}_{j}"
        src.line(f"{name} = {read(rows, src)}")
        xs.append(_operand(name, rows))
    return xs


def _map_forward(group: MapGroup, src: Source) -> None:
    xs = _inputs(group, src)
    arg = () if group.arg is None else (group.arg,)
    src.line(f"s{group.slot} = {group.op.forward(INLINE, *xs, *arg).value()}")


def _columns(group: Group) -> str:
    return f"s{group.slot}.shape[1]"


def _map_backward(group: MapGroup, src: Source, assigned: frozenset[int]) -> None:
    s = group.slot
    full_shape = (group.size, group.batch)
    xs = [_operand(f"x{s}_{j}", rows) for j, rows in enumerate(group.operands)]
    arg = () if group.arg is None else (group.arg,)
    g, out = Expr(f"g{s}", full_shape), Expr(f"s{s}", full_shape)
    local = group.op.grad(INLINE, g, out, *xs, *arg)
    _scatter_locals(group, src, local, (group.size, _columns(group)), assigned)


def _segment_forward(group: SegmentGroup, src: Source) -> None:
    s = group.slot
    xs = _inputs(group, src)
    if len(group.starts) == 1:
        if group.op is ops.DOT and not group.batch and len(xs) == 2:
            src.line(f"s{s} = {xs[0].text}.T @ {xs[1].text}")  # one column: a dot product
        else:
            terms = group.op.forward(INLINE, *xs).value()
            src.line(f"s{s} = reduce({terms}, axis=0, keepdims=True)")
    else:
        terms = group.op.forward(INLINE, *xs).value()
        src.line(f"s{s} = reduceat({terms}, {src.constant('starts', group.starts)}, axis=0)")


def _segment_backward(group: SegmentGroup, src: Source, assigned: frozenset[int]) -> None:
    s, n = group.slot, len(group.owner)
    if len(group.starts) == 1:  # the node's gradient broadcasts over its terms
        g, out = Expr(f"g{s}", (1, group.batch)), Expr(f"s{s}", (1, group.batch))
    else:
        owner = src.constant("owner", group.owner)
        src.line(f"gt{s}, ot{s} = g{s}[{owner}], s{s}[{owner}]")
        g, out = Expr(f"gt{s}", (n, group.batch)), Expr(f"ot{s}", (n, group.batch))
    xs = [_operand(f"x{s}_{j}", rows) for j, rows in enumerate(group.operands)]
    local = group.op.grad(INLINE, g, out, *xs)
    _scatter_locals(group, src, local, (n, _columns(group)), assigned)


def _matmul_forward(group: MatMulGroup, src: Source) -> None:
    """out (k, batch) = W (k, n) @ X (n, batch) (+ b)."""
    s = group.slot
    weights = matrix(group.weights, group.k, "s", src.sizes)
    if weights is None:
        weights = f"{read(group.weights, src)}.reshape({group.k}, {group.inputs.n})"
    src.line(f"w{s} = {weights}")
    src.line(f"x{s} = {read(group.inputs, src)}")
    bias = "" if group.bias is None else f" + {read(group.bias, src)}"
    src.line(f"s{s} = w{s} @ x{s}{bias}")


def _matmul_backward(group: MatMulGroup, src: Source, assigned: frozenset[int]) -> None:
    """dW = g X^T (summed over the batch by the product), dX = W^T g, db = g."""
    s = group.slot
    pieces = group.weights.pieces
    if pieces:
        view = matrix(group.weights, group.k, "g", src.sizes)
        slot = pieces[0].slot
        if view is not None and pieces[0].at is None and slot not in assigned:
            # every weight needs its gradient, in rows evenly spaced in the slot
            if src.first_write(slot, group.weights.rows):
                src.line(f"np.matmul(g{s}, x{s}.T, out={view})")
            else:  # "[:]" makes a call's result a target
                target = view if view.endswith("]") else f"{view}[:]"
                src.line(f"{target} += g{s} @ x{s}.T")
        else:
            src.line(f"cw{s} = (g{s} @ x{s}.T).reshape(-1, 1)")
            scatter(group.weights, src, f"cw{s}", False, assigned, fresh=True)
    if group.inputs.pieces:
        src.line(f"cx{s} = w{s}.T @ g{s}")
        scatter(group.inputs, src, f"cx{s}", group.batch, assigned, fresh=True)
    if group.bias is not None and group.bias.pieces:
        scatter(group.bias, src, f"g{s}", group.batch, assigned)


_FORWARD: dict[type[Group], Callable] = {
    MapGroup: _map_forward,
    SegmentGroup: _segment_forward,
    MatMulGroup: _matmul_forward,
}
_BACKWARD: dict[type[Group], Callable] = {
    MapGroup: _map_backward,
    SegmentGroup: _segment_backward,
    MatMulGroup: _matmul_backward,
}
