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
  const details = document.getElementById("details");
  const canvas = document.getElementById("canvas");
  const playButton = document.getElementById("play");
  const speed = document.getElementById("speed");
  const forwardCount = steps.filter((s) => s.kind === "forward").length;
  let index = 0;
  let timer = null;
  let selected = null;

  function stateAt(upto) {
    const computed = new Set(record.nodes.filter((n) => n.leaf).map((n) => n.id));
    const grad = new Map();
    const history = new Map();
    const add = (id, entry, total, short) => {
      grad.set(id, [total, short]);
      if (!history.has(id)) history.set(id, []);
      history.get(id).push(entry);
    };
    for (let k = 0; k < upto; k++) {
      const s = steps[k];
      if (s.kind === "forward") computed.add(s.node);
      else if (s.kind === "seed") add(s.node, { text: s.text, total: s.gradShort }, s.grad, s.gradShort);
      else {
        for (const p of s.parts) {
          add(p.parent, { from: s.node, text: p.product, total: p.totalShort, final: p.final },
              p.total, p.totalShort);
        }
      }
    }
    return { computed, grad, history };
  }

  function text(tag, content, cls) {
    const el = document.createElement(tag);
    el.textContent = content;
    if (cls) el.className = cls;
    return el;
  }

  function clearMarks() {
    for (const el of document.querySelectorAll(".current, .related, .active, .updated")) {
      el.classList.remove("current", "related", "active", "updated");
    }
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
    } else {
      formula.append(text("p", "backward: " + name + " passes its gradient to its parents", "kind"),
                     text("p", s.text, "big"));
      const table = document.createElement("table");
      for (const p of s.parts) {
        const row = document.createElement("tr");
        const total = "d " + record.root + " / d " + nodes.get(p.parent).name + " = " + p.totalShort +
          (p.final ? "" : " so far");
        row.append(text("td", p.derivative), text("td", "upstream × local: " + p.product),
                   text("td", total));
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
      details.append(text("p", (n.constant ? "a constant: " : "an input: ") + n.name + " = " + n.short));
    } else {
      details.append(text("p", (n.op || "") + ": " + n.name + " = " + n.formula));
      const fwd = steps.find((s) => s.kind === "forward" && s.node === selected);
      details.append(text("p", state.computed.has(selected) && fwd ? fwd.text : "not computed yet"));
      const back = steps.findIndex((s) => s.kind === "backward" && s.node === selected);
      if (back >= 0 && back < index) {
        details.append(text("h3", "local derivatives"));
        for (const p of steps[back].parts) details.append(text("p", p.derivative));
      }
    }
    details.append(text("h3", "gradient d " + record.root + " / d " + n.name));
    const history = state.history.get(selected) || [];
    if (!history.length) details.append(text("p", n.constant ? "none needed" : "— (backward has not reached it)"));
    for (const h of history) {
      const from = h.from === undefined ? "" : "from " + nodes.get(h.from).name + ": ";
      details.append(text("p", from + h.text + " → total " + h.total));
    }
  }

  function scrollTo(box) {
    const r = box.getBoundingClientRect();
    const c = canvas.getBoundingClientRect();
    if (r.left < c.left || r.right > c.right) canvas.scrollLeft += r.left - c.left - c.width / 3;
    if (r.top < c.top || r.bottom > c.bottom) canvas.scrollTop += r.top - c.top - c.height / 3;
  }

  function render() {
    const state = stateAt(index);
    for (const [id, box] of boxes) {
      const n = nodes.get(id);
      const g = state.grad.get(id);
      const computed = state.computed.has(id);
      const f = fields.get(id);
      const shown = [computed, g ? g[0] : ""].join("|");
      if (f.shown === shown) continue;
      f.shown = shown;
      box.setAttribute("data-grad", g ? g[0] : "");
      f.data.textContent = computed ? n.short : "";
      f.grad.textContent = n.constant ? "none" : g ? g[1] : "—";
      box.classList.toggle("pending", !computed);
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
      for (const edge of document.querySelectorAll('.edge[data-to="' + s.node + '"]')) {
        edge.classList.add("active");
      }
      scrollTo(box);
    }
    showFormula(s);
    showDetails(state);
    stepEl.setAttribute("data-index", String(index));
    const phase = !s ? "start" : s.kind === "forward" ? "forward" : "backward";
    stepEl.textContent = "step " + index + " of " + steps.length + " (" + phase + ")";
    document.getElementById("prev").disabled = index === 0;
    document.getElementById("reset").disabled = index === 0;
    document.getElementById("next").disabled = index === steps.length;
  }

  function go(to) {
    index = Math.max(0, Math.min(steps.length, to));
    if (index === steps.length) pause();
    render();
  }

  function pause() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    playButton.textContent = "▶ play";
  }

  function play() {
    if (timer !== null) return pause();
    if (index === steps.length) index = 0;
    playButton.textContent = "⏸ pause";
    timer = setInterval(() => go(index + 1), 1000 / Number(speed.value));
  }

  document.getElementById("next").addEventListener("click", () => go(index + 1));
  document.getElementById("prev").addEventListener("click", () => go(index - 1));
  document.getElementById("reset").addEventListener("click", () => { pause(); go(0); });
  document.getElementById("to-backward").addEventListener("click", () => go(forwardCount));
  playButton.addEventListener("click", play);
  speed.addEventListener("input", () => { if (timer !== null) { pause(); play(); } });
  for (const [id, box] of boxes) {
    box.addEventListener("click", () => { selected = id; render(); });
  }
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT") return;
    const keys = { ArrowRight: () => go(index + 1), ArrowLeft: () => go(index - 1),
                   Home: () => go(0), End: () => go(steps.length), " ": play };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
  render();
})();
