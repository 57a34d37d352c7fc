"""explain(): the record's numbers equal backward()'s for every primitive and random
graphs, its formulas come out as a learner reads them, and the page keeps its
testing contract (parsed here in Python; tests/test_explain_browser.py drives it)."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import pytest
from helpers import micrograd_example
from hypothesis import assume, given
from hypothesis import strategies as st

from tapegrad import OPS, Op, Value, draw_graph, explain, grad, nn, topological_order
from tapegrad.autograd.mathlib import FloatMath
from tapegrad.explain import BackwardStep, ForwardStep, UpdateStep
from tapegrad.testing.reference import apply
from tapegrad.testing.reference import record as make_node
from tapegrad.testing.strategies import ALL_OPS, expressions, op_inputs


def label_all(root: Value) -> list[Value]:
    """Give every Value behind ``root`` a unique label; return them, leaves included."""
    seen, values = set(), []
    for v in topological_order(root) or [root]:
        for p in (*v.parents, v):
            if id(p) not in seen:
                seen.add(id(p))
                values.append(p)
    for i, v in enumerate(values):
        v.label = f"v{i}"
    return values


def assert_record_matches_backward(root: Value) -> None:
    """Every Value's gradient in the record is bit for bit what backward() leaves in
    .grad, and the record left .grad alone."""
    values = label_all(root)
    for v in values:
        if v.grad is not None:
            v.grad = 0.25  # a mark: explain must not read or write it
    record = {n.name: n for n in explain(root).nodes}
    assert all(v.grad in (None, 0.25) for v in values)
    for v in values:
        v.zero_grad()
    root.backward()
    for v in values:
        node = record[v.label]
        assert node.data == v.data
        assert node.grad == v.grad, (v.label, node.grad, v.grad)


def small_graph():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    e = a * b
    e.label = "e"
    L = e * 8.0 + a
    L.label = "L"
    return a, b, e, L


# --- the record's numbers ----------------------------------------------------------


def test_issue_example_formulas():
    _a, _b, _e, L = small_graph()
    x = explain(L)
    forward = [s.text for s in x.steps if isinstance(s, ForwardStep)]
    assert forward == [
        "e = a * b = 2 * -3 = -6",
        "n1 = e * 8 = -6 * 8 = -48",
        "L = n1 + a = -48 + 2 = -46",
    ]
    mul = next(s for s in x.steps if isinstance(s, BackwardStep) and s.node == 2)
    assert mul.text == "dL/de = 8" and mul.upstream == 8.0
    da, db = mul.contributions
    assert (da.derivative, da.local, da.product, da.amount) == (
        "∂e/∂a = b = -3",
        -3.0,
        "8 * -3 = -24",
        -24.0,
    )
    assert (db.derivative, db.product, db.total) == ("∂e/∂b = a = 2", "8 * 2 = 16", 16.0)
    # a is used twice: 1 from L = n1 + a first, then -24 through e.
    assert da.total == -23.0
    assert x.gradients == {"a": -23.0, "b": 16.0}


def test_steps_forward_in_topological_order_then_backward_in_reverse():
    _, _, _, L = small_graph()
    steps = explain(L).steps
    kinds = [s.kind for s in steps]
    assert kinds == ["forward"] * 3 + ["seed"] + ["backward"] * 3
    assert [s.node for s in steps[4:]] == [4, 3, 2]  # L, n1, e
    assert steps[3].text == "dL/dL = 1"


@pytest.mark.parametrize("op", ALL_OPS, ids=repr)
@given(data=st.data())
def test_every_primitive_matches_backward(op, data):
    operands, arg = data.draw(op_inputs(op))
    xs = [Value(x) for x in operands]
    root = apply(op, xs, arg)
    # One more node, so the op's node gets an upstream gradient other than 1.
    assert_record_matches_backward(root * 1.5)


@given(expressions())
def test_random_graphs_match_backward(case):
    expression, point = case
    xs = [Value(x) for x in point]
    root = expression.values(xs)
    assume(root.requires_grad)  # an expression of constants only has no backward
    assert_record_matches_backward(root)


def test_graph_from_create_graph_matches_backward():
    a, b = Value(2.0), Value(-0.5)
    c = (a * b).tanh() + a.sigmoid() * b**2.0 + (a / b).exp()
    ga, gb = grad(c, [a, b], create_graph=True)
    assert_record_matches_backward(ga * gb + ga)


def test_reused_value_accumulates_partial_sums():
    x = Value(3.0, label="x")
    y = x * x + x  # x three times: twice in one node, once more in the sum
    y.label = "y"
    shares = [
        (c.amount, c.total)
        for s in explain(y).steps
        if isinstance(s, BackwardStep)
        for c in s.contributions
        if c.parent == 0
    ]
    assert shares == [(1.0, 1.0), (3.0, 4.0), (3.0, 7.0)]
    text = str(explain(y))
    assert "dy/dx = 1 so far" in text and "dy/dx = 4 so far" in text
    assert "dy/dx = 7" in text.splitlines()[-1]


def test_constants_get_no_gradient_and_are_shown_as_numbers():
    a = Value(1.5, label="a")
    s = Value.sum([a, 2.0, a * 4.0])
    x = explain(s)
    names = [n.name for n in x.nodes]
    assert names == ["a", "n1", "2", "out"]  # layer by layer, a leaf just before its use
    two = x.nodes[2]
    assert two.constant and two.grad is None and two.kind == "data"
    assert x.steps[1].text == "out = a + 2 + n1 = 1.5 + 2 + 6 = 9.5"
    assert all(c.parent != 2 for s in x.steps for c in getattr(s, "contributions", ()))
    assert any(line.split() == ["2", "=", "2", "data"] for line in str(x).splitlines())


def test_dot_shows_each_pair_and_the_bias():
    w = [Value(0.5, label="w0"), Value(-1.0, label="w1")]
    xs = [Value(2.0, label="p"), 3.0]  # a plain number among the inputs: a constant
    b = Value(0.25, label="b")
    out = Value.dot(w, xs, b)
    x = explain(out)
    node = x.nodes[-1]
    assert node.op == "weighted sum" and node.roles == ("w0", "w1", "x0", "x1", "b")
    assert x.steps[0].text == "out = w0 * p + w1 * 3 + b = 0.5 * 2 + -1 * 3 + 0.25 = -1.75"
    back = x.steps[-1]
    assert [(c.role, c.derivative) for c in back.contributions] == [
        ("w0", "∂out/∂w0 = p = 2"),
        ("x0", "∂out/∂p = w0 = 0.5"),
        ("w1", "∂out/∂w1 = 3"),
        ("b", "∂out/∂b = 1"),
    ]
    assert x.gradients == {"w0": 2.0, "p": 0.5, "w1": 3.0, "b": 1.0}


@pytest.mark.parametrize(
    "make, words, symbol, derivative",
    [
        (lambda x: x**2.0, "power", "** 2", "∂out/∂x = 2 * x = 2 * 3 = 6"),
        (lambda x: 2.0**x, "power", "2 **", "∂out/∂x = out * log(2) = 8 * log(2) = 5.545"),
        (lambda x: 1.0 - x, "subtract", "1 -", "∂out/∂x = -1"),
        (lambda x: x / 4.0, "divide", "/ 4", "∂out/∂x = 0.25"),
        (
            lambda x: x.relu(),
            "ReLU",
            "relu",
            "∂out/∂x = (0 if x <= 0 else 1) = (0 if 3 <= 0 else 1) = 1",
        ),
        (
            lambda x: x.leaky_relu(0.1),
            "leaky ReLU",
            "leaky 0.1",
            "∂out/∂x = (1 if x > 0 else 0.1) = (1 if 3 > 0 else 0.1) = 1",
        ),
        (
            lambda x: x.sigmoid(),
            "sigmoid",
            "σ",
            "∂out/∂x = out * (1 - out) = 0.9526 * (1 - 0.9526) = 0.04518",
        ),
        (lambda x: abs(x), "absolute value", "abs", "∂out/∂x = sign(x) = sign(3) = 1"),
    ],
)
def test_ops_in_words_and_formulas(make, words, symbol, derivative):
    x = Value(3.0, label="x")
    record = explain(make(x))
    assert (record.nodes[-1].op, record.nodes[-1].symbol) == (words, symbol)
    assert record.steps[-1].contributions[0].derivative == derivative


def test_every_op_carries_what_explain_says():
    for op in ALL_OPS:
        assert isinstance(op.words, str) and op.words, op
        assert op.notation is None or "{}" in op.notation, op
        assert isinstance(op.ordered, bool) and isinstance(op.weighted_sum, bool), op
        n = op.arity or 5
        assert len(op.roles(n)) == n, op
    assert OPS["powc"].words == "power"  # words, never the table's short name
    assert [op.name for op in OPS.values() if op.ordered] == ["sub", "div", "pow", "dot"]
    assert OPS["dot"].roles(5) == ("w0", "w1", "x0", "x1", "b")
    assert OPS["sum"].roles(2) == ("x0", "x1") and OPS["mul"].roles(2) == ("a", "b")


def test_no_module_of_explain_names_an_op():
    """What explain says about an op comes from its entry: no table or comparison in
    explain is keyed by an op's name."""
    import ast
    import importlib

    package = Path(importlib.import_module("tapegrad.explain").__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
        assert not strings & set(OPS), (path.name, strings & set(OPS))


def test_a_new_op_is_explained_and_drawn_from_its_entry_alone(monkeypatch):
    """A primitive no module of explain knows, with a new elementary function (sinh):
    its words, symbol, notation and ordered operands come from its entry."""
    monkeypatch.setattr(FloatMath, "sinh", staticmethod(math.sinh), raising=False)
    monkeypatch.setattr(FloatMath, "cosh", staticmethod(math.cosh), raising=False)
    sinh = Op(
        "sinh",
        "sh",
        1,
        lambda m, x: m.sinh(x),
        lambda m, g, out, x: (g * m.cosh(x),),
        words="hyperbolic sine",
        notation="sh({})",
    )
    monkeypatch.setitem(OPS, "sinh", sinh)
    minus_sinh = Op(
        "minus_sinh",
        "⊖",
        2,
        lambda m, a, b: a - m.sinh(b),
        lambda m, g, out, a, b: (g, -g * m.cosh(b)),
        words="minus sinh",
        ordered=True,
    )
    a, b = Value(2.0, label="a"), Value(0.5, label="b")
    z = make_node(minus_sinh, [a, b])
    z.label = "z"
    lines = [line.rstrip() for line in str(explain(z)).splitlines()]
    assert "  z = a - sh(b) = 2 - sh(0.5) = 1.479   minus sinh" in lines
    assert "  dz/dz = 1   at z = a - sh(b) (minus sinh)" in lines
    assert any(line.startswith("      ∂z/∂b = -cosh(b) = -cosh(0.5) = -1.128") for line in lines)

    svg = explain(z).to_html()
    assert '<text class="op" x="128" y="16" text-anchor="end">⊖</text>' in svg
    assert re.findall(r'<text class="role"[^>]*>(\w+)</text>', svg) == ["1st", "2nd"]
    source = draw_graph(z).source
    assert 'v2_op [label="⊖"' in source
    assert 'v0 -> v2_op [label="1st"]' in source and 'v1 -> v2_op [label="2nd"]' in source

    unordered = dataclasses.replace(minus_sinh, ordered=False)
    w = make_node(unordered, [a, b])
    assert "label=" not in draw_graph(w).source.split("v2_op -> v2")[1]
    assert '<text class="role"' not in explain(w).to_html()


def test_names_from_a_model():
    model = nn.MLP(2, [1])
    out = model([Value(1.0, label="x0"), Value(2.0, label="x1")])[0]
    names = {n.name for n in explain(out, names=model).nodes}
    assert {name for name, _ in model.named_parameters()} <= names
    with pytest.raises(TypeError, match="names: expected a model"):
        explain(out, names=[("w", 3.0)])


def test_leaf_root_and_bad_input():
    x = explain(Value(2.0, label="x"))
    assert [s.text for s in x.steps] == ["dx/dx = 1"]
    with pytest.raises(TypeError, match="explain: expected a Value, got float 2.0"):
        explain(2.0)


def test_backward_failure_names_the_node():
    root = Value(0.0).sqrt()
    with pytest.raises(ZeroDivisionError, match=r"explain: backward through sqrt\(0.0\)"):
        explain(root)


def test_long_formula_is_cut():
    ws = [Value(0.1 * i) for i in range(300)]
    out = Value.dot(ws, [1.0] * 300)
    text = explain(out).steps[0].text
    assert "…" in text and len(text) < 600 and text.endswith(f"= {out.data:.4g}")


def test_forward_formulas_show_every_operation():
    """No operation is folded away: a division by 1, a one-term sum, q - 0, x * 1,
    x + 0 and x ** 1 each show their operation and operands."""
    q = Value(3.0, label="q")
    out = ((Value.sum([q - 0.0]) / 1.0) * 1.0 + 0.0) ** 1.0
    forward = [s.text for s in explain(out).steps if isinstance(s, ForwardStep)]
    assert forward == [
        "n1 = q - 0 = 3 - 0 = 3",
        "n2 = sum(n1) = sum(3) = 3",
        "n3 = n2 / 1 = 3 / 1 = 3",
        "n4 = n3 * 1 = 3 * 1 = 3",
        "n5 = n4 + 0 = 3 + 0 = 3",
        "out = n5 ** 1 = 3 ** 1 = 3",
    ]
    # Local derivatives are still simplified: d(n3)/d(n2) of n2 / 1 is 1.
    shares = [c.derivative for s in explain(out).steps for c in getattr(s, "contributions", ())]
    assert "∂n3/∂n2 = 1" in shares and "∂n1/∂q = 1" in shares


def test_local_and_total_derivatives_are_written_apart():
    """A local derivative (one op's rule) is a partial, ∂e/∂a; a total (what backward
    computes, through every path) is dL/da: never the same notation."""
    _a, _b, _e, L = small_graph()
    x = explain(L)
    derivatives = [c.derivative for s in x.steps for c in getattr(s, "contributions", ())]
    assert derivatives == [
        "∂L/∂n1 = 1",
        "∂L/∂a = 1",
        "∂n1/∂e = 8",
        "∂e/∂a = b = -3",
        "∂e/∂b = a = 2",
    ]
    backward = [s.text for s in x.steps if isinstance(s, BackwardStep)]
    assert backward == ["dL/dL = 1", "dL/dL = 1", "dL/dn1 = 1", "dL/de = 8"]
    text = str(x)
    assert not re.search(r"\bd \w+ / d", text) and "∂L/∂a = 1" in text and "dL/da = -23" in text
    page = x.to_html()
    assert "<b>dL/db</b>, the number in the boxes, is a <i>total</i> derivative" in page
    assert "<b>∂e/∂b</b> is a <i>local</i> derivative" in page


def test_kinds_in_learners_words_and_user_labels_kept():
    """The black box of "Backprop and gradient descent explained plainly": w and v are
    parameters, x is data (the input), every labelled Value keeps its label."""
    from demos.backprop import black_box_loss

    loss, (w, _) = black_box_loss()
    x = explain(loss, names={"weight": w})  # a label wins over a name given for it
    kinds = {n.name: n.kind for n in x.nodes}
    assert kinds == {
        "w": "parameter",
        "x": "data",
        "v": "parameter",
        "n1": "intermediate",
        "n2": "intermediate",
        "n3": "intermediate",
        "z": "intermediate",
        "error": "intermediate",
        "loss": "intermediate",
    }
    rows = [line.split() for line in str(x).splitlines()]
    assert ["w", "=", "1", "parameter"] in rows and ["x", "=", "1.1", "data"] in rows
    page = parse(x.to_html())
    assert {v["data-name"]: v["class"] for v in page.values} == {
        "w": "value parameter",
        "x": "value data nograd",
        "v": "value parameter",
        "n1": "value intermediate",
        "n2": "value intermediate",
        "n3": "value intermediate",
        "z": "value intermediate",
        "error": "value intermediate",
        "loss": "value intermediate",
    }


def test_forward_is_listed_layer_by_layer():
    """A network's first layer, then its second: each Value after its farthest parent,
    each leaf just before its first use."""
    from demos.backprop import network_loss

    loss, model = network_loss(seed=0)
    x = explain(loss, names=model)
    depth: dict[int, int] = {}
    for n in x.nodes:
        depth[n.index] = 1 + max((depth[p] for p in n.parents), default=-1)
    forward = [s.node for s in x.steps if isinstance(s, ForwardStep)]
    assert [depth[i] for i in forward] == [1, 1, 2, 2, 3, 4, 5, 6]
    names = [n.name for n in x.nodes]
    first_layer = names.index("layers.0.neurons.0.w.0")
    assert (
        first_layer < names.index("x0") < names.index("n1") < names.index("layers.1.neurons.0.w.0")
    )


def test_operands_are_named_in_words():
    """Edges say which operand they are in words where the order matters; two edges
    from one Value into one node print their words apart."""
    x = Value(2.0, label="x")
    assert explain(x - x).nodes[-1].operands == ("1st", "2nd")
    assert explain(x * x).nodes[-1].operands == ("", "")
    dot = explain(Value.dot([x, x], [x, 3.0], x)).nodes[-1]
    assert dot.operands == ("weight 1", "weight 2", "input 1", "input 2", "bias")
    svg = explain((x - x) / (x * x)).to_html()
    labels = re.findall(r'<text class="role" data-to="(\d+)" x="([\d.]+)" y="([\d.]+)"', svg)
    assert len(labels) == 4  # 1st/2nd of the subtraction and of the division
    for to in {t for t, _, _ in labels}:
        ys = sorted(float(y) for t, _, y in labels if t == to)
        assert ys[1] - ys[0] >= 12  # a label is 10 px high: no overlap
    assert re.findall(r'<text class="role"[^>]*>([^<]*)</text>', svg) == ["1st", "2nd"] * 2


# --- gradient descent after backward -------------------------------------------------


def test_update_steps_follow_backward():
    _a, _b, _e, L = small_graph()
    x = explain(L, lr=0.01)
    assert [s.kind for s in x.steps][-3:] == ["backward", "update", "update"]
    updates = [s for s in x.steps if isinstance(s, UpdateStep)]
    assert [s.text for s in updates] == [
        "a ← a - lr * dL/da = 2 - 0.01 * -23 = 2.23",
        "b ← b - lr * dL/db = -3 - 0.01 * 16 = -3.16",
    ]
    assert x.updates == {"a": 2.0 - 0.01 * -23.0, "b": -3.0 - 0.01 * 16.0}
    assert x.output_after == (2.23 * -3.16) * 8.0 + 2.23
    assert x.outcome == "L with the new parameters = -54.14 (was -46)"
    lines = str(x).splitlines()
    assert lines[-4:] == [
        "update: each parameter steps against its gradient, p ← p - lr * dL/dp, lr = 0.01",
        "  a ← a - lr * dL/da = 2 - 0.01 * -23 = 2.23",
        "  b ← b - lr * dL/db = -3 - 0.01 * 16 = -3.16",
        "  L with the new parameters = -54.14 (was -46)",
    ]
    assert "3 forward, 4 backward and 2 update steps" in repr(x)
    assert L.data == -46.0 and L.parents[1].data == 2.0  # the graph itself is unchanged
    page = parse(x.to_html())
    assert page.ids["step"]["data-total"] == str(len(x.steps))


def test_several_updates_equal_sgd_and_the_loss_falls():
    """Article 003's loop: guess, compare, backprop, correct, repeat. Each record's
    updates are optim.SGD's step bit for bit, its output_after the next loss, and
    the loss falls."""
    from demos.backprop import SAMPLE
    from demos.blackbox import model
    from tapegrad import optim

    w, v = Value(1.0, label="w"), Value(1.0, label="v")

    def black_box_loss() -> Value:
        z = model(w, v, Value(SAMPLE[0], label="x", requires_grad=False))
        return (z - SAMPLE[1]) ** 2.0

    opt = optim.SGD([w, v], lr=0.05)
    loss = black_box_loss()
    losses = [loss.data]
    for _ in range(4):
        record = explain(loss, lr=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert record.updates == {"w": w.data, "v": v.data}
        loss = black_box_loss()
        assert record.output_after == loss.data
        losses.append(loss.data)
    assert all(b < a for a, b in pairwise(losses)), losses


@pytest.mark.parametrize(
    "lr, error, message",
    [
        ("0.1", TypeError, "explain: lr must be a number, got str '0.1'"),
        (True, TypeError, "explain: lr must be a number, got bool True"),
        (0.0, ValueError, "explain: lr must be a positive finite number, got 0.0"),
        (-0.1, ValueError, "explain: lr must be a positive finite number, got -0.1"),
        (math.inf, ValueError, "explain: lr must be a positive finite number, got inf"),
        (math.nan, ValueError, "explain: lr must be a positive finite number, got nan"),
    ],
)
def test_bad_learning_rate_is_refused(lr, error, message):
    _, _, _, L = small_graph()
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        explain(L, lr=lr)


def test_an_update_outside_an_ops_domain_is_named():
    w = Value(0.5, label="w")
    loss = w.log()
    loss.label = "loss"
    x = explain(loss, lr=1.0)  # w <- 0.5 - 1 * 2 = -1.5: log is undefined there
    assert x.updates == {"w": -1.5} and x.output_after is None
    assert x.outcome == "loss with the new parameters: log: input must be > 0, got -1.5"
    assert str(x).splitlines()[-1] == "  " + x.outcome


# --- the text table ----------------------------------------------------------------


def test_text_table():
    _, _, _, L = small_graph()
    lines = [line.rstrip() for line in str(explain(L)).splitlines()]
    assert lines[0].startswith("forward")
    assert any(line.split() == ["a", "=", "2", "parameter"] for line in lines)
    assert any(
        line.startswith("  e = a * b = 2 * -3 = -6") and line.endswith("multiply") for line in lines
    )
    assert "  dL/de = 8   at e = a * b (multiply)" in lines
    row = next(line for line in lines if "∂e/∂a" in line).split("   ")
    assert [cell.strip() for cell in row if cell.strip()] == [
        "∂e/∂a = b = -3",
        "8 * -3 = -24",
        "dL/da = -23",
    ]


# --- the page ----------------------------------------------------------------------


class _Page(HTMLParser):
    """Elements by id, the drawn Values' attributes, and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict] = {}
        self.values: list[dict] = []
        self.links: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] = {"tag": tag, **attrs}
        if "value" in (attrs.get("class") or "").split():
            self.values.append(attrs)
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        self.scripts += tag == "script"


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _point(curve, t: float) -> tuple[float, float]:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    u = 1.0 - t
    w = (u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t)
    return (
        w[0] * x0 + w[1] * x1 + w[2] * x2 + w[3] * x3,
        w[0] * y0 + w[1] * y1 + w[2] * y2 + w[3] * y3,
    )


def assert_edges_clear(root: Value, **kwargs) -> None:
    """Every edge of ``root``'s page runs from its parent's right side to its child's
    left side and never under a box (not even its own ends, but for the two points
    where it meets them); no two boxes or operand labels overlap; no two edges share
    an end on a box."""
    from tapegrad.explain.layout import lay_out
    from tapegrad.explain.svg import render_svg

    nodes = explain(root, **kwargs).nodes
    layout = lay_out(nodes, list(range(len(nodes))))
    boxes = layout.boxes
    edges = [(i, p) for i, n in enumerate(nodes) for p in n.parents]
    assert sorted((r.child, r.parent) for r in layout.routes) == sorted(edges)
    for r in layout.routes:
        start, end = r.curves[0][0], r.end
        parent, child = boxes[r.parent], boxes[r.child]
        assert (
            start[0] == parent.x + parent.width and parent.y < start[1] < parent.y + parent.height
        )
        assert end[0] == child.x and child.y < end[1] < child.y + child.height
        for curve in r.curves:
            for k in range(41):
                x, y = _point(curve, k / 40)
                for i, b in boxes.items():
                    under = (
                        b.x + 0.5 < x < b.x + b.width - 0.5 and b.y + 0.5 < y < b.y + b.height - 0.5
                    )
                    assert not under, (nodes[r.parent].name, nodes[r.child].name, nodes[i].name)
                assert 0 <= x <= layout.width and 0 <= y <= layout.height
    for side in ("start", "end"):
        ends = [
            (r.parent, r.curves[0][0]) if side == "start" else (r.child, r.end)
            for r in layout.routes
        ]
        assert len(set(ends)) == len(ends), side
    # Boxes, and operand labels (10 px monospace: 6.1 px a character, right-aligned,
    # on their baseline), never overlap one another.
    svg = render_svg(nodes, layout, {}, shown=False)
    labels = [
        (float(x) - 6.1 * len(words), float(y) - 10, 6.1 * len(words), 12.0)
        for x, y, words in re.findall(
            r'<text class="role"[^>]* x="([^"]+)" y="([^"]+)"[^>]*>([^<]*)<', svg
        )
    ]
    placed = [(b.x, b.y, b.width, b.height) for b in boxes.values()] + labels
    for k, (ax, ay, aw, ah) in enumerate(placed):
        for bx, by, bw, bh in placed[k + 1 :]:
            apart = ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
            assert apart, ((ax, ay, aw, ah), (bx, by, bw, bh))


def mlp_loss() -> tuple[Value, nn.MLP]:
    """About 200 Values: a 3-4-4-1 MLP on three samples."""
    model = nn.MLP(3, [4, 4, 1], seed=1)
    samples = [[Value(0.1 * i + j, requires_grad=False) for j in range(3)] for i in range(3)]
    return Value.sum([(model(x)[0] - 1.0) ** 2.0 for x in samples]) / 3.0, model


def test_edges_never_run_under_a_box():
    from demos.backprop import black_box_loss, network_loss, reused_input

    assert_edges_clear(small_graph()[-1])  # a -> L skips e and n1: it goes around them
    assert_edges_clear(micrograd_example())  # a -> d skips e, d -> L skips tanh(d)
    assert_edges_clear(black_box_loss()[0])
    loss, model = network_loss(seed=0)
    assert_edges_clear(loss, names=model)
    assert_edges_clear(reused_input()[0])
    loss, model = mlp_loss()
    assert len(explain(loss).nodes) > 100
    assert_edges_clear(loss, names=model)
    y = Value(0.5, label="x")
    for _ in range(12):  # 48 columns: six bands, edges from one band into the next
        y = (y * 1.01).tanh() + y.sin()
    assert_edges_clear(y)


@given(expressions(shapes=("dag",)))
def test_edges_of_random_graphs_never_run_under_a_box(case):
    expression, point = case
    assert_edges_clear(expression.values([Value(x) for x in point]))


def test_two_edges_between_the_same_values_end_apart():
    from tapegrad.explain.layout import lay_out

    x = Value(3.0, label="x")
    nodes = explain(x * x).nodes
    first, second = lay_out(nodes, [0, 1]).routes
    assert first.curves[0][0] != second.curves[0][0] and first.end != second.end
    assert abs(first.end[1] - second.end[1]) >= 10


def test_every_edge_has_an_arrowhead():
    html = explain(micrograd_example()).to_html()
    edges = re.findall(r'<path class="edge"[^>]*>', html)
    assert len(edges) == 7 and all('marker-end="url(#tg-arrow)"' in e for e in edges)
    assert '<marker id="tg-arrow"' in html and '<marker id="tg-arrow-active"' in html
    ends = sorted(re.findall(r'data-from="(\d+)" data-to="(\d+)"', html))
    nodes = explain(micrograd_example()).nodes
    assert ends == sorted((str(p), str(n.index)) for n in nodes for p in n.parents)


def test_page_contract():
    a, b, e, L = small_graph()
    x = explain(L)
    page = parse(x.to_html())
    for button in ("next", "prev", "play", "reset"):
        assert page.ids[button]["tag"] == "button"
    step = page.ids["step"]
    assert (step["data-index"], step["data-total"]) == ("0", str(len(x.steps)))
    drawn = {v.get("data-label"): v for v in page.values}
    assert set(drawn) == {"a", "b", "e", "L", None}
    for value in (a, b, e, L):
        assert drawn[value.label]["data-value"] == repr(value.data)
        assert drawn[value.label]["data-grad"] == ""
    html = x.to_html().replace('xmlns="http://www.w3.org/2000/svg"', "")
    # Nothing fetched: url() only names the page's own arrowheads.
    assert page.links == [] and "http" not in html
    assert set(re.findall(r"url\(([^)]*)\)", html)) == {"#tg-arrow", "#tg-arrow-active"}
    assert page.scripts == 2 and page.ids["record"]["type"] == "application/json"


def test_page_escapes_labels_and_survives_script_endings():
    tricky = ["x<y", "{", "->", '"', "<b>html</b>", "a|b", "}", "<port>", "</script>"]
    xs = [Value(float(i), label=t) for i, t in enumerate(tricky)]
    html = explain(Value.sum(xs)).to_html()
    page = parse(html)
    assert sorted(v["data-label"] for v in page.values if "data-label" in v) == sorted(tricky)
    assert html.count("</script>") == 2  # the JSON inside cannot close its element


def test_large_graph_is_cut_with_a_note_quickly():
    y = Value(0.5, label="x")
    for _ in range(3000):
        y = y * 1.0001
    start = time.perf_counter()
    html = explain(y).to_html()
    assert time.perf_counter() - start < 10.0
    page = parse(html)
    assert len(page.values) == 500
    assert "has 3,001 Values: the page shows the 500 nearest the output" in html
    assert page.ids["step"]["data-total"] == str(500 + 1 + 500)  # forward, seed, backward


def test_save_html_and_jupyter(tmp_path):
    _, _, _, L = small_graph()
    x = explain(L)
    path = x.save_html(str(tmp_path / "page.html"))
    assert Path(path).read_text(encoding="utf-8") == x.to_html()
    frame = x._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "&lt;svg" in frame
    assert "Explanation of L: 5 Values, 3 forward and 4 backward steps" in repr(x)
    with pytest.raises(ValueError, match="max_values must be at least 1"):
        x.to_html(max_values=0)


def test_page_assets_are_package_data():
    from importlib.resources import files

    for name in ("page.js", "page.css", "graph.css"):
        assert files("tapegrad.explain").joinpath(name).read_text(encoding="utf-8").strip()


def test_nan_and_inf_in_the_record():
    x = Value(1000.0, label="x")
    y = x.exp() * 0.0
    nodes = explain(y).nodes
    assert math.isinf(nodes[1].data) and math.isnan(nodes[-1].data)


def test_missing_browser_is_named(monkeypatch):
    from demos import _browser

    monkeypatch.setattr(_browser, "CHROMEDRIVER", "/nonexistent/chromedriver")
    reason = _browser.missing()
    assert reason is not None and "install" in reason  # what to install, whatever is missing


def test_gradients_keep_every_leaf_when_names_repeat():
    """Two leaves labelled w: the first keeps its name, the next is w#2 (in the
    record's order, parents first), never a name another leaf already has."""
    w1, w2, w3 = Value(2.0, label="w"), Value(3.0, label="w"), Value(4.0, label="w")
    taken = Value(1.0, label="w#2")
    y = w1 * 5.0 + w2 * 7.0 + w3 * 11.0 + taken * 13.0
    assert explain(y).gradients == {"w": 5.0, "w#3": 7.0, "w#4": 11.0, "w#2": 13.0}
    a, b = Value(1.0), Value(2.0, label="n1")  # an unlabelled leaf is named n1 too
    assert explain(a * b).gradients == {"n1": 2.0, "n1#2": 1.0}
