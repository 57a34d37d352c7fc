"""The record of one pass: every forward formula, then every chain-rule product, then
(with a learning rate) every parameter's gradient-descent step.

Built from the op table alone: the numbers come from each op's derivative rule on
floats, in the order ``backward()`` applies them (so the totals equal its gradients
bit for bit), and the formulas from the same rules run on ``TERMS``.

Notation: a total derivative, what backward computes, is written ``dL/da``; a local
one, a single op's rule with its other inputs held fixed, ``∂e/∂a``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from ..autograd.engine import backward_failure, topological_order
from ..autograd.mathlib import FLOATS
from ..autograd.ops import Op
from ..autograd.primitive import Primitive
from ..autograd.value import Value
from .names import shown_label
from .terms import TERMS, Term, forward_formula, number


@dataclass(frozen=True)
class Node:
    """One Value of the graph, as the record and the page show it.

    ``op`` is the operation in words (the op's ``words``), None for a leaf;
    ``parents`` are indices into the record's nodes (parents come before children);
    ``roles`` say what each parent is to the op (``a``/``b``, ``w0``/``x0``/``b``),
    and ``ordered`` whether that matters (``a - b``); ``operands`` are the words a
    diagram writes on each parent's edge (``1st``, ``2nd``, ``weight 1``, ``bias``;
    empty where the order does not matter); ``kind`` is ``parameter`` (a leaf that
    gets a gradient), ``data`` (a leaf that does not: an input or a constant) or
    ``intermediate`` (computed); ``grad`` is d(root)/d(this node) from the record,
    None for a Value that needs no gradient (``constant``).
    """

    index: int
    name: str
    label: str | None
    data: float
    op: str | None
    symbol: str
    parents: tuple[int, ...]
    roles: tuple[str, ...]
    ordered: bool
    formula: str
    constant: bool
    grad: float | None
    kind: Literal["parameter", "data", "intermediate"]
    operands: tuple[str, ...]


@dataclass(frozen=True)
class ForwardStep:
    """Node ``node`` computed from its inputs: ``text`` is ``e = a * b = 2 * -3 = -6``
    (every operation and operand written, ``n8 = n7 / 1``)."""

    node: int
    text: str
    kind: Literal["forward"] = "forward"


@dataclass(frozen=True)
class Contribution:
    """One parent's share of a backward step: the chain rule for one edge.

    ``derivative`` is the local derivative as a formula and a number
    (``∂e/∂a = b = -3``), ``local`` its number, ``amount`` = upstream x local
    (``product`` shows it: ``8 * -3 = -24``), ``total`` the parent's gradient after
    adding it.
    """

    parent: int
    role: str
    derivative: str
    local: float
    product: str
    amount: float
    total: float


@dataclass(frozen=True)
class BackwardStep:
    """Node ``node`` passes its gradient ``upstream`` = d(root)/d(node) to its parents:
    ``text`` is ``dL/de = 8``.

    The first backward step (``kind == "seed"``) only starts the pass: dL/dL = 1.
    """

    node: int
    text: str
    upstream: float
    contributions: tuple[Contribution, ...]
    kind: Literal["backward", "seed"] = "backward"


@dataclass(frozen=True)
class UpdateStep:
    """Parameter ``node`` takes one gradient-descent step: ``after`` = ``before`` - ``lr``
    * ``grad``, and ``text`` is ``w ← w - lr * dL/dw = 1 - 0.1 * -2.8 = 1.28``."""

    node: int
    text: str
    lr: float
    grad: float
    before: float
    after: float
    kind: Literal["update"] = "update"


Step = ForwardStep | BackwardStep | UpdateStep


def final_shares(steps: Sequence[Step]) -> dict[int, Contribution]:
    """Each parent's last Contribution: after it, the parent's total is its gradient."""
    last = {}
    for s in steps:
        for c in getattr(s, "contributions", ()):
            last[c.parent] = c
    return last


def local_gradients(op: Op, m, g, out, inputs, arg) -> tuple:
    """The gradient reaching each input of one node of ``op``, as a tuple: the op
    table's rule evaluated in namespace ``m`` (the one place the rules are called)."""
    grads = op.grad(m, g, out, *inputs, arg) if op.has_arg else op.grad(m, g, out, *inputs)
    return tuple(grads)


def values_in_order(root: Value) -> list[Value]:
    """Every Value behind ``root``, parents first, in reading order: each node's
    parents left to right (``w * x + v * x * x`` computes ``w * x`` first). Without
    recursion, so graphs of any depth work."""
    seen = {id(root)}
    order: list[Value] = []
    stack = [(root, 0)]
    while stack:
        v, k = stack[-1]
        if k < len(v.parents):
            stack[-1] = (v, k + 1)
            p = v.parents[k]
            if id(p) not in seen:
                seen.add(id(p))
                stack.append((p, 0))
        else:
            stack.pop()
            order.append(v)
    return order


def in_layer_order(root: Value) -> list[Value]:
    """Every Value behind ``root`` layer by layer: each computed Value one layer past
    its farthest parent (a network's first layer, then its second, ...), each leaf
    just before the layer of its first use (a layer's weights with it), in reading
    order within a layer."""
    order = values_in_order(root)
    depth: dict[int, float] = {}
    first_use: dict[int, float] = {}
    for v in order:
        if v.parents:
            depth[id(v)] = 1 + max(depth[id(p)] for p in v.parents)
            for p in v.parents:
                first_use[id(p)] = min(first_use.get(id(p), depth[id(v)]), depth[id(v)])
        else:
            depth[id(v)] = 0
    return sorted(order, key=lambda v: depth[id(v)] if v.parents else first_use.get(id(v), 1) - 0.5)


def _ordinal(n: int) -> str:
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def operand_words(op: Op, n: int) -> tuple[str, ...]:
    """What a diagram writes on each of ``n`` operand edges of ``op``: ``1st``, ``2nd``
    where the order matters (``a - b``); ``weight 1``, ``input 1``, ..., ``bias`` for a
    weighted sum; nothing (empty strings) where it does not (``a * b``). Words, never
    a letter that a variable could also be called."""
    if op.weighted_sum:
        half = n // 2
        weights = [f"weight {i + 1}" for i in range(half)]
        return (*weights, *[f"input {i + 1}" for i in range(half)], *["bias"] * (n - 2 * half))
    if op.ordered:
        return tuple(_ordinal(k + 1) for k in range(n))
    return ("",) * n


def _names(order: list[Value], root: Value, given: dict[int, str]) -> list[str]:
    """A name per Value: its label, its parameter name, its number for a constant,
    ``out`` for an unlabelled root, else ``n1``, ``n2``, ..."""
    names, count = [], 0
    for v in order:
        if v.label is not None:
            names.append(shown_label(v.label))
        elif id(v) in given:
            names.append(given[id(v)])
        elif not v.requires_grad and not v.parents:
            names.append(number(v.data))
        elif v is root:
            names.append("out")
        else:
            count += 1
            names.append(f"n{count}")
    return names


def symbol(v: Value) -> str:
    """The op's symbol as a diagram shows it, with its fixed number: ``* 2``, ``** 2``."""
    op = v.primitive
    if op is None:
        return ""
    if op.base is not None:
        c = number(cast(float, v.arg))  # a binary op with a number keeps it as arg
        return f"{c} {op.symbol}" if op.constant_at == 0 else f"{op.symbol} {c}"
    if op.has_arg:
        return f"{op.symbol} {number(cast(float, v.arg))}"
    return op.symbol


def _edge_order(op: Op, n: int) -> list[int]:
    """The positions of a node's ``n`` parents in the order backward() adds into them:
    a weighted sum goes pair by pair (w0, x0, w1, x1, ..., b), every other op in order."""
    if not op.weighted_sum:
        return list(range(n))
    half = n // 2
    pairs = [i for k in range(half) for i in (k, half + k)]
    return pairs + list(range(2 * half, n))


def _forward_formula(op: Op, v: Value, inputs: list[Term]) -> Term:
    """``v``'s formula in names and numbers, every operation and operand shown: an op
    whose formula would show none (a sum of one term) is written as a call by its
    words, ``sum(n7)``."""
    formula = forward_formula(op, inputs, v.arg)
    if any(formula.names == t.names for t in inputs):
        names, numbers = ", ".join(t.names for t in inputs), ", ".join(t.numbers for t in inputs)
        return Term(f"{op.words}({names})", f"{op.words}({numbers})")
    return formula


def _kind(v: Value) -> Literal["parameter", "data", "intermediate"]:
    if v.parents:
        return "intermediate"
    return "parameter" if v.requires_grad else "data"


def record(
    root: Value, given_names: dict[int, str], backward: bool = True, lr: float | None = None
) -> tuple[list[Node], list[Step]]:
    """The nodes behind ``root`` and the steps of one forward and (with ``backward``)
    backward pass, then, given a learning rate ``lr``, one gradient-descent step per
    parameter.

    Gradients start at 0 for every node, as after ``zero_grad()``; no ``.grad``
    field of the graph is read or written, and no parameter is changed.
    """
    order = in_layer_order(root)
    index = {id(v): i for i, v in enumerate(order)}
    names = _names(order, root, given_names)
    terms = [Term.named(name, v.data) for name, v in zip(names, order)]
    written = [Term.named(name, v.data, verbatim=True) for name, v in zip(names, order)]
    out_name = names[-1]
    steps: list[Step] = []
    formulas = []
    for i, v in enumerate(order):
        op = v.primitive
        if op is None:
            formulas.append("")
            continue
        formula = _forward_formula(op, v, [written[index[id(p)]] for p in v.parents])
        formulas.append(formula.names)
        steps.append(
            ForwardStep(i, f"{names[i]} = {formula.names} = {formula.numbers} = {number(v.data)}")
        )

    grads: list[float | None] = [None] * len(order)
    if backward and root.requires_grad:
        grads[-1] = 1.0
        steps.append(
            BackwardStep(len(order) - 1, f"d{out_name}/d{out_name} = 1", 1.0, (), kind="seed")
        )
    # Backward in the order backward() takes, so that a Value's running total adds
    # the same floats in the same order and ends bit for bit on its gradient.
    for v in reversed(topological_order(root)):
        i = index[id(v)]
        op = v.primitive
        if op is None or grads[i] is None:
            continue
        g = cast(float, grads[i])  # not None: checked above
        datas = [p.data for p in v.parents]
        try:
            locals_ = local_gradients(op, FLOATS, 1.0, v.data, datas, v.arg)
            amounts = local_gradients(op, FLOATS, g, v.data, datas, v.arg)
        except (ArithmeticError, ValueError) as error:
            raise type(error)(f"explain: {backward_failure(op.name, datas, error)}") from error
        inputs = [terms[index[id(p)]] for p in v.parents]
        try:
            rules = local_gradients(op, TERMS, Term.of(1.0), terms[i], inputs, v.arg)
        except Exception:
            # A user's rule that formulas cannot run (a branch on its input's number, a
            # function of its own) is shown by its numbers alone.
            if not isinstance(op, Primitive):
                raise
            rules = tuple(Term.of(x) for x in locals_)
        roles = op.roles(len(v.parents))
        parts = []
        for k in _edge_order(op, len(v.parents)):
            p = v.parents[k]
            if not p.requires_grad:  # a constant: backward() gives it nothing either
                continue
            j = index[id(p)]
            grads[j] = (0.0 if grads[j] is None else grads[j]) + amounts[k]
            rule = rules[k]
            derivative = f"∂{names[i]}/∂{names[j]} = {rule.names}"
            if rule.numbers != rule.names:
                derivative += f" = {rule.numbers}"
            if rule.numbers != number(locals_[k]):
                derivative += f" = {number(locals_[k])}"
            parts.append(
                Contribution(
                    j,
                    roles[k],
                    derivative,
                    locals_[k],
                    f"{number(g)} * {number(locals_[k])} = {number(amounts[k])}",
                    amounts[k],
                    cast(float, grads[j]),  # just set
                )
            )
        steps.append(BackwardStep(i, f"d{out_name}/d{names[i]} = {number(g)}", g, tuple(parts)))

    if lr is not None:
        for i, v in enumerate(order):
            total = grads[i]
            if v.parents or total is None:
                continue
            after = v.data - lr * total  # as optim.SGD steps
            name = names[i]
            steps.append(
                UpdateStep(
                    i,
                    f"{name} ← {name} - lr * d{out_name}/d{name} = {number(v.data)} - "
                    f"{number(lr)} * {number(total)} = {number(after)}",
                    lr,
                    total,
                    v.data,
                    after,
                )
            )

    nodes = []
    for i, v in enumerate(order):
        op = v.primitive
        nodes.append(
            Node(
                i,
                names[i],
                None if v.label is None else shown_label(v.label),
                v.data,
                None if op is None else op.words,
                symbol(v),
                tuple(index[id(p)] for p in v.parents),
                () if op is None else op.roles(len(v.parents)),
                op is not None and op.ordered,
                formulas[i],
                not v.requires_grad,
                grads[i],
                _kind(v),
                () if op is None else operand_words(op, len(v.parents)),
            )
        )
    return nodes, steps


def output_after(root: Value, updates: Sequence[UpdateStep]) -> float:
    """``root`` computed again with each updated parameter at its new value (the
    graph itself is not changed). Raises the op's own error where a new value leaves
    its domain (``log: input must be > 0, got -1.0``)."""
    order = in_layer_order(root)
    datas = [v.data for v in order]
    for u in updates:
        datas[u.node] = u.after
    index = {id(v): i for i, v in enumerate(order)}
    for i, v in enumerate(order):
        op = v.primitive
        if op is not None:
            xs = [datas[index[id(p)]] for p in v.parents]
            datas[i] = op.forward(FLOATS, *xs, v.arg) if op.has_arg else op.forward(FLOATS, *xs)
    return datas[-1]
