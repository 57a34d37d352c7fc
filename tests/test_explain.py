"""explain(): the record's numbers equal backward()'s for every primitive and random
graphs, its formulas come out as a learner reads them, and the page keeps its
testing contract (parsed here in Python; tests/test_explain_browser.py drives it)."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tapegrad import OPS, Op, Value, draw_graph, explain, grad, nn, topological_order
from tapegrad.autograd.mathlib import FloatMath
from tapegrad.explain import BackwardStep, ForwardStep
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
    assert mul.text == "d L / d e = 8" and mul.upstream == 8.0
    da, db = mul.contributions
    assert (da.derivative, da.local, da.product, da.amount) == (
        "d e / d a = b = -3",
        -3.0,
        "8 * -3 = -24",
        -24.0,
    )
    assert (db.derivative, db.product, db.total) == ("d e / d b = a = 2", "8 * 2 = 16", 16.0)
    # a is used twice: 1 from L = n1 + a first, then -24 through e.
    assert da.total == -23.0
    assert x.gradients == {"a": -23.0, "b": 16.0}


def test_steps_forward_in_topological_order_then_backward_in_reverse():
    _, _, _, L = small_graph()
    steps = explain(L).steps
    kinds = [s.kind for s in steps]
    assert kinds == ["forward"] * 3 + ["seed"] + ["backward"] * 3
    assert [s.node for s in steps[4:]] == [4, 3, 2]  # L, n1, e
    assert steps[3].text == "d L / d L = 1"


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
    assert "d y / d x = 1 so far" in text and "d y / d x = 4 so far" in text
    assert "d y / d x = 7" in text.splitlines()[-1]


def test_constants_get_no_gradient_and_are_shown_as_numbers():
    a = Value(1.5, label="a")
    s = Value.sum([a, 2.0, a * 4.0])
    x = explain(s)
    names = [n.name for n in x.nodes]
    assert names == ["a", "2", "n1", "out"]  # reading order: parents left to right
    two = x.nodes[1]
    assert two.constant and two.grad is None
    assert x.steps[1].text == "out = a + 2 + n1 = 1.5 + 2 + 6 = 9.5"
    assert all(c.parent != 1 for s in x.steps for c in getattr(s, "contributions", ()))
    assert any(line.split() == ["2", "=", "2", "constant"] for line in str(x).splitlines())


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
        ("w0", "d out / d w0 = p = 2"),
        ("x0", "d out / d p = w0 = 0.5"),
        ("w1", "d out / d w1 = 3"),
        ("b", "d out / d b = 1"),
    ]
    assert x.gradients == {"w0": 2.0, "p": 0.5, "w1": 3.0, "b": 1.0}


@pytest.mark.parametrize(
    "make, words, symbol, derivative",
    [
        (lambda x: x**2.0, "power", "** 2", "d out / d x = 2 * x = 2 * 3 = 6"),
        (lambda x: 2.0**x, "power", "2 **", "d out / d x = out * log(2) = 8 * log(2) = 5.545"),
        (lambda x: 1.0 - x, "subtract", "1 -", "d out / d x = -1"),
        (lambda x: x / 4.0, "divide", "/ 4", "d out / d x = 0.25"),
        (
            lambda x: x.relu(),
            "ReLU",
            "relu",
            "d out / d x = (0 if x <= 0 else 1) = (0 if 3 <= 0 else 1) = 1",
        ),
        (
            lambda x: x.leaky_relu(0.1),
            "leaky ReLU",
            "leaky 0.1",
            "d out / d x = (1 if x > 0 else 0.1) = (1 if 3 > 0 else 0.1) = 1",
        ),
        (
            lambda x: x.sigmoid(),
            "sigmoid",
            "σ",
            "d out / d x = out * (1 - out) = 0.9526 * (1 - 0.9526) = 0.04518",
        ),
        (lambda x: abs(x), "absolute value", "abs", "d out / d x = sign(x) = sign(3) = 1"),
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
    assert "  d z / d z = 1   at z = a - sh(b) (minus sinh)" in lines
    assert any(
        line.startswith("      d z / d b = -cosh(b) = -cosh(0.5) = -1.128") for line in lines
    )

    svg = explain(z).to_html()
    assert '<text class="op" x="128" y="16" text-anchor="end">⊖</text>' in svg
    assert re.findall(r'<text class="role"[^>]*>(\w)</text>', svg) == ["a", "b"]
    source = draw_graph(z).source
    assert 'v2_op [label="⊖"' in source
    assert "v0 -> v2_op [label=a]" in source and "v1 -> v2_op [label=b]" in source

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
    assert [s.text for s in x.steps] == ["d x / d x = 1"]
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


# --- the text table ----------------------------------------------------------------


def test_text_table():
    _, _, _, L = small_graph()
    lines = [line.rstrip() for line in str(explain(L)).splitlines()]
    assert lines[0].startswith("forward")
    assert any(line.split() == ["a", "=", "2", "input"] for line in lines)
    assert any(
        line.startswith("  e = a * b = 2 * -3 = -6") and line.endswith("multiply") for line in lines
    )
    assert "  d L / d e = 8   at e = a * b (multiply)" in lines
    row = next(line for line in lines if "d e / d a" in line).split("   ")
    assert [cell.strip() for cell in row if cell.strip()] == [
        "d e / d a = b = -3",
        "8 * -3 = -24",
        "d L / d a = -23",
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
    assert page.links == [] and "http" not in html and "url(" not in html  # nothing fetched
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
