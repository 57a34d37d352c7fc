"""Drawing a graph with Graphviz: one box per Value, one small node per operation.

``draw_graph`` returns a ``Diagram`` (a ``graphviz.Digraph``), which Jupyter displays
inline; where Graphviz's ``dot`` program is missing, Jupyter gets the library's own
SVG layout instead (the one of the explain page). ``save_graph`` renders to a file,
or, without ``dot``, writes the DOT source and says how to install ``dot``.

Every label is escaped (HTML-like labels), so any string renders verbatim.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from html import escape
from operator import attrgetter

import graphviz

from ..autograd.ops import Op
from ..autograd.value import Value
from .layout import lay_out, nearest
from .names import parameter_names, shown_label
from .record import in_layer_order, operand_words, record, symbol, values_in_order
from .svg import grad_caption, standalone_svg
from .terms import number

_LONG_CHAIN = 12  # Values on the longest path past which the graph runs top to bottom
_INSTALL_HINT = (
    "Graphviz's 'dot' program is needed to render graphs; install it with "
    "'apt-get install graphviz' (Debian, Ubuntu), 'brew install graphviz' (macOS) "
    "or 'conda install graphviz'"
)
# Edge colours of color_by_grad, named in its legend.
_CONSTANT, _ZERO, _NOT_FINITE, _NOT_COMPUTED = "#9e9e9e", "#cfcfcf", "#ff00ff", "#000000"


def _edge_style(grad: float | None, constant: bool = False) -> dict[str, str]:
    """Colour and width from log10 |grad|: pale and thin for vanishing gradients,
    dark red and thick for large ones; constants grey and dashed, NaN/inf magenta;
    a gradient not computed yet (None: no backward reached it) black and dotted."""
    if constant:
        return {"color": _CONSTANT, "style": "dashed", "penwidth": "0.6"}
    if grad is None:
        return {"color": _NOT_COMPUTED, "style": "dotted", "penwidth": "0.6"}
    if not math.isfinite(grad):
        return {"color": _NOT_FINITE, "penwidth": "2.0"}
    if grad == 0.0:
        return {"color": _ZERO, "penwidth": "0.6"}
    level = min(max((math.log10(abs(grad)) + 6.0) / 7.0, 0.0), 1.0)  # 1e-6 .. 10
    return {"color": _level_colour(level), "penwidth": f"{0.6 + 2.4 * level:.2f}"}


def _level_colour(level: float) -> str:
    red = int(120 + 135 * level)
    other = int(200 * (1.0 - level))
    return f"#{red:02x}{other:02x}{other:02x}"


def _legend() -> str:
    """The key to color_by_grad's edges: a scale of |grad| from 1e-6 to 10 (one row
    every factor of 100, each in its colour and width), then the special cases."""
    scale = [(10.0, "≥ 10"), (1.0, "1"), (1e-2, "0.01"), (1e-4, "1e-4"), (1e-6, "≤ 1e-6")]
    rows = []
    for grad, text in scale:
        style = _edge_style(grad)
        rows.append((style["color"], f"|grad| {text}: width {float(style['penwidth']):.1f}"))
    rows += [
        (_ZERO, "grad exactly 0"),
        (_NOT_FINITE, "grad NaN or inf"),
        (_CONSTANT, "constant: no gradient (dashed)"),
        (_NOT_COMPUTED, "grad not computed yet (dotted)"),
    ]
    cells = "".join(
        f'<tr><td bgcolor="{c}" width="24"> </td><td align="left">{t}</td></tr>' for c, t in rows
    )
    return (
        f'<<table border="0" cellborder="0" cellspacing="2"><tr><td colspan="2">'
        f"<b>edge colour and width: |gradient| of the Value it leaves,</b></td></tr>"
        f'<tr><td colspan="2"><b>a log scale: darker, redder and thicker is larger</b>'
        f"</td></tr>{cells}</table>>"
    )


def _value_label(name: str | None, v: Value, caption: str, shown: bool) -> str:
    """A Value's box: its name, data and gradient, escaped."""
    if not v.requires_grad:
        grad = "none (constant)"
    else:  # "—" before a backward pass from the root, or for a gradient not computed
        grad = number(v.grad) if shown and v.grad is not None else "—"
    head = "" if name is None else f"<td><b>{escape(name)}</b></td>"
    return (
        f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="4"><tr>{head}'
        f"<td>data {escape(number(v.data))}</td>"
        f"<td>{escape(caption)} {escape(grad)}</td></tr></table>>"
    )


def _cut(root: Value, max_nodes: int) -> tuple[list[Value], dict[Value, int]]:
    """The Values drawn (see ``nearest``), parents before children, and for each drawn
    node the number of parents left out."""
    kept = nearest(root, attrgetter("parents"), max_nodes)
    order = [v for v in values_in_order(root) if v in kept]
    cut = {v: sum(1 for p in v.parents if p not in kept) for v in kept}
    return order, {v: n for v, n in cut.items() if n}


def _depth(order: list[Value]) -> int:
    """Values on the longest path through ``order`` (parents first)."""
    depth: dict[int, int] = {}
    for v in order:
        depth[id(v)] = 1 + max((depth.get(id(p), 0) for p in v.parents), default=0)
    return max(depth.values())


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` that Jupyter can show without the ``dot`` program: then
    it falls back to the library's own SVG layout of the same graph."""

    def __init__(self, *args, fallback=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._fallback = fallback

    def _repr_image_svg_xml(self) -> str:
        try:
            return super()._repr_image_svg_xml()
        except graphviz.ExecutableNotFound:
            if self._fallback is None:
                raise
            return self._fallback()

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs) -> dict:
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except graphviz.ExecutableNotFound:
            if self._fallback is None:
                raise
            return {"image/svg+xml": self._fallback()}


def _own_svg(root: Value, drawn: list[Value], shown: bool, names: dict[int, str]):
    """The fallback: the ``drawn`` Values laid out by the library (no Graphviz needed)."""

    def draw() -> str:
        nodes, _ = record(root, names, backward=False)
        values, drawn_ids = in_layer_order(root), {id(v) for v in drawn}
        kept = [i for i, v in enumerate(values) if id(v) in drawn_ids]
        grads = {i: repr(values[i].grad) for i in kept if shown and values[i].grad is not None}
        return standalone_svg(nodes, lay_out(nodes, kept), grads)

    return draw


def draw_graph(
    root: Value,
    format: str = "svg",
    rankdir: str | None = None,
    color_by_grad: bool = False,
    max_nodes: int = 300,
    names: object = None,
    expand: bool = False,
) -> Diagram:
    """The graph behind ``root`` as a Graphviz diagram.

    Each Value is a box (name | data | gradient), each operation a small node between
    its inputs and its result. The gradient is written as d root/d· (``dL/d·`` for a
    root labelled L, ``dout/d·`` unlabelled) once ``backward()`` has run from ``root``
    (its grad is then non-zero); before that every gradient reads "—", never 0.
    Edges into an op whose operands are ordered say which operand they are (``1st``,
    ``2nd``); a weighted sum (``Value.dot``) labels its edges ``weight 1``,
    ``input 1``, ..., ``bias``, and with ``expand`` it is drawn as its products and
    their sum. ``names`` labels
    parameters: a model (its ``named_parameters()``), a mapping name -> Value or
    (name, Value) pairs. ``color_by_grad`` colours each edge by the gradient of the
    Value it leaves (vanishing or exploding gradients show), with a legend.
    ``rankdir`` None runs left to right, or top to bottom past a path of 12 Values.
    Graphs larger than ``max_nodes`` Values are cut to the ``max_nodes`` nearest the
    root; a grey box says how many inputs were left out where the cut is.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph: expected a Value, got {type(root).__name__}")
    if format not in ("svg", "png", "pdf"):
        raise ValueError(f"draw_graph: format must be 'svg', 'png' or 'pdf', got {format!r}")
    if rankdir not in (None, "LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_graph: rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    if max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1, got {max_nodes}")
    given = parameter_names(names)

    order, cut = _cut(root, max_nodes)
    if rankdir is None:
        rankdir = "TB" if _depth(order) > _LONG_CHAIN else "LR"
    shown = root.grad is not None and root.grad != 0.0
    root_name = shown_label(root.label) if root.label is not None else given.get(id(root), "out")
    caption = grad_caption(root_name)
    dot = Diagram(
        format=format,
        graph_attr={"rankdir": rankdir},
        fallback=_own_svg(root, order, shown, given),
    )
    dot.attr("node", fontname="Helvetica", fontsize="11")
    dot.attr("edge", fontname="Helvetica", fontsize="10", fontcolor="#8a4b00")
    ids = {v: f"v{i}" for i, v in enumerate(order)}
    for v in order:
        name = ids[v]
        label = shown_label(v.label) if v.label is not None else given.get(id(v))
        style = {} if v.requires_grad else {"color": _CONSTANT, "fontcolor": "#666666"}
        dot.node(name, _value_label(label, v, caption, shown), shape="plain", **style)
        op = v.primitive
        if op is None:
            continue
        op_name = f"{name}_op"
        dot.node(op_name, symbol(v), shape="circle", width="0.3", fixedsize="false")
        dot.edge(op_name, name)
        _inputs(dot, v, op, ids, op_name, color_by_grad, expand)
        if v in cut:
            hidden = f"{name}_cut"
            dot.node(
                hidden,
                f"… {cut[v]} more inputs",
                shape="box",
                style="dotted",
                color="grey",
                fontcolor="grey",
            )
            dot.edge(hidden, op_name, style="dotted", color="grey")
    if color_by_grad:
        dot.node("legend", _legend(), shape="plain")
    if cut:
        counts = Counter(v.op for v in order if v.op)
        summary = ", ".join(f"{n} {name}" for name, n in counts.most_common(6))
        dot.attr(
            label=f"showing the {len(order)} Values nearest the output ({summary}); "
            f"raise max_nodes to see more",
            fontsize="10",
        )
    return dot


def _inputs(
    dot: Diagram, v: Value, op: Op, ids: dict, op_name: str, color_by_grad: bool, expand: bool
) -> None:
    """The edges from ``v``'s parents into its op node (``op``'s, through the products
    of a weighted sum when ``expand``)."""
    parents = v.parents
    words = operand_words(op, len(parents))
    if expand and op.weighted_sum:
        dot.node(op_name, "+", shape="circle", width="0.3")
        n = len(parents) // 2
        for i in range(n):
            w, x = parents[i], parents[n + i]
            product = f"{op_name}_p{i}"
            dot.node(
                product,
                f"{words[i]} × {words[n + i]} = {number(w.data * x.data)}",
                shape="box",
                style="rounded",
                fontsize="10",
            )
            for p, role in ((w, words[i]), (x, words[n + i])):
                if p in ids:
                    attrs = _edge_style(p.grad, not p.requires_grad) if color_by_grad else {}
                    dot.edge(ids[p], product, label=role, **attrs)
            dot.edge(product, op_name)
        parents, words = parents[2 * n :], words[2 * n :]  # the bias, if any
    for p, role in zip(parents, words):
        if p not in ids:
            continue
        attrs = _edge_style(p.grad, not p.requires_grad) if color_by_grad else {}
        if role:
            attrs["label"] = role
        dot.edge(ids[p], op_name, **attrs)


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
