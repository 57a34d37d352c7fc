"""A laid-out graph as inline SVG: one box per Value (name, op, data, gradient) and a
curve per edge, with the role of each input written on it where the order matters.

Every text is escaped, so any label renders verbatim. The page animates these
elements through their ids and data attributes; the diagram fallback draws them once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from importlib.resources import files

from .layout import BOX_HEIGHT, BOX_WIDTH, Layout
from .record import Node
from .terms import number

_MAX_ROLES = 13  # inputs of an ordered op whose roles still fit on their edges
_MAX_CAPTION_ROOT = 6  # characters of a root's name that fit in the caption dL/d·
_MAX_NAME = 13  # characters of a name that fit in a box beside its op
_MAX_LEAF_NAME = 17  # and in a box without one


def asset(name: str) -> str:
    """A text file shipped with this package (the page's script and styles)."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def grad_caption(root: str) -> str:
    """What a box's gradient line is: ``dL/d·`` for a root named L, ``grad`` for a
    root whose name would not fit (every drawing captions gradients this way)."""
    return f"d{root}/d·" if len(root) <= _MAX_CAPTION_ROOT else "grad"


def _short(text: str, room: int) -> str:
    """A name that fits in ``room`` characters; a dotted parameter name keeps its end
    (``…1.neurons.3.w.2``), where the parts that tell parameters apart are."""
    if len(text) <= room:
        return text
    if "." in text:
        return "…" + text[-(room - 1) :]
    return text[: room - 1] + "…"


def _edge(nodes: Sequence[Node], layout: Layout, child: int, k: int) -> str:
    node, parent = nodes[child], nodes[child].parents[k]
    px, py = layout.boxes[parent]
    cx, cy = layout.boxes[child]
    x1, y1 = px + BOX_WIDTH, py + BOX_HEIGHT / 2
    # Spread a box's inputs along its left side.
    n = len(node.parents)
    x2, y2 = cx, cy + BOX_HEIGHT * (k + 1) / (n + 1)
    bend = max(abs(x2 - x1) / 2, 30)
    c1, c2 = (x1 + bend, y1), (x2 - bend, y2)
    path = (
        f'<path class="edge" id="e{child}-{k}" data-from="{parent}" data-to="{child}" '
        f'd="M{x1:.1f},{y1:.1f} C{c1[0]:.1f},{c1[1]:.1f} {c2[0]:.1f},{c2[1]:.1f} '
        f'{x2:.1f},{y2:.1f}"/>'
    )
    if node.ordered and n <= _MAX_ROLES:
        # The role on the curve near its start: edges into one box converge at its
        # side, but leave from different boxes.
        t = 0.3
        lx, ly = (
            sum(w * p for w, p in zip(_bezier_weights(t), (x1, c1[0], c2[0], x2))),
            sum(w * p for w, p in zip(_bezier_weights(t), (y1, c1[1], c2[1], y2))),
        )
        path += (
            f'<text class="role" x="{lx:.1f}" y="{ly - 3:.1f}" '
            f'text-anchor="middle">{escape(node.roles[k])}</text>'
        )
    return path


def _bezier_weights(t: float) -> tuple[float, float, float, float]:
    """Weights of a cubic Bezier curve's four points at parameter ``t``."""
    u = 1.0 - t
    return u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t


def render_svg(
    nodes: Sequence[Node],
    layout: Layout,
    grads: Mapping[int, str],
    shown: bool,
) -> str:
    """The SVG of the laid-out nodes. ``grads`` maps a node to its ``data-grad``
    (Python's repr of the gradient; missing means not computed yet); ``shown`` says
    whether data and gradients are written in the boxes (the page fills them as it
    steps)."""
    root = nodes[-1].name
    caption = grad_caption(root)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" '
        f'width="{layout.width:.0f}" height="{layout.height:.0f}" '
        f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}">',
        '<g class="edges">',
    ]
    for i in layout.boxes:
        for k, p in enumerate(nodes[i].parents):
            if p in layout.boxes:
                parts.append(_edge(nodes, layout, i, k))
    parts.append('</g><g class="values">')
    for i, (x, y) in layout.boxes.items():
        node = nodes[i]
        kind = "constant" if node.constant else ("input" if node.op is None else "computed")
        grad = grads.get(i, "")
        label = "" if node.label is None else f' data-label="{escape(node.label)}"'
        data_text = number(node.data) if shown or node.op is None else ""
        if node.constant:
            grad_text = "none"
        else:
            grad_text = number(float(grad)) if shown and grad else "—"
        name = _short(node.name, _MAX_NAME if node.symbol else _MAX_LEAF_NAME)
        parts.append(
            f'<g class="value {kind}" id="v{i}" data-index="{i}" data-name="{escape(node.name)}"'
            f'{label} data-value="{node.data!r}" data-grad="{grad}" '
            f'transform="translate({x:.1f},{y:.1f})">'
            f"<title>{escape(node.name)}{': ' + escape(node.formula) if node.formula else ''}"
            f"</title>"
            f'<rect width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="6"/>'
            f'<text class="name" x="8" y="16">{escape(name)}</text>'
            f'<text class="op" x="{BOX_WIDTH - 8}" y="16" text-anchor="end">'
            f"{escape(node.symbol)}</text>"
            f'<text class="data" x="8" y="32">data <tspan class="num">{data_text}</tspan></text>'
            f'<text class="grad" x="8" y="47">{escape(caption)} '
            f'<tspan class="num">{grad_text}</tspan></text></g>'
        )
    parts.append("</g></svg>")
    return "".join(parts)


def standalone_svg(nodes: Sequence[Node], layout: Layout, grads: Mapping[int, str]) -> str:
    """The finished graph as an SVG document that carries its own style (for
    Jupyter, where no page is around it): data and gradients written in the boxes."""
    svg = render_svg(nodes, layout, grads, shown=True)
    head = svg.index(">") + 1
    return f"{svg[:head]}<style>{asset('graph.css')}</style>{svg[head:]}"
