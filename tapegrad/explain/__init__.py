"""See backprop happen: the step-by-step record of one forward and backward pass.

``explain(root)`` lists every forward formula with its numbers, then every backward
step: the upstream gradient dL/dnode, each parent's local derivative ∂node/∂parent
(formula and number), the product added to the parent, and the parent's running
total; ``explain(loss, lr=...)`` then takes one gradient-descent step per parameter.
``print()`` shows it as a table, ``save_html(path)`` writes an offline page that steps
through it, and Jupyter displays that page inline.
"""

from __future__ import annotations

import math
from collections import Counter

from ..autograd.value import Value
from .draw import draw_graph, save_graph
from .names import parameter_names
from .record import (
    BackwardStep,
    Contribution,
    ForwardStep,
    Node,
    Step,
    UpdateStep,
    output_after,
    record,
)
from .terms import number


class Explanation:
    """The record of one pass over the graph behind a root Value.

    ``nodes``: every Value, layer by layer (parents before children, the root last);
    ``steps``: the forward steps in that order, then the backward steps, the first of
    which starts the pass with dL/dL = 1, then (given a learning rate) one update step
    per parameter. ``output_after``: the root computed again with the updated
    parameters (None without updates, or where they leave an op's domain, which
    ``outcome`` then names).
    """

    def __init__(
        self,
        nodes: list[Node],
        steps: list[Step],
        output_after: float | None = None,
        outcome: str = "",
    ) -> None:
        self.nodes = nodes
        self.steps = steps
        self.output_after = output_after
        self.outcome = outcome

    @property
    def gradients(self) -> dict[str, float]:
        """The final d(root)/d(leaf) of every leaf that needs one, by name.

        Leaves that share a name (two Values labelled ``w``) are all kept, in the
        order of ``nodes``: the first as ``w``, the next as ``w#2``, ``w#3``, ...,
        skipping a name another leaf has.
        """
        leaves = [(n.name, g) for n in self.nodes if n.op is None and (g := n.grad) is not None]
        taken = {name for name, _ in leaves}
        gradients: dict[str, float] = {}
        for own, g in leaves:
            name, k = own, 1
            # A repeated name gets the first free suffix; another leaf's own name is
            # not free, even before that leaf comes.
            while name in gradients or (k > 1 and name in taken):
                k += 1
                name = f"{own}#{k}"
            gradients[name] = g
        return gradients

    @property
    def updates(self) -> dict[str, float]:
        """Each parameter's value after its update step (empty without ``lr``)."""
        return {self.nodes[s.node].name: s.after for s in self.steps if s.kind == "update"}

    def __str__(self) -> str:
        from .text import render

        return render(self.nodes, self.steps, self.outcome)

    def __repr__(self) -> str:
        counts = Counter(s.kind for s in self.steps)
        backward = counts["backward"] + counts["seed"]
        update = f" and {counts['update']} update" if counts["update"] else ""
        return (
            f"<Explanation of {self.nodes[-1].name}: {len(self.nodes)} Values, "
            f"{counts['forward']} forward{',' if update else ' and'} {backward} backward"
            f"{update} steps>"
        )

    def to_html(self, max_values: int = 500) -> str:
        """The interactive page as one self-contained HTML document (see ``page``)."""
        from .page import html_page

        return html_page(self.nodes, self.steps, max_values=max_values, outcome=self.outcome)

    def save_html(self, path: str, max_values: int = 500) -> str:
        """Write the interactive page to ``path`` and return the path.

        One self-contained file (inline SVG, script and style; nothing fetched). Its
        ids and data attributes are a tested contract: see ``tapegrad.explain.page``.
        """
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_html(max_values=max_values))
        return str(path)

    def _repr_html_(self) -> str:
        from .page import html_frame

        return html_frame(self.to_html())


def _learning_rate(lr: object) -> float | None:
    if lr is None:
        return None
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"explain: lr must be a number, got {type(lr).__name__} {lr!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"explain: lr must be a positive finite number, got {lr!r}")
    return float(lr)


def explain(root: Value, names: object = None, lr: float | None = None) -> Explanation:
    """The step-by-step record of a forward and backward pass through ``root``'s graph.

    ``names`` labels parameters: a model (its ``named_parameters()``), a mapping
    name -> Value, or (name, Value) pairs. ``lr`` adds one gradient-descent step per
    parameter after backward, p ← p - lr * dL/dp, with its numbers, and computes the
    root again with the new values (``output_after``). The graph's ``.grad`` fields
    are neither read nor changed, nor any parameter: the record computes its own
    gradients, from 0, exactly as ``backward()`` would after ``zero_grad()``.
    """
    if not isinstance(root, Value):
        raise TypeError(f"explain: expected a Value, got {type(root).__name__} {root!r}")
    rate = _learning_rate(lr)
    nodes, steps = record(root, parameter_names(names), lr=rate)
    updates = [s for s in steps if isinstance(s, UpdateStep)]
    if not updates:
        return Explanation(nodes, steps)
    name = nodes[-1].name
    try:
        after = output_after(root, updates)
    except (ArithmeticError, ValueError) as error:
        return Explanation(nodes, steps, None, f"{name} with the new parameters: {error}")
    outcome = f"{name} with the new parameters = {number(after)} (was {number(root.data)})"
    return Explanation(nodes, steps, after, outcome)


__all__ = [
    "BackwardStep",
    "Contribution",
    "Explanation",
    "ForwardStep",
    "Node",
    "UpdateStep",
    "draw_graph",
    "explain",
    "save_graph",
]
