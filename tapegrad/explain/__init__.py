"""See backprop happen: the step-by-step record of one forward and backward pass.

``explain(root)`` lists every forward formula with its numbers, then every backward
step: the upstream gradient d(root)/d(node), each parent's local derivative (formula
and number), the product added to the parent, and the parent's running total.
``print()`` shows it as a table, ``save_html(path)`` writes an offline page that steps
through it, and Jupyter displays that page inline.
"""

from __future__ import annotations

from ..autograd.value import Value
from .draw import draw_graph, save_graph
from .names import parameter_names
from .record import BackwardStep, Contribution, ForwardStep, Node, record


class Explanation:
    """The record of one pass over the graph behind a root Value.

    ``nodes``: every Value (parents before children, the root last); ``steps``: the
    forward steps in topological order, then the backward steps, the first of which
    starts the pass with d root/d root = 1.
    """

    def __init__(self, nodes: list[Node], steps: list[ForwardStep | BackwardStep]) -> None:
        self.nodes = nodes
        self.steps = steps

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

    def __str__(self) -> str:
        from .text import render

        return render(self.nodes, self.steps)

    def __repr__(self) -> str:
        forward = sum(1 for s in self.steps if s.kind == "forward")
        return (
            f"<Explanation of {self.nodes[-1].name}: {len(self.nodes)} Values, "
            f"{forward} forward and {len(self.steps) - forward} backward steps>"
        )

    def to_html(self, max_values: int = 500) -> str:
        """The interactive page as one self-contained HTML document (see ``page``)."""
        from .page import html_page

        return html_page(self.nodes, self.steps, max_values=max_values)

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


def explain(root: Value, names: object = None) -> Explanation:
    """The step-by-step record of a forward and backward pass through ``root``'s graph.

    ``names`` labels parameters: a model (its ``named_parameters()``), a mapping
    name -> Value, or (name, Value) pairs. The graph's ``.grad`` fields are neither
    read nor changed: the record computes its own gradients, from 0, exactly as
    ``backward()`` would after ``zero_grad()``.
    """
    if not isinstance(root, Value):
        raise TypeError(f"explain: expected a Value, got {type(root).__name__} {root!r}")
    nodes, steps = record(root, parameter_names(names))
    return Explanation(nodes, steps)


__all__ = [
    "BackwardStep",
    "Contribution",
    "Explanation",
    "ForwardStep",
    "Node",
    "draw_graph",
    "explain",
    "save_graph",
]
