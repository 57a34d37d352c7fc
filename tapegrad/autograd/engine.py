"""Reverse-mode differentiation: topological order, backward, and ``grad``.

The order is computed without recursion, so graphs millions of nodes deep work with
Python's default recursion limit. First-order backward calls one float accumulator
per node (built from the op table); ``grad(..., create_graph=True)`` evaluates the
same rules on Values, so the gradients it returns can be differentiated again. This
module sits above ``value``; ``Value.backward`` imports it when called (value.py says
why that one import points up).

A pass that raises changes no ``.grad``: the derivative rules that can raise where
their forward is defined (``Op.fallible``: sqrt's, a power's, a user's primitive's)
are evaluated at their nodes before the pass writes anything. That check costs
nothing in a process that never made such a node (``value._fallible``), and about
20 ns a node (a few percent of a pass) once one was made; saving every reached
gradient instead, to put it back, cost 7% on the dense benchmark.

Threads: every thread may build graphs and differentiate them, also graphs that share
nodes. A traversal marks the nodes it visits and backward writes their gradients, so
passes (``backward``, ``grad``, ``topological_order``) take one process-wide lock and
run one at a time; two threads differentiating the same graph get what two calls one
after the other give. Taking turns only where graphs share a node would need each
visit to claim its node atomically, which Python offers only through a lock or a
dictionary, at several times the cost of the visit. The one lock costs 0.1-0.3 µs
a pass (2-4% of the backward of a single product) and, with the GIL, nothing else:
two threads on graphs of their own take as long with it as without it
(``benchmarks/threads.py``). On Python without the GIL their passes could run side
by side; with the lock they take turns.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Iterable, Sequence
from typing import Any, cast

from . import value as _value
from .mathlib import FLOATS, VALUES
from .mode import MODE, enable_grad
from .ops import Op
from .value import Value

_PASS = threading.RLock()  # held by every traversal; re-entrant for nested passes


class _Mark:
    """A fresh object per traversal: a node is visited when its mark *is* this one."""

    __slots__ = ()


def topological_order(roots: Value | Sequence[Value]) -> list[Value]:
    """Every non-leaf node behind ``roots``, each one after all of its parents.

    Depth-first, with an explicit stack. Visited nodes are marked in their own
    ``_mark`` slot rather than kept in a set: no hashing, no allocation per node. A
    traversal owns the marks while it runs, so traversals take turns (see the module
    docstring).
    """
    with _PASS:
        return _order(roots, reset_grads=False, check=None)


def _order(roots: Value | Sequence[Value], reset_grads: bool, check: str | None) -> list[Value]:
    """``topological_order``; with ``reset_grads``, each node's grad is also set to 0
    as it is emitted, while the node is in the cache, instead of in a second pass; with
    ``check`` (the caller's name), a graph whose numbers changed after it was built is
    refused (see ``check_versions``)."""
    if isinstance(roots, Value):
        roots = (roots,)
    # A node stamped with the clock's reading now has seen no assignment since it was
    # made, so neither it nor its parents changed: one comparison per node.
    latest = _value._clock
    opened, closed = _Mark(), _Mark()
    order: list[Value] = []
    emit = order.append
    stack = [r for r in roots if r._prev]
    push, pop = stack.append, stack.pop
    while stack:
        v = pop()
        mark = v._mark
        if mark is opened:  # back to v: all of its parents are emitted
            v._mark = closed
            if reset_grads:
                v.grad = 0.0
            emit(v)
        elif mark is not closed:  # first visit (a closed one was pushed twice: skip it)
            if check and v._version != latest:
                check_versions(v, check)
            v._mark = opened
            push(v)  # to come back to once its parents are done
            for p in v._prev:
                # A node has an op exactly when it has parents: the cheaper test.
                if p._op is not None and p._mark is not closed:
                    push(p)
    return order


def backward(
    outputs: Value | Sequence[Value],
    gradient: float | Sequence[float] | None = None,
) -> None:
    """Accumulate sum_k gradient_k * d(outputs_k)/d(node) into ``.grad`` of every node
    behind ``outputs`` (one Value, or several as ``torch.autograd.backward`` takes).

    ``gradient`` is one real number per output (default 1 each). A leaf that requires
    grad and that the pass reaches gets a float ``.grad`` (it was None before its
    first pass); leaves accumulate across calls (call ``zero_grad`` between steps, as
    in PyTorch); intermediate nodes hold the gradient of this call only, for
    inspection.
    """
    roots = _outputs(outputs, "backward")
    seeds = [float(s) for s in _seeds(gradient, len(roots), "backward", "gradients")]
    for root in roots:
        if not root._requires_grad:
            raise RuntimeError(
                f"backward: this Value requires no gradient ({root!r}: a constant, or "
                "computed under no_grad()), so there is nothing to differentiate"
            )
    with _PASS:
        _backward(roots, seeds)


def _backward(roots: list[Value], seeds: list[float]) -> None:
    """The pass; one that raises changes no ``.grad`` (see ``_check_fallible``)."""
    if MODE.anomaly:
        _backward_anomaly(roots, seeds)
        return
    # Without a fallible node in the process only an interrupt can stop the pass
    # (the op table's other rules are total on floats): grads are reset as the order
    # is made. With one, the check comes first, then the reset.
    fallible = _value._fallible
    order = _order(roots, reset_grads=not fallible, check="backward")
    if fallible:
        _check_fallible(order)
        for node in order:
            node.grad = 0.0
    for root, seed in zip(roots, seeds):  # _seed, written out: every pass runs it
        root.grad = seed if root.grad is None else root.grad + seed
    v = None
    try:
        for v in reversed(order):
            # A node in the order was computed: it has an op and a float grad.
            v._op.accumulate(v, v.grad)  # type: ignore[union-attr, arg-type]
    except (ArithmeticError, ValueError) as error:
        # Only accumulate raises these, so v is the node it was called for.
        raise type(error)(_describe_failure(cast(Value, v), error)) from error


def _seed(roots: list[Value], seeds: list[float]) -> None:
    for root, seed in zip(roots, seeds):
        # A computed root's grad was just reset to 0; a leaf's may still be None.
        root.grad = seed if root.grad is None else root.grad + seed


def _check_fallible(order: list[Value]) -> None:
    """Raise, before backward writes any gradient, the error its pass would raise
    half way: the rule of a fallible node (``Op.fallible``) evaluated at its point.

    Whether such a rule raises does not depend on the upstream gradient (0 / 0 and
    0 ** -0.5 raise whatever multiplies them), so a gradient of 1 finds the node the
    pass would fail at. Other nodes are not evaluated: a graph without fallible
    nodes costs one read per node.
    """
    for v in reversed(order):  # the pass's order: the same node fails first
        op: Op = v._op  # type: ignore[assignment]  # a node in the order was computed by one
        if not op.fallible:
            continue
        inputs = [p._data for p in v._prev]
        try:
            if op.has_arg:
                op.grad(FLOATS, 1.0, v._data, *inputs, v._arg)
            else:
                op.grad(FLOATS, 1.0, v._data, *inputs)
        except (ArithmeticError, ValueError) as error:
            raise type(error)(_describe_failure(v, error)) from error


def _backward_anomaly(roots: list[Value], seeds: list[float]) -> None:
    """The pass inside ``detect_anomaly()``, which stops at the first non-finite
    gradient: every gradient it reaches is saved first and put back if it stops (or
    anything else interrupts it), so that it changes nothing then either."""
    order = _order(roots, reset_grads=False, check="backward")
    reached = dict.fromkeys(roots)
    for v in order:
        reached[v] = None
        reached.update(dict.fromkeys(v._prev))
    saved = [(v, v.grad) for v in reached]
    try:
        for v in order:
            v.grad = 0.0
        _seed(roots, seeds)
        _backward_checked(order, roots)
    except BaseException:
        for v, g in saved:
            v.grad = g
        raise


def check_versions(v: Value, where: str) -> None:
    """Refuse ``v`` if its number or a parent's was assigned after ``v`` was computed:
    differentiating it would mix old and new numbers. ``where`` names the caller."""
    stamp = v._version
    if stamp < 0:
        raise RuntimeError(
            f"{where}: the data of {v!r}, the result of {v.op}, was assigned after it "
            "was computed; compute the graph again instead"
        )
    for p in v._prev:
        if abs(p._version) > stamp:
            raise RuntimeError(
                f"{where}: {p!r} was changed (its data assigned) after {v.op} used it, "
                "so the graph would mix old and new numbers; compute the graph again "
                "after changing data (for example, call opt.step() after "
                "loss.backward(), not before)"
            )


def _outputs(values: Value | Sequence[Value], where: str) -> list[Value]:
    """One Value or an iterable of Values as a list; a TypeError naming ``where`` else."""
    if isinstance(values, Value):
        return [values]
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(
            f"{where}: expected a Value or a sequence of Values, got "
            f"{type(values).__name__} {values!r}"
        )
    values = _listed(values, where, "a Value or a sequence of Values")
    for x in values:
        if not isinstance(x, Value):
            raise TypeError(f"{where}: expected Values, got {type(x).__name__} {x!r}")
    return values


def _listed(values: Iterable, where: str, expected: str) -> list:
    """``list(values)``; a TypeError naming ``where`` for what cannot be iterated
    (a 0-d NumPy array claims to be iterable, then refuses)."""
    try:
        return list(values)
    except TypeError:
        raise TypeError(
            f"{where}: expected {expected}, got {type(values).__name__} {values!r}"
        ) from None


def _seeds(
    gradient: float | Value | Sequence[float | Value] | None, n: int, where: str, name: str
) -> list[float | Value]:
    """The gradients that start a backward pass, one per output: 1 each by default.

    Each is a real number of any type (int, float, NumPy scalar) or a Value; a string
    is refused, never parsed.
    """
    if gradient is None:
        return [1.0] * n
    seeds: list[Any]  # what the caller gave, each checked below
    if isinstance(gradient, (numbers.Real, Value)):
        seeds = [gradient]
    elif isinstance(gradient, (str, bytes)) or not isinstance(gradient, Iterable):
        seeds = [gradient]  # refused below, with its type
    else:
        seeds = _listed(gradient, where, "a real number or a sequence of them")
    for s in seeds:
        if not isinstance(s, (numbers.Real, Value)):
            raise TypeError(
                f"{where}: a gradient must be a real number or a Value, got "
                f"{type(s).__name__} {s!r}"
            )
        if not isinstance(s, Value):
            try:
                float(s)
            except OverflowError:
                raise OverflowError(
                    f"{where}: the gradient {s!r} is too large for a float"
                ) from None
    if len(seeds) != n:
        raise ValueError(f"{where}: {n} outputs but {len(seeds)} {name}")
    return seeds


def _call(v: Value) -> str:
    """``v``'s op applied to its inputs' numbers, as an error message shows it."""
    inputs = ", ".join(repr(p._data) for p in v._prev)
    return f"{v.op}({inputs})"


def backward_failure(op: str | None, inputs: Iterable[float], error: Exception) -> str:
    """What a backward pass says when the derivative rule of ``op`` (a name, as
    ``Value.op``) raises at ``inputs``: ``backward through sqrt(0.0) failed: float
    division by zero``, in eager mode, in compiled mode and in explain alike."""
    return f"backward through {op}({', '.join(map(repr, inputs))}) failed: {error}"


def _describe_failure(v: Value, error: Exception) -> str:
    return backward_failure(v.op, [p.data for p in v.parents], error)


def _backward_checked(order: list[Value], roots: list[Value]) -> None:
    """Backward that stops at the first non-finite gradient and names the node, its
    inputs and the line of user code that created it."""
    for root in roots:
        if not math.isfinite(root.grad):  # type: ignore[arg-type]  # set by _backward
            raise FloatingPointError(f"anomaly: backward started with gradient {root.grad!r}")
    for v in reversed(order):
        site = getattr(v, "_site", "<created outside detect_anomaly()>")
        try:
            # A node in the order was computed: it has an op and a float grad.
            v._op.accumulate(v, v.grad)  # type: ignore[union-attr, arg-type]
        except (ArithmeticError, ValueError) as error:
            raise FloatingPointError(
                f"anomaly: {_describe_failure(v, error)}; the node was created at {site}"
            ) from error
        for p in v._prev:
            if p.grad is not None and not math.isfinite(p.grad):
                raise FloatingPointError(
                    f"anomaly: backward through {_call(v)} produced gradient "
                    f"{p.grad!r}; the node was created at {site}"
                )


def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: float | Sequence[float | Value] | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, leaving ``.grad`` untouched.

    Returns one entry per input: floats, or Values that record their own graph when
    ``create_graph`` is true (so derivatives of any order can be taken), also inside
    ``no_grad()``. With several outputs, their gradients weighted by ``grad_outputs``
    (default 1 each) are summed.

    An input the outputs do not depend on (or one that requires no gradient) is a
    RuntimeError naming it, as in PyTorch, unless ``allow_unused`` is true: its entry is
    then None, or 0 with ``materialize_grads`` (which implies ``allow_unused``).
    """
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "grad: materialize_grads=True gives unused inputs a gradient of 0, so "
            "allow_unused must be True or left out, got allow_unused=False"
        )
    outs = _outputs(outputs, "grad")
    ins = _outputs(inputs, "grad")
    seeds = _seeds(grad_outputs, len(outs), "grad", "grad_outputs")
    for y in outs:
        if not y._requires_grad:
            raise RuntimeError(
                f"grad: output {y!r} requires no gradient (a constant, or computed under no_grad())"
            )

    if not create_graph:
        with _PASS:
            found = _grad(outs, seeds, create_graph)
    else:
        # The gradients are a graph even inside no_grad(), as torch.autograd.grad
        # records them whenever create_graph is true.
        with enable_grad(), _PASS:
            found = _grad(outs, seeds, create_graph)
    if materialize_grads:
        zero = Value(0.0, requires_grad=False) if create_graph else 0.0
        return tuple(found.get(x, zero) for x in ins)
    if not allow_unused:
        for i, x in enumerate(ins):
            if x not in found:
                _unused(i, x)
    return tuple(found.get(x) for x in ins)


def _unused(i: int, x: Value) -> None:
    """Refuse input ``i``, which no output depends on (or which requires no gradient)."""
    why = (
        "does not appear in the graph of the outputs"
        if x._requires_grad
        else "requires no gradient"
    )
    raise RuntimeError(
        f"grad: input {i} ({x!r}) {why}, so it has no gradient; pass "
        "allow_unused=True to get None for it (or materialize_grads=True for 0)"
    )


def _grad(outs: list[Value], seeds: list, create_graph: bool) -> dict[Value, Any]:
    """The gradient of every node that requires grad behind ``outs`` (them included)."""
    m = VALUES if create_graph else FLOATS
    lift = (
        (lambda s: s if isinstance(s, Value) else Value(s, requires_grad=False))
        if create_graph
        else float
    )
    grads: dict[Value, Value | float] = {}
    for y, s in zip(outs, seeds):
        grads[y] = grads[y] + lift(s) if y in grads else lift(s)
    for v in reversed(_order(outs, reset_grads=False, check="grad")):
        g = grads.get(v)
        if g is None:
            continue
        op: Op = v._op  # type: ignore[assignment]  # a node in the order was computed by one
        args = v._prev if create_graph else [p._data for p in v._prev]
        out = v if create_graph else v._data
        if op.has_arg:
            local = op.grad(m, g, out, *args, v._arg)
        else:
            local = op.grad(m, g, out, *args)
        for p, gp in zip(v._prev, local):
            if p._requires_grad:
                grads[p] = grads[p] + gp if p in grads else gp
    return grads
