"""The Value node: a scalar that records every operation applied to it.

A node holds its number, its gradient, its parents (an ordered tuple), the op that
made it, the op's fixed parameter, a label, a mark for graph traversals and a version
stamp (see ``data``); nothing else: no closure, so no reference cycle, and a dropped
graph is freed by reference counting alone. The math of every operator lives in the
op table (``ops.py``); each method here is made from its table entry by one of three
factories (unary, with a fixed number, binary), and every Value an operation makes is
built by ``_node`` (a leaf or a constant, by ``Value.__init__``).

Imports look down (mathlib, ops, then this module, then the engine) but for one:
``Value.backward`` imports the engine when called. The engine needs this module (the
class, to check its arguments and to make the constants of ``grad(create_graph=True)``,
and the write clock), and the clock stays a global here, where ``_node`` reads it and
``data`` advances it: held in a module both could import, it made each ``data``
assignment (every parameter of every optimizer step) about 10% slower. The import
at call time costs about 0.6 µs a call, against 4.6 µs for the backward of a single
product.
"""

from __future__ import annotations

import math
import numbers
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import cast

from . import ops
from .mathlib import FLOATS
from .mode import FAST, MODE, user_site
from .tracing import changed, records_frozen

_new = object.__new__

# The write clock: advanced by every assignment to a Value's ``data``. A node made by
# an operation is stamped with the clock's reading; a Value assigned to is stamped
# with the new reading (negated for a computed node). A parent whose stamp is above its
# child's was changed after the child used it: backward refuses the graph (see
# engine.check_versions). Reading a module global is the cheapest stamp there is.
_clock = 0

# Whether a node of a fallible op (``Op.fallible``: its derivative can raise where its
# forward is defined) was ever made in this process. Until one is, no graph holds
# one, and backward skips the check that keeps a failing pass from changing any
# gradient (see engine._backward): programs that never take a square root or a
# power pay nothing for it. Set by the methods that make such nodes, never reset.
_fallible = False


def made_fallible() -> None:
    """Note that a node of a fallible op is being made (see ``_fallible``)."""
    global _fallible
    _fallible = True


def _unary_method(op: ops.Op, doc: str) -> Callable[[Value], Value]:
    """``self.<op>()``: one node with one parent."""
    forward = cast("Callable[..., float]", op.on_floats)  # set by Op.__post_init__

    def method(self: Value) -> Value:
        return _node(op, forward(self._data), (self,), None)

    method.__name__, method.__doc__ = op.name, doc
    return _noting_fallible(method) if op.fallible else method


def _noting_fallible(method: Callable[..., Value]) -> Callable[..., Value]:
    """``method``, which makes nodes of a fallible op, also noting that it does."""

    def noting(*args: object) -> Value:
        global _fallible
        _fallible = True
        return method(*args)

    noting.__name__, noting.__doc__ = method.__name__, method.__doc__
    return noting


def _parametrised_method(
    op: ops.Op, doc: str, default: float | None = None
) -> Callable[..., Value]:
    """``self.<op>(k)``: one node with one parent and a fixed number k (slope, exponent)."""
    forward = cast("Callable[..., float]", op.on_floats)  # set by Op.__post_init__

    def method(self: Value, k: float | None = default) -> Value:
        if k.__class__ is not float:
            k = _number(k, op.name)
        return _node(op, forward(self._data, k), (self,), k)

    def power(self: Value, k: float | None = default) -> Value:
        global _fallible
        if k.__class__ is not float:
            k = _number(k, op.name)
        if k < 1.0:  # k x ** (k - 1) raises at x = 0 only for these
            _fallible = True
        return _node(op, forward(self._data, k), (self,), k)

    if op is ops.POWC:
        method = power
    method.__name__, method.__doc__ = op.name, doc
    return _noting_fallible(method) if op.fallible and op is not ops.POWC else method


def _binary_method(
    op: ops.Op, doc: str, reflected: bool = False
) -> Callable[[Value, Value | float], Value]:
    """``self <op> other`` (or ``other <op> self`` when reflected).

    With a plain number on one side the node has one parent and keeps the number as
    its fixed parameter (see ``Op.with_constant``).
    """
    forward = cast("Callable[..., float]", op.on_floats)  # set by Op.__post_init__
    with_constant = ops.WITH_CONSTANT[(op.name, 0 if reflected else 1)]
    constant_forward = cast("Callable[[float, float], float]", with_constant.on_floats)

    def method(self: Value, other: Value | float) -> Value:
        cls = other.__class__
        if cls is Value or (cls is not float and isinstance(other, Value)):
            a, b = (other, self) if reflected else (self, other)
            # other is a Value (cls is its class), which mypy cannot see through cls.
            return _node(op, forward(a._data, b._data), (a, b), None)  # type: ignore[union-attr]
        if cls is not float:
            other = _number(other, op.name)
        # other is a float now, by its class or made one by _number.
        return _node(with_constant, constant_forward(self._data, other), (self,), other)  # type: ignore[arg-type]

    method.__name__ = f"__r{op.name}__" if reflected else f"__{op.name}__"
    method.__doc__ = doc
    return _noting_fallible(method) if op.fallible or with_constant.fallible else method


def _assign_data(v: Value, x: float) -> None:
    """``v.data = x``: a real number, stamped with the advanced write clock."""
    global _clock
    if x.__class__ is not float:
        x = _number(x, "data")
    # One step under the GIL: the interpreter switches threads only at calls and
    # backward jumps, and there is none between reading the clock and writing it.
    _clock = stamp = _clock + 1
    v._data = x
    v._version = -stamp if v._prev else stamp


_CLOCK_LOCK = threading.Lock()


def _assign_data_locked(v: Value, x: float) -> None:
    """``_assign_data`` for Python without the GIL, where another thread can run
    between reading the clock and writing it back (an advance would be lost and two
    assignments would share a stamp): the clock advances under a lock. Not used with
    the GIL, where the lock would double the cost of every assignment."""
    global _clock
    if x.__class__ is not float:
        x = _number(x, "data")
    with _CLOCK_LOCK:
        _clock = stamp = _clock + 1
    v._data = x
    v._version = -stamp if v._prev else stamp


def _data_setter(gil: bool) -> Callable[[Value, float], None]:
    """The setter of ``Value.data`` for an interpreter with or without the GIL."""
    return _assign_data if gil else _assign_data_locked


class Value:
    """A scalar in a computation graph: ``data``, ``grad``, and how it was computed.

    ``requires_grad`` says whether gradients flow to it: True by default for a leaf
    (``Value(x)``; PyTorch's ``torch.tensor`` defaults to False, the micrograd habit
    here is kept), and for a result exactly when grad mode is on and some parent
    requires grad. ``grad`` is None until a backward pass reaches the Value, then the
    float that passes accumulate into. Unlike PyTorch, a computed Value keeps the
    gradient of the latest pass too (for inspection, as the explain page shows it).
    Every operator takes a Value or a plain real number on either side.
    """

    __slots__ = (
        "_arg",
        "_data",
        "_mark",
        "_op",
        "_prev",
        "_requires_grad",
        "_version",
        "grad",
        "label",
    )
    # The slots' types, for type checkers (a slot holds no class-level value).
    _arg: float | None
    _data: float
    _mark: object  # whatever the running traversal marks its visited nodes with
    _op: ops.Op | None
    _prev: tuple[Value, ...]
    _requires_grad: bool
    _version: int
    grad: float | None
    label: str | None
    # Makes NumPy scalars defer to Value's reflected operators (np.float64(2) * v).
    __array_ufunc__ = None

    def __init__(self, data: float, label: str | None = None, requires_grad: bool = True) -> None:
        if data.__class__ is not float:
            if isinstance(data, Value):
                raise TypeError("Value: data is already a Value; use value.detach() for a new leaf")
            if not isinstance(data, numbers.Real):
                raise TypeError(
                    f"Value: data must be a real number, got {type(data).__name__} {data!r}"
                )
            data = _number(data, "Value")
        if label is not None and not isinstance(label, str):
            raise TypeError(
                f"Value: label must be a string or None, got {type(label).__name__} {label!r}"
            )
        if requires_grad is not True and requires_grad is not False:
            raise TypeError(
                f"Value: requires_grad must be a bool, got {type(requires_grad).__name__} "
                f"{requires_grad!r}"
            )
        # A leaf (or a constant); every computed Value is made by _node.
        self._data = data
        self._version = 0
        self.grad = None
        self._requires_grad = requires_grad
        self._prev = ()
        self._op = None
        self._arg = None
        self.label = label
        self._mark = None

    # --- introspection -----------------------------------------------------------

    data = property(
        attrgetter("_data"),  # a C-level read: optimizers and compiled mode read every parameter
        # Python started without the GIL may turn it on later, never off: this holds.
        _data_setter(getattr(sys, "_is_gil_enabled", lambda: True)()),
        doc="""The number this Value holds (a float).

        Assigning it (as an optimizer step does) marks the Value as changed: a graph
        that used the old number can no longer be differentiated, and ``backward``
        raises a RuntimeError naming this Value instead of mixing old and new numbers,
        as PyTorch's version counters do. Compute the graph again after a change.
        """,
    )

    def _set_requires_grad(self, flag: bool) -> None:
        if flag.__class__ is not bool:
            raise TypeError(f"requires_grad must be a bool, got {type(flag).__name__} {flag!r}")
        if self._prev:
            raise ValueError(
                "requires_grad can only be set on a leaf Value; use detach() for a "
                "leaf that requires no gradient"
            )
        if flag is self._requires_grad:
            return  # nothing changes: the gradient stays, compiled functions stay valid
        self._requires_grad = flag
        if not flag:
            # A frozen Value's gradient is dropped (PyTorch keeps it): backward adds
            # into any gradient that is set, so a frozen one must hold none.
            self.grad = None
        changed((self,))  # a compiled function traced with it notices and traces again

    requires_grad = property(
        attrgetter("_requires_grad"),  # a C-level read, as for data
        _set_requires_grad,
        doc="""Whether gradients flow to this Value; settable on leaves.

        Setting it to the state it already has changes nothing. Freezing a leaf
        (False) drops its gradient (PyTorch keeps it): backward adds into every
        gradient that is set without reading this flag, the cheapest test there is,
        so a number assigned to a frozen leaf's ``grad`` would be added into too.
        ``p.grad = None`` never freezes anything.
        """,
    )

    def requires_grad_(self, requires_grad: bool = True) -> Value:
        """Set ``requires_grad`` (on a leaf) and return this Value, as PyTorch's."""
        self.requires_grad = requires_grad
        return self

    @property
    def op(self) -> str | None:
        """Name of the operation that produced this Value, None for a leaf."""
        return self._op.name if self._op is not None else None

    @property
    def primitive(self) -> ops.Op | None:
        """The op table's entry that produced this Value, None for a leaf."""
        return self._op

    @property
    def parents(self) -> tuple[Value, ...]:
        """The Values this one was computed from, in argument order."""
        return self._prev

    @property
    def arg(self) -> float | None:
        """The op's fixed parameter (constant exponent, leaky slope), if it has one."""
        return self._arg

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label is not None else ""
        return f"Value(data={self._data:.6g}, grad={self.grad if self.grad is None else format(self.grad, '.6g')}{label})"

    def __float__(self) -> float:
        return self._data

    def __bool__(self) -> bool:
        """Truth follows the number, as for a float or a 0-d tensor: false only for 0.

        In a function given to ``tapegrad.compile`` a branch on a Value (``if v:``)
        is decided once, at the traced sample, like any branch on ``.data``.
        """
        return self._data != 0.0

    def item(self) -> float:
        """The number this Value holds."""
        return self._data

    # --- gradients -----------------------------------------------------------------

    def backward(self, gradient: float = 1.0) -> None:
        """Accumulate d(self)/d(node) * gradient into ``.grad`` of every node behind it;
        ``gradient`` is a real number (a string is refused, not parsed)."""
        from .engine import backward  # the one upward import (see the module docstring)

        backward(self, gradient)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget this Value's gradient: None (PyTorch's default), or, with
        ``set_to_none=False``, 0.0 if it has one (as PyTorch, None stays None)."""
        if set_to_none:
            self.grad = None
        elif self.grad is not None:
            self.grad = 0.0

    def detach(self) -> Value:
        """A new leaf with the same number that requires no gradient."""
        return Value(self._data, label=self.label, requires_grad=False)

    # --- operators: each is one entry of the op table ------------------------------

    def __pos__(self) -> Value:  # +self
        return self

    __add__ = _binary_method(ops.ADD, "self + other.")
    __radd__ = _binary_method(ops.ADD, "other + self.", reflected=True)
    __sub__ = _binary_method(ops.SUB, "self - other.")
    __rsub__ = _binary_method(ops.SUB, "other - self.", reflected=True)
    __mul__ = _binary_method(ops.MUL, "self * other.")
    __rmul__ = _binary_method(ops.MUL, "other * self.", reflected=True)
    __truediv__ = _binary_method(ops.DIV, "self / other; ZeroDivisionError for 0.")
    __rtruediv__ = _binary_method(ops.DIV, "other / self; ZeroDivisionError for 0.", reflected=True)
    __rpow__ = _binary_method(ops.POW, "other ** self, for a number other.", reflected=True)

    def __pow__(self, other: Value | float) -> Value:
        """self ** other; the exponent may be a number or a Value.

        d/d(self) = other * self ** (other - 1) and d/d(other) = self ** other * log(self),
        taken as 0 at self = 0 (as PyTorch). An exponent that requires no gradient is
        used as a number: log(self) is then never evaluated.
        """
        if other.__class__ is Value or isinstance(other, Value):
            if other._requires_grad or (not FAST.default and records_frozen((other,))):
                made_fallible()
                return _node(ops.POW, FLOATS.pow(self._data, other._data), (self, other), None)
            other = other._data
        return _power(self, other)

    neg = _unary_method(ops.NEG, "-self.")
    __neg__ = neg
    exp = _unary_method(ops.EXP, "e ** self.")
    log = _unary_method(ops.LOG, "Natural logarithm; ValueError for self <= 0.")
    sqrt = _unary_method(ops.SQRT, "Square root; ValueError for self < 0.")
    tanh = _unary_method(ops.TANH, "Hyperbolic tangent.")
    sigmoid = _unary_method(ops.SIGMOID, "1 / (1 + e ** -self), without overflow for large |self|.")
    relu = _unary_method(ops.RELU, "max(self, 0), NaN for NaN; derivative 0 at 0, as in PyTorch.")
    abs = _unary_method(ops.ABS, "|self|; derivative sign(self), 0 at 0.")
    __abs__ = abs
    sin = _unary_method(ops.SIN, "Sine (radians).")
    cos = _unary_method(ops.COS, "Cosine (radians).")
    leaky_relu = _parametrised_method(
        ops.LEAKY_RELU, "self if self > 0 else slope * self.", default=0.01
    )

    @staticmethod
    def sum(values: Iterable[Value | float]) -> Value:
        """One node: the sum of all ``values`` (numbers are allowed among them)."""
        return _nary(ops.SUM, tuple(values))

    @staticmethod
    def dot(
        ws: Sequence[Value | float],
        xs: Sequence[Value | float],
        bias: Value | float | None = None,
    ) -> Value:
        """One node: sum_i ws[i] * xs[i] (+ bias), the affine map inside every neuron."""
        for name, seq in (("weights", ws), ("inputs", xs)):
            try:
                sized = not isinstance(seq, (str, bytes)) and len(seq) >= 0
            except TypeError:  # no len(), or a 0-d NumPy array
                sized = False
            if not sized:
                raise TypeError(
                    f"dot: {name} must be a list of Values or numbers, got "
                    f"{type(seq).__name__} {seq!r}"
                )
        if len(ws) != len(xs):
            raise ValueError(f"dot: lengths differ ({len(ws)} weights, {len(xs)} inputs)")
        xs, xdata = _dot_inputs(xs)
        return _dot_node(ws, xs, xdata, bias)

    @staticmethod
    def dots(
        rows: Sequence[Sequence[Value | float]],
        xs: Sequence[Value | float],
        biases: Sequence[Value | float | None] | None = None,
    ) -> list[Value]:
        """One dot node per row of weights, over the same inputs: a dense layer.

        The same nodes as ``[Value.dot(w, xs, b) for w, b in zip(rows, biases)]``
        (a bias may be None), with the inputs' numbers read once for all rows.
        """
        if biases is None:
            biases = [None] * len(rows)
        elif len(biases) != len(rows):
            raise ValueError(f"dots: {len(rows)} rows of weights but {len(biases)} biases")
        for i, ws in enumerate(rows):
            if len(ws) != len(xs):
                raise ValueError(f"dots: row {i} has {len(ws)} weights for {len(xs)} inputs")
        xs, xdata = _dot_inputs(xs)
        return [_dot_node(ws, xs, xdata, b) for ws, b in zip(rows, biases)]


_power = _parametrised_method(ops.POWC, "self ** k for a number k.")


def _node(op: ops.Op, data: float, parents: tuple, arg: float | None) -> Value:
    """The Value that ``op`` computes from ``parents`` (and its fixed number ``arg``),
    its number already computed: the one place a computed Value is made.

    It records ``op`` and ``parents`` (at least one) when grad mode is on and some
    parent requires grad (or, while this thread traces for compile, is a frozen
    parameter: see tracing.py); otherwise it is a constant.
    """
    v = _new(Value)
    v._data = data
    v.grad = None
    v.label = None
    v._mark = None
    v._version = _clock
    # FAST.default: no thread has switched a mode, so this thread's need not be read.
    # The first parent (a weight, in a neuron) usually decides: no generator for it.
    if (FAST.default or MODE.grad_enabled) and (
        parents[0]._requires_grad
        or any(p._requires_grad for p in parents)
        or (not FAST.default and records_frozen(parents))
    ):
        v._requires_grad = True
        v._prev = parents
        v._op = op
        v._arg = arg
    else:
        v._requires_grad = False
        v._prev = ()
        v._op = None
        v._arg = None
    if not FAST.default and MODE.anomaly:
        return _check_forward(op, v, parents, arg)
    return v


def _number(x: object, where: str) -> float:
    """``x`` as a float; a TypeError or OverflowError naming ``where`` if it is not a
    real number (a Value, a string, a complex) or too large for a float."""
    if isinstance(x, Value) or not isinstance(x, numbers.Real):
        raise TypeError(f"{where}: expected a number, got {type(x).__name__} {x!r}")
    try:
        return float(x)
    except OverflowError:
        raise OverflowError(
            # int() truncates any Real (through __trunc__), which typeshed does not spell.
            f"{where}: the integer of {int(x).bit_length()} bits is too large for a float"  # type: ignore[call-overload]
        ) from None


def _lift(x: object, op: ops.Op) -> Value:
    """A plain number as a constant Value; anything else is a TypeError naming ``op``."""
    if x.__class__ is not float:
        if not isinstance(x, numbers.Real):
            raise TypeError(
                f"{op.name}: unsupported operand {x!r} of type {type(x).__name__}; "
                "expected a number or a Value"
            )
        x = _number(x, op.name)
    return Value(x, requires_grad=False)


def _lifted(xs: Sequence[object], op: ops.Op) -> tuple[Value, ...]:
    """``xs`` with every plain number made a constant Value (see ``_lift``)."""
    return tuple(x if isinstance(x, Value) else _lift(x, op) for x in xs)


def _dot_inputs(xs: Sequence[Value | float]) -> tuple[Sequence[Value], list[float]]:
    """A dot node's inputs as Values, a plain number lifted to a constant once, and
    their numbers."""
    try:
        # All Values, or an AttributeError from the first number among them.
        return xs, [x._data for x in xs]  # type: ignore[return-value, union-attr]
    except AttributeError:
        xs = _lifted(xs, ops.DOT)
        return xs, [x._data for x in xs]


def _dot_node(ws: Sequence[Value | float], xs: Sequence[Value], xdata: list[float], bias) -> Value:
    """The dot node of ``ws`` and ``xs`` (+ ``bias``); ``xdata`` are the inputs' numbers."""
    parents = (*ws, *xs) if bias is None else (*ws, *xs, bias)
    if not parents:
        return _nary(ops.DOT, parents)
    # The hot path of every neuron: the products straight from the Values, without
    # first copying every parent's number into one argument list.
    try:
        data = ops.dot_product([w._data for w in ws], xdata)  # type: ignore[union-attr]
        if bias is not None:
            data += bias._data
    except AttributeError:  # a plain number among the weights, inputs or bias
        return _nary(ops.DOT, parents)
    return _node(ops.DOT, data, parents, None)


def _nary(op: ops.Op, xs: tuple) -> Value:
    """One node over all of ``xs``; numbers among them become constant leaves."""
    if not xs:
        return _lift(0.0, op)
    try:
        data = op.forward(FLOATS, *[x._data for x in xs])
    except AttributeError:  # a plain number among them
        xs = _lifted(xs, op)
        data = op.forward(FLOATS, *[x._data for x in xs])
    return _node(op, data, xs, None)


class _SitedNode(Value):
    """A node made inside ``detect_anomaly()``: a Value that also holds where the user's
    code created it, for backward's report. The site is freed with the node; a Value
    made in normal mode has no room for one, so it costs nothing there."""

    __slots__ = ("_site",)
    _site: str


def _check_forward(op: ops.Op, v: Value, parents: tuple, arg: float | None) -> Value:
    """Anomaly mode: refuse a NaN from inputs without one, or an infinity from finite
    inputs; return the node ``v`` holding where it was created (a constant as it is)."""
    site = user_site()
    xs = [p._data for p in parents]
    if op.base is not None:  # a binary op with a number on one side, in its place
        xs.insert(cast(int, op.constant_at), arg)  # set with base
    elif arg is not None:
        xs.append(arg)
    if (math.isnan(v._data) and not any(math.isnan(x) for x in xs)) or (
        math.isinf(v._data) and all(math.isfinite(x) for x in xs)
    ):
        shown = ", ".join(repr(x) for x in xs)
        raise FloatingPointError(
            f"anomaly: {op.name}({shown}) produced {v._data!r} in forward, at {site}"
        )
    if not v._prev:
        return v  # a constant: no backward pass reaches it
    node = _new(_SitedNode)
    for name in Value.__slots__:
        setattr(node, name, getattr(v, name))
    node._site = site
    return node
