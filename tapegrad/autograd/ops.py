"""The table of primitives: every operation a Value can record, defined once.

Each entry gives the forward computation and the local derivative rule, both written
against a namespace ``m`` of elementary functions (see ``mathlib``), so the same two
lines run on floats (eager mode), on Values (higher-order derivatives) and on NumPy
arrays (compiled mode). ``grad(m, g, out, *inputs)`` returns the tuple of gradients
flowing to the inputs, one per input whatever the arity, given the upstream gradient
``g`` and the node's own output ``out``. Ops with a fixed parameter (a float exponent,
a leaky slope) receive it last.

``domain`` is where the op is defined and smooth: the tests draw inputs from it, and
a new entry is covered by them without new test code.

Everything else known about an op is on its entry too, so no table elsewhere is keyed
by its name: how the explain page says it (``words``) and writes it in a formula
(``notation``), whether its operands are ordered (``ordered``: diagrams then label
each edge with its role, see ``Op.roles``), and whether it is a weighted sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from operator import mul
from typing import TYPE_CHECKING, cast

from .mathlib import FLOATS

if TYPE_CHECKING:
    from .value import Value


@dataclass(frozen=True, eq=False)
class Op:
    """One primitive: forward on floats/Values/arrays and its local derivative rule."""

    name: str
    symbol: str
    arity: int  # 1, 2, or 0 for n-ary (sum, dot)
    forward: Callable
    grad: Callable
    has_arg: bool = False
    domain: tuple[float, float] = (-5.0, 5.0)
    avoid: tuple[float, ...] = ()  # points of the domain where the op has a kink
    sample_args: tuple[float, ...] = ()  # parameters the tests try, for ops with one
    # For a binary op applied to a plain number: the op it derives from and the
    # position (0 or 1) of the number, which the node keeps as its fixed parameter.
    base: Op | None = None
    constant_at: int | None = None
    # For a binary op: the positions a plain number may take (see ``WITH_CONSTANT``).
    constant_positions: tuple[int, ...] = (0, 1)
    # First-order backward on floats for one node. Built from ``grad`` unless given: a
    # hand-written one (n-ary ops, whose generic version is slow) must agree with
    # ``grad``, which the tests check.
    accumulate: Callable[[Value, float], None] = field(default=None, repr=False)  # type: ignore[assignment]  # None: built by __post_init__
    # ``forward(FLOATS, ...)`` as a function of the inputs alone, for eager mode: when
    # the forward is one function of the namespace (see ``_apply``), that function
    # itself, so recording a node makes no call through the table's wrapper.
    on_floats: Callable[..., float] | None = field(default=None, repr=False)
    # What the explain page and diagrams say and draw. ``words``: the op in words
    # ("multiply"; the name when empty). ``notation``: how a formula writes
    # ``m.<name>(...)``, one ``{}`` per argument ("|{}|"); a call ``name(...)`` when
    # None. ``ordered``: the operands are not interchangeable (a - b, not a + b).
    # ``weighted_sum``: operands w_1..w_n, x_1..x_n and an optional bias b.
    words: str = ""
    notation: str | None = None
    ordered: bool = False
    weighted_sum: bool = False
    # Whether the float rule can raise where the forward is defined (sqrt' at 0, a
    # power of 0 below 1; every user's primitive, whose rule is unknown): backward
    # then checks such nodes before it writes any gradient (see engine._backward).
    fallible: bool = False

    def __post_init__(self) -> None:
        if not self.words:
            object.__setattr__(self, "words", self.name)
        if self.accumulate is None:
            object.__setattr__(self, "accumulate", _float_accumulator(self))
        if self.on_floats is None:
            name = getattr(self.forward, "function", None)
            on_floats = getattr(FLOATS, name) if name else partial(self.forward, FLOATS)
            object.__setattr__(self, "on_floats", on_floats)

    def __repr__(self) -> str:
        return f"Op({self.name})"

    def roles(self, n: int) -> tuple[str, ...]:
        """What each of ``n`` operands is to this op: ``w0, w1, ..., x0, x1, ..., b``
        for a weighted sum, ``x0, x1, ...`` for another n-ary op, ``a, b`` for two
        operands, ``x`` for one."""
        if self.weighted_sum:
            half = n // 2
            weights, inputs = [f"w{i}" for i in range(half)], [f"x{i}" for i in range(half)]
            return (*weights, *inputs, *["b"] * (n - 2 * half))
        if self.arity == 0:
            return tuple(f"x{i}" for i in range(n))
        return ("a", "b") if n == 2 else ("x",) * n

    def with_constant(self, position: int) -> Op:
        """This binary op with the operand at ``position`` fixed to a number.

        ``x * 2.0`` then records one node with 2.0 as its parameter, instead of a
        constant leaf and a binary node: the same math, from the same two rules. Its
        one operand needs no role (the number is shown with the symbol): not ordered.
        """
        fwd, rule = self.forward, self.grad
        on_floats = cast("Callable[..., float]", self.on_floats)  # set by __post_init__
        if position == 1:  # the operands are already in the base op's order
            forward = fwd
            grad = lambda m, g, out, x, c: rule(m, g, out, x, c)[:1]
            swapped = None
        else:
            forward = lambda m, x, c: fwd(m, c, x)
            grad = lambda m, g, out, x, c: rule(m, g, out, c, x)[1:]
            swapped = lambda x, c: on_floats(c, x)
        return Op(
            self.name,
            self.symbol,
            1,
            forward,
            grad,
            has_arg=True,
            domain=self.domain,
            avoid=self.avoid,
            base=self,
            constant_at=position,
            on_floats=swapped,
            words=self.words,
            fallible=self.fallible,
            notation=self.notation,
        )


def _apply(name: str) -> Callable:
    """The forward ``m.<name>(*inputs)``: an op that is one function of the namespace."""

    def forward(m, *inputs):
        return getattr(m, name)(*inputs)

    forward.function = name  # type: ignore[attr-defined]  # read back by Op.__post_init__
    return forward


def _float_accumulator(op: Op) -> Callable:
    """First-order backward for one node of ``op``: add float gradients into parents.

    Built from the op's rule once, so ``backward()`` makes one call per node and no
    per-node closures exist. A parent's gradient is added to when it is a float; when
    it is None, it is set if the parent requires grad (a leaf a pass reaches for the
    first time) and left alone if not (a constant). The common case, a float, reads
    nothing more than the gradient (see ``Value.requires_grad`` for why a frozen leaf
    holds none).
    """
    rule, m = op.grad, FLOATS
    if op.base is not None:
        # Call the binary rule directly and keep the half that reaches the Value.
        base_rule, keep = op.base.grad, 1 - cast(int, op.constant_at)  # set with base
        if op.constant_at == 1:

            def accumulate(v, g):
                (x,) = v._prev
                gx = x.grad
                if gx is not None:
                    x.grad = gx + base_rule(m, g, v._data, x._data, v._arg)[keep]
                elif x._requires_grad:
                    x.grad = base_rule(m, g, v._data, x._data, v._arg)[keep]

        else:

            def accumulate(v, g):
                (x,) = v._prev
                gx = x.grad
                if gx is not None:
                    x.grad = gx + base_rule(m, g, v._data, v._arg, x._data)[keep]
                elif x._requires_grad:
                    x.grad = base_rule(m, g, v._data, v._arg, x._data)[keep]

    elif op.has_arg:

        def accumulate(v, g):
            (x,) = v._prev
            gx = x.grad
            if gx is not None:
                x.grad = gx + rule(m, g, v._data, x._data, v._arg)[0]
            elif x._requires_grad:
                x.grad = rule(m, g, v._data, x._data, v._arg)[0]

    elif op.arity == 1:

        def accumulate(v, g):
            (x,) = v._prev
            gx = x.grad
            if gx is not None:
                x.grad = gx + rule(m, g, v._data, x._data)[0]
            elif x._requires_grad:
                x.grad = rule(m, g, v._data, x._data)[0]

    elif op.arity == 2:

        def accumulate(v, g):
            a, b = v._prev
            ga, gb = rule(m, g, v._data, a._data, b._data)
            old = a.grad
            if old is not None:
                a.grad = old + ga
            elif a._requires_grad:
                a.grad = ga
            old = b.grad
            if old is not None:
                b.grad = old + gb
            elif b._requires_grad:
                b.grad = gb

    else:

        def accumulate(v, g):
            prev = v._prev
            for p, gp in zip(prev, rule(m, g, v._data, *[p._data for p in prev])):
                old = p.grad
                if old is not None:
                    p.grad = old + gp
                elif p._requires_grad:
                    p.grad = gp

    return accumulate


def _sum_accumulate(v, g):
    # The sum rule on floats, without building the list of equal gradients.
    for p in v._prev:
        gp = p.grad
        if gp is not None:
            p.grad = gp + g
        elif p._requires_grad:
            p.grad = g


# A dot node's parents are w_1..w_n, x_1..x_n, then an optional bias b (odd count):
# out = sum_i w_i * x_i (+ b).


def _dot_accumulate(v, g):
    # The dot rule on floats, pair by pair: the hot loop of every dense layer.
    prev = v._prev
    n = len(prev) >> 1
    for w, x in zip(prev, prev[n : 2 * n]):  # stops after the n pairs
        gw = w.grad
        if gw is not None:
            w.grad = gw + g * x._data
        elif w._requires_grad:
            w.grad = g * x._data
        # An input is often a constant (a first layer's data): its flag first, so a
        # constant costs one read, as a weight with a gradient does.
        if x._requires_grad:
            gx = x.grad
            x.grad = g * w._data if gx is None else gx + g * w._data
    if len(prev) & 1:
        b = prev[-1]
        gb = b.grad
        if gb is not None:
            b.grad = gb + g
        elif b._requires_grad:
            b.grad = g


def dot_product(ws, xs):
    """sum_i ws[i] * xs[i]: the dot node's forward without its bias (floats or arrays)."""
    return sum(map(mul, ws, xs))


def _dot_forward(m, *wxb):
    n = len(wxb) >> 1
    total = dot_product(wxb[:n], wxb[n : 2 * n])
    return total + wxb[-1] if len(wxb) & 1 else total


def _dot_grad(m, g, out, *wxb):
    n = len(wxb) >> 1
    return (*[g * x for x in wxb[n : 2 * n]], *[g * w for w in wxb[:n]], *[g] * (len(wxb) & 1))


ADD = Op("add", "+", 2, _apply("add"), lambda m, g, out, a, b: (g, g))
SUB = Op(
    "sub",
    "-",
    2,
    _apply("sub"),
    lambda m, g, out, a, b: (g, -g),
    words="subtract",
    ordered=True,
)
MUL = Op("mul", "*", 2, _apply("mul"), lambda m, g, out, a, b: (g * b, g * a), words="multiply")
DIV = Op(
    "div",
    "/",
    2,
    _apply("div"),
    lambda m, g, out, a, b: (g / b, -g * out / b),
    domain=(0.2, 5.0),
    words="divide",
    ordered=True,
)
POW = Op(  # a ** b with a Value exponent; d/db at a = 0 is 0 (as PyTorch)
    "pow",
    "**",
    2,
    _apply("pow"),
    lambda m, g, out, a, b: (g * m.pow_slope(a, b), g * m.xlog(out, a)),
    domain=(0.2, 3.0),
    constant_positions=(0,),  # a number exponent is POWC
    words="power",
    ordered=True,
    fallible=True,
)
POWC = Op(  # x ** k with a constant exponent k
    "powc",
    "**",
    1,
    _apply("pow"),
    lambda m, g, out, x, k: (g * m.pow_slope(x, k),),
    has_arg=True,
    domain=(0.2, 3.0),
    sample_args=(2.0, 3.0, 0.5, -1.0, 1.5),
    words="power",
    fallible=True,
)
NEG = Op("neg", "-", 1, _apply("neg"), lambda m, g, out, x: (-g,), words="negate")
EXP = Op("exp", "exp", 1, _apply("exp"), lambda m, g, out, x: (g * out,), words="exponential")
LOG = Op(
    "log",
    "log",
    1,
    _apply("log"),
    lambda m, g, out, x: (g / x,),
    domain=(0.1, 10.0),
    words="logarithm",
)
SQRT = Op(
    "sqrt",
    "sqrt",
    1,
    _apply("sqrt"),
    lambda m, g, out, x: (g * 0.5 / out,),
    domain=(0.1, 10.0),
    words="square root",
    fallible=True,
)
TANH = Op("tanh", "tanh", 1, _apply("tanh"), lambda m, g, out, x: (g * (1.0 - out * out),))
SIGMOID = Op(
    "sigmoid",
    "σ",
    1,
    _apply("sigmoid"),
    lambda m, g, out, x: (g * out * (1.0 - out),),
    notation="σ({})",
)
RELU = Op(
    "relu",
    "relu",
    1,
    _apply("relu"),
    lambda m, g, out, x: (g * m.step(x),),
    avoid=(0.0,),
    words="ReLU",
)
LEAKY_RELU = Op(
    "leaky_relu",
    "leaky",
    1,
    _apply("leaky_relu"),
    lambda m, g, out, x, slope: (g * m.leaky_step(x, slope),),
    has_arg=True,
    avoid=(0.0,),
    sample_args=(0.01, 0.2),
    words="leaky ReLU",
)
ABS = Op(
    "abs",
    "abs",
    1,
    _apply("abs"),
    lambda m, g, out, x: (g * m.sign(x),),
    avoid=(0.0,),
    words="absolute value",
    notation="|{}|",
)
SIN = Op("sin", "sin", 1, _apply("sin"), lambda m, g, out, x: (g * m.cos(x),), words="sine")
COS = Op("cos", "cos", 1, _apply("cos"), lambda m, g, out, x: (-g * m.sin(x),), words="cosine")
SUM = Op(
    "sum",
    "Σ",
    0,
    lambda m, *xs: sum(xs),
    lambda m, g, out, *xs: (g,) * len(xs),
    accumulate=_sum_accumulate,
)
DOT = Op(
    "dot",
    "Σ w·x",
    0,
    _dot_forward,
    _dot_grad,
    accumulate=_dot_accumulate,
    words="weighted sum",
    ordered=True,
    weighted_sum=True,
)

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        ADD,
        SUB,
        MUL,
        DIV,
        POW,
        POWC,
        NEG,
        EXP,
        LOG,
        SQRT,
        TANH,
        SIGMOID,
        RELU,
        LEAKY_RELU,
        ABS,
        SIN,
        COS,
        SUM,
        DOT,
    )
}
"""Every primitive by name."""

WITH_CONSTANT: dict[tuple[str, int], Op] = {
    (op.name, position): op.with_constant(position)
    for op in OPS.values()
    if op.arity == 2
    for position in op.constant_positions
}
"""Each binary op with a number fixed at position 0 or 1: (name, position) -> Op.
A number exponent is not ``("pow", 1)`` but POWC, whose rule never takes a log."""
