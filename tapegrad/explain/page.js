// Steps through the record embedded in the page (script#record). The state after
// `index` steps is recomputed from the start on every move, so going back is exact.
(function () {
  "use strict";
  const record = JSON.parse(document.getElementById("record").textContent);
  const steps = record.steps;
  const nodes = new Map(record.nodes.map((n) => [n.id, n]));
  const boxes = new Map(record.nodes.map((n) => [n.id, document.getElementById("v" + n.id)]));
  // Each box's number fields and what they show now: only changes touch the page.
  const fields = new Map(Array.from(boxes, ([id, box]) => [id, {
    data: box.querySelector(".data .num"), grad: box.querySelector(".grad .num"),
    shown: null }]));
  const stepEl = document.getElementById("step");
  const formula = document.getElementById("formula");
  const summary = document.getElementById("summary");
  const details = document.getElementById("details");
  const canvas = document.getElementById("canvas");
  const bar = document.querySelector(".bar");
  const svg = canvas.querySelector("svg");
  const playButton = document.getElementById("play");
  const zoomButton = document.getElementById("zoom");
  const speed = document.getElementById("speed");
  const forwardCount = steps.filter((s) => s.kind === "forward").length;
  const parameters = record.nodes.filter((n) => n.kind === "parameter").map((n) => boxes.get(n.id));
  const naturalWidth = svg.width.baseVal.value;
  let index = 0;
  let timer = null;
  let selected = null;
  let fit = null; // null: fit the width when the graph stays readable; else the user's choice

  function stateAt(upto) {
    const computed = new Set(record.nodes.filter((n) => n.leaf).map((n) => n.id));
    const grad = new Map();
    const history = new Map();
    const updated = new Map();
    const add = (id, entry, total, short) => {
      grad.set(id, [total, short]);
      if (!history.has(id)) history.set(id, []);
      history.get(id).push(entry);
    };
    for (let k = 0; k < upto; k++) {
      const s = steps[k];
      if (s.kind === "forward") computed.add(s.node);
      else if (s.kind === "seed") add(s.node, { text: s.text, total: s.gradShort }, s.grad, s.gradShort);
      else if (s.kind === "update") updated.set(s.node, s);
      else {
        for (const p of s.parts) {
          add(p.parent, { from: s.node, text: p.product, total: p.totalShort, final: p.final },
              p.total, p.totalShort);
        }
      }
    }
    return { computed, grad, history, updated };
  }

  function text(tag, content, cls) {
    const el = document.createElement(tag);
    el.textContent = content;
    if (cls) el.className = cls;
    return el;
  }

  function clearMarks() {
    for (const el of svg.querySelectorAll(".current, .related, .active, .updated")) {
      el.classList.remove("current", "related", "active", "updated");
    }
  }

  function total(p) {
    return "d" + record.root + "/d" + nodes.get(p.parent).name + " = " + p.totalShort +
      (p.final ? "" : " so far");
  }

  function names(ids) {
    const list = ids.map((id) => nodes.get(id).name);
    return list.length < 2 ? list.join("") : list.slice(0, -1).join(", ") + " and " + list[list.length - 1];
  }

  // The step in one sentence, for the page's live region (a screen reader reads it).
  function sentence(s) {
    if (!s) return "At the start: no Value computed yet.";
    const at = "Step " + index + " of " + steps.length + ", ";
    const name = nodes.get(s.node).name;
    if (s.kind === "forward") return at + "forward: " + s.text + ".";
    if (s.kind === "seed") return at + "backward starts at " + name + ": " + s.text + ".";
    if (s.kind === "update") return at + "update: " + s.text + ".";
    if (!s.parts.length) return at + "backward: " + s.text + "; no parent needs a gradient.";
    return at + "backward: " + name + " passes " + s.text + " on: " +
      s.parts.map(total).join("; ") + ".";
  }

  function showFormula(s) {
    formula.replaceChildren();
    if (!s) {
      formula.append(text("p", "Press next (→) to compute the first Value from its inputs.", "lead"));
      return;
    }
    const name = nodes.get(s.node).name;
    if (s.kind === "forward") {
      formula.append(text("p", "forward: compute " + name, "kind"), text("p", s.text, "big"));
    } else if (s.kind === "seed") {
      formula.append(text("p", "backward starts at the output", "kind"), text("p", s.text, "big"));
    } else if (s.kind === "update") {
      formula.append(text("p", "update: " + name + " takes one step against its gradient", "kind"),
                     text("p", s.text, "big"));
      if (index === steps.length && record.outcome) formula.append(text("p", record.outcome, "kind"));
    } else {
      formula.append(text("p", "backward: " + name + " passes its gradient to its parents", "kind"),
                     text("p", s.text, "big"));
      const table = document.createElement("table");
      for (const p of s.parts) {
        const row = document.createElement("tr");
        row.append(text("td", p.derivative), text("td", "upstream × local: " + p.product),
                   text("td", total(p)));
        table.append(row);
      }
      if (!s.parts.length) table.append(text("tr", "no parent needs a gradient"));
      formula.append(table);
    }
  }

  function showDetails(state) {
    if (selected === null) return;
    const n = nodes.get(selected);
    details.replaceChildren(text("h2", n.name));
    if (n.leaf) {
      const what = n.kind === "parameter" ? "a parameter (a leaf that gets a gradient): "
        : "data (an input or a constant: no gradient): ";
      details.append(text("p", what + n.name + " = " + n.short));
    } else {
      details.append(text("p", "an intermediate Value (" + n.op + "): " + n.name + " = " + n.formula));
      const fwd = steps.find((s) => s.kind === "forward" && s.node === selected);
      details.append(text("p", state.computed.has(selected) && fwd ? fwd.text : "not computed yet"));
      const back = steps.findIndex((s) => s.kind === "backward" && s.node === selected);
      if (back >= 0 && back < index) {
        details.append(text("h3", "local derivatives ∂" + n.name + "/∂parent"));
        for (const p of steps[back].parts) details.append(text("p", p.derivative));
      }
    }
    details.append(text("h3", "gradient d" + record.root + "/d" + n.name + " (total)"));
    const history = state.history.get(selected) || [];
    if (!history.length) details.append(text("p", n.constant ? "none needed" : "— (backward has not reached it)"));
    for (const h of history) {
      const from = h.from === undefined ? "" : "from " + nodes.get(h.from).name + ": ";
      details.append(text("p", from + h.text + " → total " + h.total));
    }
    const update = state.updated.get(selected);
    if (update) details.append(text("h3", "update"), text("p", update.text));
  }

  // How far to move a span [lo, hi] so it lies in [min, max] (its start, if too long).
  function shift(lo, hi, min, max) {
    if (hi - lo > max - min || lo < min) return lo - min;
    return hi > max ? hi - max : 0;
  }

  // Scroll the canvas so that all of `els` show (else the first), then the window so
  // that the first shows below the controls and formula.
  function reveal(els) {
    const pad = 10;
    const c = canvas.getBoundingClientRect();
    const left = c.left + canvas.clientLeft, top = c.top + canvas.clientTop;
    const right = left + canvas.clientWidth, bottom = top + canvas.clientHeight;
    const rects = els.map((e) => e.getBoundingClientRect());
    let r = {
      left: Math.min(...rects.map((q) => q.left)), right: Math.max(...rects.map((q) => q.right)),
      top: Math.min(...rects.map((q) => q.top)), bottom: Math.max(...rects.map((q) => q.bottom)) };
    if (r.right - r.left > right - left - 2 * pad || r.bottom - r.top > bottom - top - 2 * pad) r = rects[0];
    canvas.scrollLeft += shift(r.left, r.right, left + pad, right - pad);
    canvas.scrollTop += shift(r.top, r.bottom, top + pad, bottom - pad);
    const b = els[0].getBoundingClientRect();
    const below = Math.max(0, bar.getBoundingClientRect().bottom) + pad;
    const dy = shift(b.top, b.bottom, below, window.innerHeight - pad);
    const dx = shift(b.left, b.right, pad, document.documentElement.clientWidth - pad);
    if (dx || dy) window.scrollBy(dx, dy);
  }

  function zoom() {
    const room = canvas.clientWidth;
    const on = fit === null ? naturalWidth > room && room / naturalWidth >= 0.6 : fit;
    svg.classList.toggle("fit", on);
    zoomButton.setAttribute("aria-pressed", String(on));
  }

  // Show the state after `index` steps; `moved` says the step changed (then the
  // current Value is scrolled into view).
  function render(moved) {
    const state = stateAt(index);
    for (const [id, box] of boxes) {
      const n = nodes.get(id);
      const g = state.grad.get(id);
      const update = state.updated.get(id);
      const computed = state.computed.has(id);
      const f = fields.get(id);
      const shown = [computed, g ? g[0] : "", update ? update.value : ""].join("|");
      if (f.shown === shown) continue;
      f.shown = shown;
      box.setAttribute("data-grad", g ? g[0] : "");
      if (update) box.setAttribute("data-updated", update.value);
      else box.removeAttribute("data-updated");
      const data = update ? update.short : computed ? n.short : "";
      const grad = n.constant ? "none" : g ? g[1] : "—";
      f.data.textContent = data;
      f.grad.textContent = grad;
      box.classList.toggle("pending", !computed);
      box.classList.toggle("moved", Boolean(update));
      const kind = n.leaf ? n.kind : n.kind + " (" + n.op + ")";
      box.setAttribute("aria-label", n.name + ", " + kind + ", data " + (data || "not computed yet") +
        (update ? " (updated)" : "") + ", " + record.caption + " " + grad);
    }
    clearMarks();
    const s = index > 0 ? steps[index - 1] : null;
    if (s) {
      const box = boxes.get(s.node);
      box.classList.add("current");
      const related = s.kind === "backward" ? s.parts.map((p) => p.parent)
        : s.kind === "forward" ? nodes.get(s.node).parents : [];
      for (const id of related) {
        boxes.get(id).classList.add("related");
        if (s.kind === "backward") boxes.get(id).classList.add("updated");
      }
      if (s.kind === "forward" || s.kind === "backward") {
        for (const el of svg.querySelectorAll('[data-to="' + s.node + '"]')) {
          el.classList.add("active");
        }
      }
    }
    showFormula(s);
    showDetails(state);
    summary.textContent = sentence(s);
    stepEl.setAttribute("data-index", String(index));
    const phase = !s ? "start" : s.kind === "seed" ? "backward" : s.kind;
    stepEl.textContent = "step " + index + " of " + steps.length + " (" + phase + ")";
    document.getElementById("prev").disabled = index === 0;
    document.getElementById("reset").disabled = index === 0;
    document.getElementById("next").disabled = index === steps.length;
    // Last, once the formula and details have their new size.
    if (s && moved) {
      const box = boxes.get(s.node);
      const related = Array.from(svg.querySelectorAll(".related"));
      reveal(index === steps.length ? [box, ...parameters] : [box, ...related]);
    }
  }

  function go(to) {
    index = Math.max(0, Math.min(steps.length, to));
    if (index === steps.length) pause();
    render(true);
  }

  function pause() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    playButton.textContent = "▶ play";
    playButton.setAttribute("aria-label", "play");
  }

  function play() {
    if (timer !== null) return pause();
    if (index === steps.length) index = 0;
    playButton.textContent = "⏸ pause";
    playButton.setAttribute("aria-label", "pause");
    timer = setInterval(() => go(index + 1), 1000 / Number(speed.value));
  }

  function choose(id) {
    selected = id;
    render(false);
    summary.textContent = details.innerText.replace(/\s*\n\s*/g, ". ");
  }

  document.getElementById("next").addEventListener("click", () => go(index + 1));
  document.getElementById("prev").addEventListener("click", () => go(index - 1));
  document.getElementById("reset").addEventListener("click", () => { pause(); go(0); });
  document.getElementById("to-backward").addEventListener("click", () => go(forwardCount));
  zoomButton.addEventListener("click", () => {
    fit = zoomButton.getAttribute("aria-pressed") !== "true";
    zoom();
    if (index > 0) render(true);
  });
  playButton.addEventListener("click", play);
  speed.addEventListener("input", () => { if (timer !== null) { pause(); play(); } });
  for (const [id, box] of boxes) {
    box.addEventListener("click", () => choose(id));
  }
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.tagName === "INPUT") return;
    const box = target.closest ? target.closest(".value") : null;
    if (box && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      choose(Number(box.getAttribute("data-index")));
      return;
    }
    if (target.tagName === "BUTTON" && (event.key === "Enter" || event.key === " ")) return;
    const keys = { ArrowRight: () => go(index + 1), ArrowLeft: () => go(index - 1),
                   Home: () => go(0), End: () => go(steps.length), " ": play };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
  window.addEventListener("resize", zoom);
  zoom();
  render(false);
})();
