"""The interactive page: one self-contained HTML file that steps through a record.

Inline SVG laid out by the library (``layout``, ``svg``), the record as JSON, and the
script and style sheet of this package (``page.js``, ``page.css``) written inline:
nothing is fetched, so the page works offline and inside Jupyter.

Testing contract (tests rely on it; keep it stable):

* buttons with ids ``next``, ``prev``, ``play`` and ``reset`` (also ``to-backward``,
  and a range input ``speed``);
* an element with id ``step`` carrying ``data-index`` (the number of steps applied,
  0 at the start) and ``data-total`` (the number of steps);
* each drawn Value is an element with class ``value``, ``data-label`` (its label,
  when it has one), ``data-value`` (its data) and ``data-grad`` (its gradient so
  far, or the empty string before backward reaches it), the numbers as Python's
  ``repr`` of the float, whatever the boxes show.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from .layout import lay_out, nearest
from .record import Node, Step, final_shares
from .svg import asset, grad_caption, render_svg
from .terms import number


def _payload(nodes: Sequence[Node], steps: Sequence[Step], kept: set[int]) -> dict:
    """The record as the script reads it, for the kept nodes only."""
    last = final_shares(steps)
    shown = []
    for _k, s in enumerate(steps):
        if s.node not in kept:
            continue
        step: dict[str, object] = {"kind": s.kind, "node": s.node, "text": s.text}
        if s.kind == "seed":
            step.update(grad=repr(1.0), gradShort=number(1.0))
        elif s.kind == "backward":
            step["parts"] = [
                {
                    "parent": c.parent,
                    "role": c.role,
                    "derivative": c.derivative,
                    "product": c.product,
                    "total": repr(c.total),
                    "totalShort": number(c.total),
                    "final": last[c.parent] is c,
                }
                for c in s.contributions
                if c.parent in kept
            ]
        shown.append(step)
    return {
        "root": nodes[-1].name,
        "nodes": [
            {
                "id": n.index,
                "name": n.name,
                "op": n.op,
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


def html_page(nodes: Sequence[Node], steps: Sequence[Step], max_values: int = 500) -> str:
    """The whole page. Graphs of more than ``max_values`` Values are cut to the
    ``max_values`` nearest the output, with a note saying so."""
    if max_values < 1:
        raise ValueError(f"explain page: max_values must be at least 1, got {max_values}")
    kept = sorted(nearest(len(nodes) - 1, lambda i: nodes[i].parents, max_values))
    layout = lay_out(nodes, kept)
    payload = _payload(nodes, steps, set(kept))
    root = nodes[-1].name
    note = ""
    if len(kept) < len(nodes):
        note = (
            f'<p class="note">This graph has {len(nodes):,} Values: the page shows the '
            f"{len(kept):,} nearest the output {escape(root)} and their steps. "
            "print() the explanation for every step.</p>"
        )
    # "<" as \u003c keeps the JSON from closing its script element early.
    data = json.dumps(payload, ensure_ascii=False).replace("<", "\\u003c")
    total = len(payload["steps"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>backprop through {escape(root)}, step by step</title>
<style>{asset("page.css")}{asset("graph.css")}</style></head>
<body>
<header><h1>Backprop through <code>{escape(root)}</code>, step by step</h1>
<p class="help">Forward computes every Value from its inputs; backward then sends
<b>{escape(grad_caption(root))}</b> (the derivative of {escape(root)} with respect to each
Value) from {escape(root)} back to the inputs: each node multiplies its gradient by
each parent's local derivative and adds the product to that parent. A gradient is
shown as — until backward reaches it. Click a Value for its history; keys: ← → space.</p>
{note}</header>
<nav class="controls">
<button id="reset" type="button" title="back to the start (Home)">|◀ reset</button>
<button id="prev" type="button" title="one step back (←)">◀ back</button>
<button id="play" type="button" title="play or pause (space)">▶ play</button>
<button id="next" type="button" title="one step forward (→)">next ▶</button>
<button id="to-backward" type="button" title="skip to the start of backward">▶| to
backward</button>
<label>speed <input id="speed" type="range" min="1" max="20" value="3"> steps/s</label>
<span id="step" data-index="0" data-total="{total}">step 0 of {total}</span>
</nav>
<section id="formula" aria-live="polite"></section>
<main><div id="canvas">{render_svg(nodes, layout, {}, shown=False)}</div>
<aside id="details"><p class="hint">Click a Value to see how it was computed and how its
gradient was added up.</p></aside></main>
<footer class="legend"><span class="key input">input</span>
<span class="key computed">computed</span><span class="key constant">constant (no gradient)</span>
<span class="key current">this step's node</span>
<span class="key related">its inputs / parents</span>
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
