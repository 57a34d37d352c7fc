"""The record as a plain-text table: what ``print(explain(root))`` shows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from .record import BackwardStep, ForwardStep, Node, Step, UpdateStep, final_shares
from .terms import number

_WIDE = 48  # a column wider than this no longer aligns the rest


def _aligned(rows: list[tuple[str, ...]], indent: str) -> list[str]:
    """Rows of cells padded into columns (a cell past ``_WIDE`` just pushes its row)."""
    widths = [min(max(len(r[c]) for r in rows), _WIDE) for c in range(len(rows[0]))]
    return [
        indent + "   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows
    ]


def render(nodes: Sequence[Node], steps: Sequence[Step], outcome: str = "") -> str:
    """The forward formulas layer by layer, then each backward step with its chain-rule
    products and the running total of every gradient ("so far" until the last share
    arrives), then the update steps and ``outcome`` (the root after them)."""
    root = nodes[-1].name
    lines = ["forward: each Value from its inputs, layer by layer"]
    rows: list[tuple[str, ...]] = [
        (f"{n.name} = {number(n.data)}", n.kind) for n in nodes if n.op is None
    ]
    # A forward step computes an op node, which names its op.
    rows += [(s.text, cast(str, nodes[s.node].op)) for s in steps if isinstance(s, ForwardStep)]
    lines += _aligned(rows, "  ")
    backward = [s for s in steps if isinstance(s, BackwardStep)]
    if not backward:
        lines.append(f"backward: {root} requires no gradient")
        return "\n".join(lines)
    last_share = final_shares(backward)
    lines.append(
        f"backward: d{root}/dnode (a total derivative: through every path) from {root} back\n"
        f"  to the parameters; each node passes d{root}/dnode * ∂node/∂parent (a local\n"
        "  derivative: one op's rule, its other inputs held fixed) to each parent."
    )
    for s in backward:
        node = nodes[s.node]
        if s.kind == "seed":
            lines.append(f"  {s.text}   (start)")
            continue
        lines.append(f"  {s.text}   at {node.name} = {node.formula} ({node.op})")
        if not s.contributions:
            lines.append("      (no parent needs a gradient)")
            continue
        rows = []
        for c in s.contributions:
            done = last_share[c.parent] is c
            rows.append(
                (
                    c.derivative,
                    c.product,
                    f"d{root}/d{nodes[c.parent].name} = {number(c.total)}"
                    + ("" if done else " so far"),
                )
            )
        lines += _aligned(rows, "      ")
    updates = [s for s in steps if isinstance(s, UpdateStep)]
    if updates:
        lines.append(
            f"update: each parameter steps against its gradient, p ← p - lr * d{root}/dp,"
            f" lr = {number(updates[0].lr)}"
        )
        lines += [f"  {s.text}" for s in updates]
        lines.append(f"  {outcome}")
    return "\n".join(lines)
