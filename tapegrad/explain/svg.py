"""A laid-out graph as inline SVG: one box per Value (name, op, data, gradient) and an
arrow per edge along its route, with the operand's words (``1st``, ``2nd``) at its head
where the order matters.

Every text is escaped, so any label renders verbatim. The page animates these
elements through their ids and data attributes; the diagram fallback draws them once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from importlib.resources import files

from .layout import MAX_LABELS, Layout, Route
from .record import Node
from .terms import number

# The arrowheads: one for edges, one (orange) for the edges of the current step.
_MARKERS = "".join(
    f'<marker id="{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="{size}" '
    f'markerHeight="{size}" markerUnits="userSpaceOnUse" orient="auto">'
    f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    for name, colour, size in (("tg-arrow", "#888", 8), ("tg-arrow-active", "#e07000", 10))
)
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


def _edge(route: Route) -> str:
    # marker-end draws the arrowhead; the page's style sheet swaps it for an active edge.
    return (
        f'<path class="edge" id="e{route.child}-{route.operand}" data-from="{route.parent}" '
        f'data-to="{route.child}" d="{route.path()}" marker-end="url(#tg-arrow)"/>'
    )


def _operand_label(nodes: Sequence[Node], route: Route) -> str:
    """The operand's words (``1st``, ``weight 1``) just above the edge's arrowhead:
    each edge into a box ends at a point of its own, so labels never overlap."""
    words = nodes[route.child].operands[route.operand]
    x, y = route.end
    return (
        f'<text class="role" data-to="{route.child}" x="{x - 11:.1f}" y="{y - 4:.1f}" '
        f'text-anchor="end">{escape(words)}</text>'
    )


def box_words(node: Node, data: str, grad: str, caption: str) -> str:
    """What a screen reader says for a box (its ``aria-label``): name, kind, op, data and
    gradient, ``e, intermediate (multiply), data -6, dL/d· —``. The page keeps it current."""
    kind = node.kind if node.op is None else f"{node.kind} ({node.op})"
    return f"{node.name}, {kind}, data {data or 'not computed yet'}, {caption} {grad}"


def render_svg(
    nodes: Sequence[Node],
    layout: Layout,
    grads: Mapping[int, str],
    shown: bool,
) -> str:
    """The SVG of the laid-out nodes. ``grads`` maps a node to its ``data-grad``
    (Python's repr of the gradient; missing means not computed yet); ``shown`` says
    whether data and gradients are written in the boxes (the page fills them as it
    steps). Each box is focusable (``tabindex``, ``role``, ``aria-label``)."""
    root = nodes[-1].name
    caption = grad_caption(root)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" '
        f'width="{layout.width:.0f}" height="{layout.height:.0f}" '
        f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}">',
        f'<defs>{_MARKERS}</defs><g class="edges" aria-hidden="true">',
    ]
    parts += [_edge(route) for route in layout.routes]
    labelled = [
        route
        for route in layout.routes
        if nodes[route.child].operands[route.operand]
        and len(nodes[route.child].parents) <= MAX_LABELS
    ]
    parts.append('</g><g class="roles" aria-hidden="true">')
    parts += [_operand_label(nodes, route) for route in labelled]
    parts.append('</g><g class="values">')
    for i, box in layout.boxes.items():
        node = nodes[i]
        kind = node.kind + (" nograd" if node.constant else "")
        grad = grads.get(i, "")
        label = "" if node.label is None else f' data-label="{escape(node.label)}"'
        data_text = number(node.data) if shown or node.op is None else ""
        if node.constant:
            grad_text = "none"
        else:
            grad_text = number(float(grad)) if shown and grad else "—"
        name = _short(node.name, _MAX_NAME if node.symbol else _MAX_LEAF_NAME)
        words = box_words(node, data_text, grad_text, caption)
        parts.append(
            f'<g class="value {kind}" id="v{i}" data-index="{i}" data-name="{escape(node.name)}"'
            f'{label} data-value="{node.data!r}" data-grad="{grad}" '
            f'tabindex="0" role="button" aria-label="{escape(words)}" '
            f'transform="translate({box.x:.1f},{box.y:.1f})">'
            f"<title>{escape(node.name)}{': ' + escape(node.formula) if node.formula else ''}"
            f"</title>"
            f'<rect width="{box.width}" height="{box.height:.0f}" rx="6"/>'
            f'<text class="name" x="8" y="16">{escape(name)}</text>'
            f'<text class="op" x="{box.width - 8}" y="16" text-anchor="end">'
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
