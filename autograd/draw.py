"""Drawing a graph with Graphviz: one record per Value, one node per operation.

``draw_graph`` returns a ``graphviz.Digraph``, which Jupyter displays inline.
``save_graph`` renders it to a file, or, where Graphviz's ``dot`` program is missing,
writes the DOT source instead and says how to install ``dot``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter, deque

import graphviz

from .value import Value

_NON_COMMUTATIVE = {"sub", "div", "pow"}
_INSTALL_HINT = (
    "Graphviz's 'dot' program is needed to render graphs; install it with "
    "'apt-get install graphviz' (Debian, Ubuntu), 'brew install graphviz' (macOS) "
    "or 'conda install graphviz'"
)


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _op_text(v: Value) -> str:
    """The operation node's text: its symbol, with a fixed number where it has one."""
    op = v._op
    if op.base is not None:  # a binary op with a number on one side
        c = _fmt(v._arg)
        return f"{c} {op.symbol}" if op.constant_at == 0 else f"{op.symbol} {c}"
    if op.has_arg:
        return f"{op.symbol} {_fmt(v._arg)}"
    return op.symbol


def _edge_style(grad: float | None) -> dict[str, str]:
    """Colour and width from log10 |grad|: pale and thin for vanishing gradients,
    dark red and thick for large ones."""
    if grad is None or grad == 0.0 or not math.isfinite(grad):
        return {"color": "#bbbbbb" if grad is not None and math.isfinite(grad) else "#ff00ff",
                "penwidth": "0.6"}
    level = min(max((math.log10(abs(grad)) + 6.0) / 7.0, 0.0), 1.0)  # 1e-6 .. 10
    red = int(120 + 135 * level)
    other = int(200 * (1.0 - level))
    return {"color": f"#{red:02x}{other:02x}{other:02x}", "penwidth": f"{0.6 + 2.4 * level:.2f}"}


def _nearest(root: Value, max_nodes: int) -> tuple[list[Value], dict[Value, int]]:
    """Up to ``max_nodes`` Values nearest the root (breadth first), in topological
    order, and for each drawn node the number of parents left out."""
    kept: dict[Value, None] = {root: None}
    queue = deque([root])
    while queue and len(kept) < max_nodes:
        v = queue.popleft()
        for p in v._prev:
            if p not in kept:
                if len(kept) >= max_nodes:
                    break
                kept[p] = None
                queue.append(p)
    cut = {v: sum(1 for p in v._prev if p not in kept) for v in kept}
    # Order parents before children: creation order is a topological order, and a
    # Value's parents always sort before it in a DFS post-order.
    order: list[Value] = []
    seen: set[Value] = set()
    stack: list = [root]
    while stack:
        v = stack.pop()
        if v.__class__ is tuple:
            order.append(v[0])
            continue
        if v in seen:
            continue
        seen.add(v)
        stack.append((v,))
        stack.extend(p for p in reversed(v._prev) if p in kept and p not in seen)
    return order, {v: n for v, n in cut.items() if n}


def draw_graph(
    root: Value,
    format: str = "svg",
    rankdir: str = "LR",
    color_by_grad: bool = False,
    max_nodes: int = 300,
) -> graphviz.Digraph:
    """The graph behind ``root`` as a Graphviz diagram, data flowing left to right.

    Each Value is a record (label | data | grad), each operation a small node between
    its inputs and its result. ``color_by_grad`` colours each edge by the gradient of
    the Value it leaves, so vanishing or exploding gradients show. Graphs larger than
    ``max_nodes`` Values are cut to the ``max_nodes`` nearest the root; a grey box
    says how many inputs were left out where the cut is.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph: expected a Value, got {type(root).__name__}")
    if format not in ("svg", "png", "pdf"):
        raise ValueError(f"draw_graph: format must be 'svg', 'png' or 'pdf', got {format!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    if max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1, got {max_nodes}")

    order, cut = _nearest(root, max_nodes)
    dot = graphviz.Digraph(format=format, graph_attr={"rankdir": rankdir})
    dot.attr("node", fontname="Helvetica", fontsize="11")
    names = {v: f"v{i}" for i, v in enumerate(order)}
    for v in order:
        name = names[v]
        label = "" if v.label is None else f"{v.label} | "
        style = {} if v.grad is not None else {"style": "dashed"}  # constants
        dot.node(name, f"{{ {label}data {_fmt(v.data)} | grad {_fmt(v.grad)} }}",
                 shape="record", **style)
        if v._op is None:
            continue
        op_name = f"{name}_op"
        dot.node(op_name, _op_text(v), shape="circle", width="0.3", fixedsize="false")
        dot.edge(op_name, name)
        positional = v._op.name in _NON_COMMUTATIVE and v._op.base is None
        for i, p in enumerate(v._prev):
            if p not in names:
                continue
            attrs = _edge_style(p.grad) if color_by_grad else {}
            if positional:
                attrs["label"] = "ab"[i]
            dot.edge(names[p], op_name, **attrs)
        if v in cut:
            hidden = f"{name}_cut"
            dot.node(hidden, f"… {cut[v]} more inputs", shape="box", style="dotted",
                     color="grey", fontcolor="grey")
            dot.edge(hidden, op_name, style="dotted", color="grey")
    if cut:
        counts = Counter(v.op for v in order if v.op)
        summary = ", ".join(f"{n} {name}" for name, n in counts.most_common(6))
        dot.attr(label=f"showing the {len(order)} Values nearest the output ({summary}); "
                 f"raise max_nodes to see more", fontsize="10")
    return dot


def save_graph(graph: graphviz.Digraph, path: str) -> str:
    """Render ``graph`` to ``path`` (the extension picks the format) and return the file.

    Without Graphviz's ``dot`` program, writes the DOT source to ``path`` + '.dot'
    instead, warns how to install ``dot``, and returns that file.
    """
    stem, ext = os.path.splitext(path)
    fmt = ext.lstrip(".") or graph.format
    try:
        return graph.render(filename=stem, format=fmt, cleanup=True)
    except graphviz.ExecutableNotFound:
        source = stem + ".dot"
        with open(source, "w", encoding="utf-8") as f:
            f.write(graph.source)
        warnings.warn(
            f"{_INSTALL_HINT}. The DOT source was written to {source}; render it later "
            f"with: dot -T{fmt} {source} -o {stem}.{fmt}",
            RuntimeWarning,
            stacklevel=2,
        )
        return source
