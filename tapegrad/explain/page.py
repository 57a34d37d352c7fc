"""The interactive page: one self-contained HTML file that steps through a record.

Inline SVG laid out by the library (``layout``, ``svg``), the record as JSON, and the
script and style sheet of this package (``page.js``, ``page.css``) written inline:
nothing is fetched, so the page works offline and inside Jupyter. It fits a phone
(the details stack under the graph, a button fits the graph to the width) and is
used from the keyboard (every box takes the focus; Enter shows its history).

Testing contract (tests rely on it; keep it stable):

* buttons with ids ``next``, ``prev``, ``play`` and ``reset`` (also ``to-backward``,
  ``zoom`` and a range input ``speed``), each with an ``aria-label``;
* an element with id ``step`` carrying ``data-index`` (the number of steps applied,
  0 at the start) and ``data-total`` (the number of steps);
* each drawn Value is an element with class ``value``, id ``v<index>``,
  ``data-label`` (its label, when it has one), ``data-value`` (its data) and
  ``data-grad`` (its gradient so far, or the empty string before backward reaches
  it), the numbers as Python's ``repr`` of the float, whatever the boxes show; after
  its update step a parameter also carries ``data-updated`` (its new value);
* each edge is an element with class ``edge``, ``data-from`` and ``data-to`` (node
  indices), drawn with an arrowhead (``marker-end``) and never under a box that is
  not one of its ends;
* the Value the current step is about has class ``current`` and is scrolled into
  view (in the graph's canvas, and in the window below the controls and formula,
  which stay at the top).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from .layout import lay_out, nearest
from .record import Node, Step, final_shares
from .svg import asset, grad_caption, render_svg
from .terms import number


def _payload(nodes: Sequence[Node], steps: Sequence[Step], kept: set[int], outcome: str) -> dict:
    """The record as the script reads it, for the kept nodes only."""
    last = final_shares(steps)
    shown = []
    for s in steps:
        if s.node not in kept:
            continue
        step: dict[str, object] = {"kind": s.kind, "node": s.node, "text": s.text}
        if s.kind == "seed":
            step.update(grad=repr(1.0), gradShort=number(1.0))
        elif s.kind == "backward":
            step["parts"] = [
                {
                    "parent": c.parent,
                    "derivative": c.derivative,
                    "product": c.product,
                    "total": repr(c.total),
                    "totalShort": number(c.total),
                    "final": last[c.parent] is c,
                }
                for c in s.contributions
                if c.parent in kept
            ]
        elif s.kind == "update":
            step.update(value=repr(s.after), short=number(s.after))
        shown.append(step)
    return {
        "root": nodes[-1].name,
        "caption": grad_caption(nodes[-1].name),
        "outcome": outcome,
        "nodes": [
            {
                "id": n.index,
                "name": n.name,
                "op": n.op,
                "kind": n.kind,
                "formula": n.formula,
                "short": number(n.data),
                "leaf": not n.parents,
                "constant": n.constant,
                "parents": [p for p in n.parents if p in kept],
            }
            for n in nodes
            if n.index in kept
        ],
        "steps": shown,
    }


def _notation(nodes: Sequence[Node], steps: Sequence[Step]) -> str:
    """The sentence that tells the two derivatives apart, on names of this graph: the
    edge with the shortest names, the last backward reaches if several."""
    root = escape(nodes[-1].name)
    shares = [(s.node, c.parent) for s in steps for c in getattr(s, "contributions", ())]
    if not shares:
        return ""
    shortest = min(len(nodes[a].name) + len(nodes[b].name) for a, b in shares)
    edge = [e for e in shares if len(nodes[e[0]].name) + len(nodes[e[1]].name) == shortest][-1]
    child, parent = (escape(nodes[i].name) for i in edge)
    return (
        f'<p class="notation"><b>d{root}/d{parent}</b>, the number in the boxes, is a '
        f"<i>total</i> derivative: how much {root} moves when {parent} moves, through "
        f"every path from {parent} to {root}. <b>∂{child}/∂{parent}</b> is a <i>local</i> "
        f"derivative: how {child} alone moves with {parent}, {child}'s other inputs held "
        f"fixed (one operation's rule). Backward multiplies them along each edge, "
        f"d{root}/d{child} × ∂{child}/∂{parent}, and adds the products that reach "
        f"{parent}.</p>"
    )


def html_page(
    nodes: Sequence[Node], steps: Sequence[Step], max_values: int = 500, outcome: str = ""
) -> str:
    """The whole page. Graphs of more than ``max_values`` Values are cut to the
    ``max_values`` nearest the output, with a note saying so. ``outcome`` is shown
    after the last update step (the root with the new parameters)."""
    if max_values < 1:
        raise ValueError(f"explain page: max_values must be at least 1, got {max_values}")
    kept = sorted(nearest(len(nodes) - 1, lambda i: nodes[i].parents, max_values))
    layout = lay_out(nodes, kept)
    payload = _payload(nodes, steps, set(kept), outcome)
    root = escape(nodes[-1].name)
    note = ""
    if len(kept) < len(nodes):
        note = (
            f'<p class="note">This graph has {len(nodes):,} Values: the page shows the '
            f"{len(kept):,} nearest the output {root} and their steps. "
            "print() the explanation for every step.</p>"
        )
    updates = any(s.kind == "update" for s in steps)
    then = (
        " Then each parameter takes one step against its gradient, p ← p - lr × "
        f"d{root}/dp, which is what training repeats."
        if updates
        else ""
    )
    # "<" as \u003c keeps the JSON from closing its script element early.
    data = json.dumps(payload, ensure_ascii=False).replace("<", "\\u003c")
    total = len(payload["steps"])
    caption = escape(grad_caption(nodes[-1].name))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>backprop through {root}, step by step</title>
<style>{asset("page.css")}{asset("graph.css")}</style></head>
<body>
<header><h1>Backprop through <code>{root}</code>, step by step</h1>
<p class="help">Forward computes every Value from its inputs, layer by layer; backward
then sends <b>{caption}</b>, the gradient of {root} with respect to each Value, from
{root} back to the parameters: each Value multiplies its gradient by each parent's
local derivative and adds the product to that parent.{then} A gradient reads — until
backward reaches it.</p>
{note}</header>
<div class="bar">
<nav class="controls" aria-label="step through the passes">
<button id="reset" type="button" aria-label="back to the start" title="back to the start (Home)">|◀</button>
<button id="prev" type="button" aria-label="one step back" title="one step back (←)">◀ back</button>
<button id="play" type="button" aria-label="play" title="play or pause (space)">▶ play</button>
<button id="next" type="button" aria-label="one step forward" title="one step forward (→)">next ▶</button>
<button id="to-backward" type="button" aria-label="skip to the start of backward" title="skip to the start of backward">▶| backward</button>
<button id="zoom" type="button" aria-pressed="false" aria-label="fit the graph to the width" title="fit the graph to the width, or show it full size">fit width</button>
<label>speed <input id="speed" type="range" min="1" max="20" value="3" aria-label="steps per second"></label>
<span id="step" data-index="0" data-total="{total}">step 0 of {total}</span>
</nav>
<section id="formula" aria-label="this step"></section>
</div>
<p id="summary" class="sr-only" aria-live="polite"></p>
<main><div id="canvas">{render_svg(nodes, layout, {}, shown=False)}</div>
<aside id="details" aria-label="the chosen Value"><p class="hint">Click a Value, or Tab to
it and press Enter, to see how it was computed and how its gradient was added up.</p></aside>
</main>
<footer>{_notation(nodes, steps)}
<p class="legend"><span class="key key-parameter">parameter (a leaf that gets a gradient)</span>
<span class="key key-data">data: an input or a constant (no gradient)</span>
<span class="key key-intermediate">intermediate (computed)</span>
<span class="key key-current">this step's Value</span>
<span class="key key-related">its inputs / parents</span></p>
<p class="keys">Keys: → next, ← back, space play, Home start, End end; Tab to a Value and
Enter for its history.</p>
</footer>
<script type="application/json" id="record">{data}</script>
<script>{asset("page.js")}</script>
</body></html>
"""


def html_frame(page: str, height: int = 640) -> str:
    """``page`` inside an iframe, as Jupyter shows it: its ids and script stay apart
    from the notebook's and from other pages in the same notebook."""
    return (
        f'<iframe srcdoc="{escape(page, quote=True)}" style="width: 100%; '
        f'height: {height}px; border: 1px solid #ddd" sandbox="allow-scripts"></iframe>'
    )
