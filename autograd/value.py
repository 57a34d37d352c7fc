"""The Value node: a scalar that records every operation applied to it.

A node holds its number, its gradient, its parents (an ordered tuple), the op that
made it, the op's fixed parameter, a label, and a mark for graph traversals; nothing
else: no closure, so no reference cycle, and a dropped graph is freed by reference
counting alone. The math of every operator lives in the
op table (``ops.py``); the methods here only look up the entry and record the node.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

from . import ops
from .mathlib import FLOATS
from .mode import MODE, user_site

_new = object.__new__


class Value:
    """A scalar in a computation graph: ``data``, ``grad``, and how it was computed.

    ``grad`` is a float that ``backward()`` accumulates into, or None for a Value that
    requires no gradient (a constant, or a result computed under ``no_grad()``).
    """

    __slots__ = ("data", "grad", "_prev", "_op", "_arg", "label", "_mark")
    # Makes NumPy scalars defer to Value's reflected operators (np.float64(2) * v).
    __array_ufunc__ = None

    def __init__(
        self, data: float, label: str | None = None, requires_grad: bool = True
    ) -> None:
        if isinstance(data, Value):
            raise TypeError(
                "Value: data is already a Value; use value.detach() for a new leaf"
            )
        if not isinstance(data, numbers.Real):
            raise TypeError(
                f"Value: data must be a real number, got {type(data).__name__} {data!r}"
            )
        self.data = float(data)
        self.grad = 0.0 if requires_grad else None
        self._prev = ()
        self._op = None
        self._arg = None
        self.label = label
        self._mark = None

    # --- introspection -----------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this Value (settable on leaves)."""
        return self.grad is not None

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if self._prev:
            raise ValueError("requires_grad can only be set on a leaf Value")
        if flag and self.grad is None:
            self.grad = 0.0
        elif not flag:
            self.grad = None

    @property
    def op(self) -> str | None:
        """Name of the operation that produced this Value, None for a leaf."""
        return self._op.name if self._op is not None else None

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
        return f"Value(data={self.data:.6g}, grad={self.grad if self.grad is None else format(self.grad, '.6g')}{label})"

    def __float__(self) -> float:
        return self.data

    def item(self) -> float:
        """The number this Value holds."""
        return self.data

    # --- gradients -----------------------------------------------------------------

    def backward(self, gradient: float = 1.0) -> None:
        """Accumulate d(self)/d(node) * gradient into ``.grad`` of every node behind it."""
        from .engine import backward

        backward(self, gradient)

    def zero_grad(self) -> None:
        """Reset this Value's gradient to 0 (it keeps requiring grad or not)."""
        if self.grad is not None:
            self.grad = 0.0

    def detach(self) -> Value:
        """A new leaf with the same number that requires no gradient."""
        return Value(self.data, label=self.label, requires_grad=False)

    # --- operators: each is one entry of the op table ------------------------------
    # The methods are assigned after the class body (see _install_operators): each is
    # built once from its op, so calling one is a single function call.

    def __pos__(self):  # +self
        return self

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
                raise ValueError(
                    f"dots: row {i} has {len(ws)} weights for {len(xs)} inputs"
                )
        xs, xdata = _dot_inputs(xs)
        return [_dot_node(ws, xs, xdata, b) for ws, b in zip(rows, biases)]


# What reading ``.data`` of every operand and computing with it raises when a plain
# number is among them: AttributeError for a float, TypeError for a NumPy scalar,
# whose ``.data`` is a memoryview of its bytes.
_NOT_ALL_VALUES = (AttributeError, TypeError)


def _dot_inputs(xs: Sequence[Value | float]) -> tuple[Sequence[Value], list[float]]:
    """A dot node's inputs as Values, a plain number lifted to a constant once, and
    their numbers."""
    try:
        return xs, [x.data for x in xs]
    except AttributeError:
        xs = _lifted(xs, ops.DOT)
        return xs, [x.data for x in xs]


def _dot_node(
    ws: Sequence[Value | float], xs: Sequence[Value], xdata: list[float], bias
) -> Value:
    """The dot node of ``ws`` and ``xs`` (+ ``bias``); ``xdata`` are the inputs' numbers."""
    parents = (*ws, *xs) if bias is None else (*ws, *xs, bias)
    if not parents:
        return _nary(ops.DOT, parents)
    # The hot path of every neuron: the products straight from the Values, without
    # first copying every parent's number into one argument list.
    try:
        data = ops.dot_product([w.data for w in ws], xdata)
        if bias is not None:
            data += bias.data
    except _NOT_ALL_VALUES:  # a plain number among the weights, inputs or bias
        return _nary(ops.DOT, parents)
    return _node(ops.DOT, data, parents)


def _number(x: object, op: ops.Op) -> float:
    if isinstance(x, Value) or not isinstance(x, numbers.Real):
        raise TypeError(
            f"{op.name}: expected a number, got {type(x).__name__} {x!r}"
        )
    return float(x)


def _lift(x: object, op: ops.Op) -> Value:
    """A plain number as a constant Value; anything else is a TypeError naming ``op``."""
    if x.__class__ is not float and not isinstance(x, numbers.Real):
        raise TypeError(
            f"{op.name}: unsupported operand {x!r} of type {type(x).__name__}; "
            "expected a number or a Value"
        )
    v = _new(Value)
    v.data = float(x)
    v.grad = None
    v._prev = ()
    v._op = None
    v._arg = None
    v.label = None
    v._mark = None
    return v


def _lifted(xs: Sequence[object], op: ops.Op) -> tuple[Value, ...]:
    """``xs`` with every plain number made a constant Value (see ``_lift``)."""
    return tuple(x if isinstance(x, Value) else _lift(x, op) for x in xs)


def _unary_method(op: ops.Op, doc: str):
    """``self.<op>()``: one node with one parent."""
    forward = op.on_floats

    def method(self):
        v = _new(Value)
        v.data = forward(self.data)
        v.label = None
        v._mark = None
        v._arg = None
        if self.grad is not None and MODE.grad_enabled:
            v.grad = 0.0
            v._prev = (self,)
            v._op = op
        else:
            v.grad = None
            v._prev = ()
            v._op = None
        if MODE.anomaly:
            _check_forward(op, v, (self,))
        return v

    method.__name__, method.__doc__ = op.name, doc
    return method


def _parametrised_method(op: ops.Op, doc: str, default: float | None = None):
    """``self.<op>(k)``: one node with one parent and a fixed number k (slope, exponent)."""
    forward = op.on_floats

    def method(self, k=default):
        if k.__class__ is not float:
            k = _number(k, op)
        v = _new(Value)
        v.data = forward(self.data, k)
        v.label = None
        v._mark = None
        if self.grad is not None and MODE.grad_enabled:
            v.grad = 0.0
            v._prev = (self,)
            v._op = op
            v._arg = k
        else:
            v.grad = None
            v._prev = ()
            v._op = None
            v._arg = None
        if MODE.anomaly:
            _check_forward(op, v, (self, k))
        return v

    method.__name__, method.__doc__ = op.name, doc
    return method


def _binary_method(op: ops.Op, reflected: bool = False):
    """``self <op> other`` (or ``other <op> self`` when reflected).

    With a plain number on one side the node has one parent and keeps the number as
    its fixed parameter (see ``Op.with_constant``).
    """
    forward = op.on_floats
    with_constant = ops.WITH_CONSTANT[(op.name, 0 if reflected else 1)]
    constant_forward = with_constant.on_floats

    def method(self, other):
        v = _new(Value)
        v.label = None
        v._mark = None
        if other.__class__ is Value:
            a, b = (other, self) if reflected else (self, other)
            v.data = forward(a.data, b.data)
            if (a.grad is not None or b.grad is not None) and MODE.grad_enabled:
                v.grad = 0.0
                v._prev = (a, b)
                v._op = op
                v._arg = None
            else:
                v.grad = None
                v._prev = ()
                v._op = None
                v._arg = None
        else:
            if other.__class__ is not float:
                other = _number(other, op)
            v.data = constant_forward(self.data, other)
            if self.grad is not None and MODE.grad_enabled:
                v.grad = 0.0
                v._prev = (self,)
                v._op = with_constant
                v._arg = other
            else:
                v.grad = None
                v._prev = ()
                v._op = None
                v._arg = None
        if MODE.anomaly:
            _check_forward(op, v, (other, self) if reflected else (self, other))
        return v

    method.__name__ = f"__r{op.name}__" if reflected else f"__{op.name}__"
    return method


def _nary(op: ops.Op, xs: tuple) -> Value:
    """One node over all of ``xs``; numbers among them become constant leaves."""
    if not xs:
        return Value(0.0, requires_grad=False)
    try:
        data = op.forward(FLOATS, *[x.data for x in xs])
    except _NOT_ALL_VALUES:
        xs = _lifted(xs, op)
        data = op.forward(FLOATS, *[x.data for x in xs])
    return _node(op, data, xs)


def _node(op: ops.Op, data: float, xs: tuple) -> Value:
    """The node of n-ary ``op`` over the Values ``xs``, its number already computed."""
    v = _new(Value)
    v.data = data
    v.label = None
    v._mark = None
    v._arg = None
    # xs[0] first: in a neuron it is a weight, so the common case costs one test.
    if MODE.grad_enabled and (xs[0].grad is not None or any(x.grad is not None for x in xs)):
        v.grad = 0.0
        v._prev = xs
        v._op = op
    else:
        v.grad = None
        v._prev = ()
        v._op = None
    if MODE.anomaly:
        _check_forward(op, v, xs)
    return v


def _pow(self, other):  # self ** other
    # An exponent that needs no gradient is a number: d/d(exponent) involves log(self),
    # which must not be evaluated (or fail) for self <= 0 when nobody asks for it.
    if other.__class__ is Value:
        if other.grad is not None:
            return _value_pow(self, other)
        other = other.data
    return _constant_pow(self, other)


def _install_operators() -> None:
    """Attach every operator of the op table to Value."""
    for name, op in (("add", ops.ADD), ("sub", ops.SUB), ("mul", ops.MUL),
                     ("truediv", ops.DIV)):
        setattr(Value, f"__{name}__", _binary_method(op))
        setattr(Value, f"__r{name}__", _binary_method(op, reflected=True))
    Value.__rpow__ = _binary_method(ops.POW, reflected=True)
    Value.__pow__ = _pow
    unary = {
        ops.NEG: "-self.", ops.EXP: "e ** self.",
        ops.LOG: "Natural logarithm; ValueError for self <= 0.",
        ops.SQRT: "Square root; ValueError for self < 0.",
        ops.TANH: "Hyperbolic tangent.",
        ops.SIGMOID: "1 / (1 + e ** -self), without overflow for large |self|.",
        ops.RELU: "max(self, 0); derivative 0 at 0, as in PyTorch.",
        ops.ABS: "|self|; derivative sign(self), 0 at 0.",
        ops.SIN: "Sine (radians).", ops.COS: "Cosine (radians).",
    }
    for op, doc in unary.items():
        setattr(Value, op.name, _unary_method(op, doc))
    Value.__neg__ = Value.neg
    Value.__abs__ = Value.abs
    Value.leaky_relu = _parametrised_method(
        ops.LEAKY_RELU, "self if self > 0 else slope * self.", default=0.01
    )


_value_pow = _binary_method(ops.POW)
_constant_pow = _parametrised_method(ops.POWC, "self ** k for a number k.")
_install_operators()


def _check_forward(op: ops.Op, v: Value, inputs: tuple) -> None:
    """Anomaly mode: refuse a NaN from inputs without one, or an infinity from finite
    inputs; remember where the node was created, for backward's report."""
    site = user_site()
    xs = [float(x) for x in inputs]
    if (math.isnan(v.data) and not any(math.isnan(x) for x in xs)) or (
        math.isinf(v.data) and all(math.isfinite(x) for x in xs)
    ):
        shown = ", ".join(repr(x) for x in xs)
        raise FloatingPointError(
            f"anomaly: {op.name}({shown}) produced {v.data!r} in forward, at {site}"
        )
    if v._prev:
        MODE.sites[id(v)] = (v, site)
