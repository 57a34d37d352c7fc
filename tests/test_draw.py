"""Drawing: the real ``dot`` renders the boxes, operations and edges we expect; labels
render verbatim; gradients are named and never shown before they exist; without
``dot``, Jupyter gets the library's own SVG."""

import re
import shutil
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest

from tapegrad import Value, draw_graph, explain, nn, save_graph

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' missing")


def small_graph(backward=True):
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b + 1.0
    c.label = "c"
    if backward:
        c.backward()
    return a, b, c


def box(name, data, grad):
    """The cells of a Value's box as draw_graph writes them."""
    head = f"<td><b>{name}</b></td>" if name else ""
    return f"<tr>{head}<td>data {data}</td><td>{grad}</td></tr>"


def test_boxes_show_label_data_and_named_gradient():
    _, _, c = small_graph()
    source = draw_graph(c).source
    assert box("a", "2", "dc/d· -3") in source
    assert box("b", "-3", "dc/d· 2") in source
    assert box("c", "-5", "dc/d· 1") in source
    assert box(None, "-6", "dc/d· 1") in source  # a * b, unlabelled
    assert re.search(r'label="\*"', source)  # the multiplication node
    assert re.search(r'label="\+ 1"', source)  # addition of the number 1
    assert "rankdir=LR" in source


def test_no_gradient_shown_before_backward():
    _, _, c = small_graph(backward=False)
    source = draw_graph(c).source
    assert box("a", "2", "dc/d· —") in source and "dc/d· 0" not in source
    c.label = None
    assert box(None, "-5", "dout/d· —") in draw_graph(c).source


def test_edges_follow_data_flow():
    _, _, c = small_graph()
    source = draw_graph(c).source
    edges = re.findall(r"(\w+) -> (\w+)", source)
    records = dict(re.findall(r"(v\d+) \[label=<<table[^>]*><tr><td><b>(\w)</b>", source))
    names = {label: node for node, label in records.items()}
    # a and b feed the "*" node, whose result feeds "+ 1", which feeds c.
    mul = next(dst for src, dst in edges if src == names["a"])
    assert (names["b"], mul) in edges
    product = next(dst for src, dst in edges if src == mul)
    add = next(dst for src, dst in edges if src == product)
    assert (add, names["c"]) in edges
    assert len(edges) == 5


def test_non_commutative_inputs_are_labelled():
    a, b = Value(1.0), Value(2.0)
    source = draw_graph(a - b).source
    # Which operand, in words: a letter could be a variable's name too.
    assert 'v0 -> v2_op [label="1st"]' in source and 'v1 -> v2_op [label="2nd"]' in source


def test_dot_edges_name_weights_inputs_and_bias():
    w = [Value(0.5, label="w"), Value(-1.0, label="u")]
    x = [Value(2.0, label="p"), Value(3.0, label="q")]
    out = Value.dot(w, x, Value(0.25, label="bias"))
    source = draw_graph(out).source
    for role in ("weight 1", "weight 2", "input 1", "input 2"):
        assert f'label="{role}"' in source
    assert "label=bias" in source
    expanded = draw_graph(out, expand=True).source
    assert "weight 1 × input 1 = 1" in expanded and "weight 2 × input 2 = -3" in expanded
    assert re.search(r'v\d+_op \[label="\+"', expanded)  # the sum of the products
    assert expanded.count("label=bias") == 1


def test_names_from_a_model():
    model = nn.MLP(2, [1], seed=0)
    out = model([1.0, 2.0])[0]
    source = draw_graph(out, names=model).source
    for name, _ in model.named_parameters():
        assert f"<b>{name}</b>" in source
    with pytest.raises(TypeError, match="names: expected a model"):
        draw_graph(out, names=[("w", 1.0)])


def test_colour_by_grad_marks_vanishing_gradients():
    # Through 12 sigmoids the gradient shrinks by at most 1/4 each: ~1e-8 at the input.
    x = Value(0.0, label="x")
    y = x
    for _ in range(12):
        y = y.sigmoid()
    y.backward()
    assert abs(x.grad) < 1e-7
    source = draw_graph(y, color_by_grad=True).source
    first = re.search(r'v0 -> v1_op \[color="(#\w+)" penwidth=([\d.]+)\]', source)
    last = re.search(r'v11 -> v12_op \[color="(#\w+)" penwidth=([\d.]+)\]', source)
    assert float(first.group(2)) < 1.0 < 2.0 < float(last.group(2))
    assert first.group(1) != last.group(1)


def test_colour_by_grad_legend_constants_and_non_finite():
    x = Value(800.0, label="x")
    y = (x.exp() * Value(2.0, requires_grad=False)) * 0.0
    y.backward()  # inf * 0: the gradients through exp are NaN
    source = draw_graph(y, color_by_grad=True).source
    assert "legend" in source and "grad NaN or inf" in source and "constant: no gradient" in source
    colours = dict(re.findall(r'(v\d+) -> v\d+_op \[color="(#\w+)"', source))
    assert "#ff00ff" in colours.values()  # NaN/inf: magenta, named in the legend
    assert "#9e9e9e" in colours.values()  # the constant 2: grey and dashed
    assert source.count("style=dashed") == 1


def test_a_gradient_not_computed_is_shown_as_such_not_as_zero():
    a, b = Value(2.0, label="a"), Value(3.0, label="b", requires_grad=False)
    y = a * b
    source = draw_graph(y, color_by_grad=True).source
    # before any backward: a's gradient is None, not 0 (PyTorch's a.grad is None)
    assert 'v0 -> v2_op [color="#000000" penwidth=0.6 style=dotted]' in source
    assert 'v1 -> v2_op [color="#9e9e9e" penwidth=0.6 style=dashed]' in source
    assert "grad not computed yet (dotted)" in source and "dout/d· none (constant)" in source
    y.backward()
    source = draw_graph(y, color_by_grad=True).source
    assert "style=dotted]" not in source and "dout/d· 3" in source


def test_colour_by_grad_legend_is_a_scale_with_the_edges_colours():
    # A gradient of 1 is drawn dark and thick: the legend says so in a row of its scale,
    # in the very colour and width of such an edge.
    x = Value(0.5, label="x")
    y = x * 1.0
    y.backward()
    assert x.grad == 1.0
    source = draw_graph(y, color_by_grad=True).source
    colour, width = re.search(r'v0 -> v1_op \[color="(#\w+)" penwidth=([\d.]+)\]', source).groups()
    row = re.search(
        r'bgcolor="(#\w+)" width="24"> </td><td align="left">\|grad\| 1: width ([\d.]+)<', source
    )
    assert row.groups() == (colour, f"{float(width):.1f}")
    assert "log scale" in source
    rows = re.findall(r"\|grad\| ([^:<]+): width ([\d.]+)", source)
    assert [r[0] for r in rows] == ["≥ 10", "1", "0.01", "1e-4", "≤ 1e-6"]
    assert [float(r[1]) for r in rows] == sorted((float(r[1]) for r in rows), reverse=True)


def test_long_chain_runs_top_to_bottom():
    y = Value(1.0)
    for _ in range(20):
        y = y.tanh()
    assert "rankdir=TB" in draw_graph(y).source
    assert "rankdir=LR" in draw_graph(y, rankdir="LR").source


def test_large_graph_is_cut_not_hung():
    y = Value(0.5)
    for _ in range(100_000):
        y = y * 1.0
    graph = draw_graph(y, max_nodes=20)
    assert graph.source.count("data ") == 20
    assert "more inputs" in graph.source
    assert "raise max_nodes" in graph.source


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "gif"}, "format must be"),
        ({"rankdir": "XY"}, "rankdir must be"),
        ({"max_nodes": 0}, "max_nodes must be at least 1"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        draw_graph(Value(1.0), **kwargs)


def test_not_a_value():
    with pytest.raises(TypeError, match="expected a Value"):
        draw_graph(3.0)


@needs_dot
def test_jupyter_displays_it_inline():
    """What Jupyter shows for a drawing (IPython's display formatter, as a notebook
    cell's result): Graphviz's SVG of the graph, boxes and gradients included."""
    formatters = pytest.importorskip("IPython.core.formatters")
    _, _, c = small_graph()
    shown, _ = formatters.DisplayFormatter().format(draw_graph(c))
    svg = shown["image/svg+xml"]
    assert "Generated by graphviz" in svg
    assert svg.count('class="node"') == 6 and svg.count('class="edge"') == 5
    assert "dc/d· -3" in svg_texts(svg) and "data -5" in svg_texts(svg)


TRICKY = ["x<y", "{", "->", '"', "<b>html</b>", "a|b", "}", "<port>", "back\\slash", "&amp;"]


def svg_texts(svg: str) -> list[str]:
    """Every text of an SVG document, as it reads on screen."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter() if t.tag.endswith("}text")]


@needs_dot
def test_any_label_renders_verbatim(tmp_path):
    xs = [Value(float(i), label=label) for i, label in enumerate(TRICKY)]
    root = Value.sum(xs)
    root.label = "<root>"
    root.backward()
    path = save_graph(draw_graph(root), str(tmp_path / "graph.svg"))
    texts = svg_texts(Path(path).read_text(encoding="utf-8"))
    for label in [*TRICKY, "<root>"]:
        assert label in texts, label
    assert "d<root>/d· 1" in texts


@needs_dot
def test_renders_svg_with_real_dot(tmp_path):
    _, _, c = small_graph()
    path = save_graph(draw_graph(c), str(tmp_path / "graph.svg"))
    svg = Path(path).read_text(encoding="utf-8")
    assert path.endswith(".svg") and svg.lstrip().startswith(("<?xml", "<svg"))
    assert svg.count('class="node"') == 6  # four Values (a, b, a*b, c), two operations
    assert svg.count('class="edge"') == 5
    assert "dc/d· -3" in svg_texts(svg) and "data -5" in svg_texts(svg)


def no_dot(*args, **kwargs):
    raise graphviz.ExecutableNotFound(("dot",))


def test_missing_dot_writes_source_and_explains(tmp_path, monkeypatch):
    monkeypatch.setattr(graphviz.Digraph, "render", no_dot)
    _, _, c = small_graph()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = save_graph(draw_graph(c), str(tmp_path / "graph.png"))
    assert path == str(tmp_path / "graph.dot")
    assert "digraph" in Path(path).read_text(encoding="utf-8")
    assert "apt-get install graphviz" in str(caught[0].message)
    assert "dot -Tpng" in str(caught[0].message)


def test_jupyter_without_dot_falls_back_to_own_layout(monkeypatch):
    monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
    a, _b, c = small_graph()
    svg = draw_graph(c)._repr_mimebundle_()["image/svg+xml"]
    assert svg == draw_graph(c)._repr_image_svg_xml()
    values = {
        v.get("data-label"): v
        for v in ET.fromstring(svg).iter()
        if "value" in (v.get("class") or "").split()
    }
    assert values["a"].get("data-grad") == repr(a.grad) == "-3.0"
    assert values["c"].get("data-value") == repr(c.data)
    assert "dc/d· -3" in svg_texts(svg) and "<style>" in svg
    _, _, fresh = small_graph(backward=False)
    assert "dc/d· —" in svg_texts(draw_graph(fresh)._repr_mimebundle_()["image/svg+xml"])


def test_diagram_page_and_fallback_cut_and_caption_alike(monkeypatch):
    """One cut (the Values nearest the root) and one caption rule for every drawing."""
    y = Value(0.5, label="x")
    for i in range(30):  # the cut falls inside a layer: which parents come first matters
        y = (y * Value(1 + i / 100)).tanh() + y.sin()
    for label, caption in (("total6", "dtotal6/d·"), ("total_7", "grad")):
        y.label = label
        source = draw_graph(y, max_nodes=24).source
        drawn = sorted(re.findall(r"<td>data ([^<]+)</td>", source))
        page = explain(y).to_html(max_values=24)
        shown = sorted(f"{float(v):.4g}" for v in re.findall(r'data-value="([^"]+)"', page))
        assert len(drawn) == 24 and drawn == shown
        assert f"<td>{caption} —</td>" in source and f"<b>{caption}</b>" in page
        monkeypatch.setattr(graphviz.Digraph, "pipe", no_dot)
        fallback = draw_graph(y, max_nodes=24)._repr_image_svg_xml()
        monkeypatch.undo()
        assert sorted(re.findall(r'data-value="([^"]+)"', fallback)) == sorted(
            re.findall(r'data-value="([^"]+)"', page)
        )
        assert f"{caption} —" in svg_texts(fallback)


def test_a_label_that_is_not_a_string_is_refused_naming_it():
    with pytest.raises(TypeError, match="^Value: label must be a string or None, got int 5$"):
        Value(1.0, label=5)


@needs_dot
def test_control_characters_in_a_label_are_drawn_as_escapes(tmp_path):
    x = Value(2.0, label="esc\x1b nul\x00")
    y = x * 3.0
    y.label = 7  # set after creation: drawn as its text
    y.backward()
    path = save_graph(draw_graph(y), str(tmp_path / "graph.svg"))
    texts = svg_texts(Path(path).read_text(encoding="utf-8"))
    assert "esc\\x1b nul\\x00" in texts and "7" in texts
    page = explain(y).to_html()
    assert 'data-label="esc\\x1b nul\\x00"' in page
