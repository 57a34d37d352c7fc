"""Drawing: the real ``dot`` renders the records, operations and edges we expect."""

import re
import shutil
import warnings

import graphviz
import pytest

from tapegrad import Value, draw_graph, save_graph

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' missing")


def small_graph():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b + 1.0
    c.label = "c"
    c.backward()
    return a, b, c


def test_records_show_label_data_and_grad():
    _, _, c = small_graph()
    source = draw_graph(c).source
    assert "{ a | data 2 | grad -3 }" in source
    assert "{ b | data -3 | grad 2 }" in source
    assert "{ c | data -5 | grad 1 }" in source
    assert re.search(r'label="\*"', source)  # the multiplication node
    assert re.search(r'label="\+ 1"', source)  # addition of the number 1
    assert "rankdir=LR" in source


def test_edges_follow_data_flow():
    _, _, c = small_graph()
    source = draw_graph(c).source
    edges = re.findall(r"(\w+) -> (\w+)", source)
    records = dict(re.findall(r'(v\d+) \[label="\{ (\w) \|', source))
    names = {label: node for node, label in records.items()}
    # a and b feed the "*" node, whose result feeds "+ 1", which feeds c.
    mul = [dst for src, dst in edges if src == names["a"]][0]
    assert (names["b"], mul) in edges
    product = [dst for src, dst in edges if src == mul][0]
    add = [dst for src, dst in edges if src == product][0]
    assert (add, names["c"]) in edges
    assert len(edges) == 5


def test_non_commutative_inputs_are_labelled():
    a, b = Value(1.0), Value(2.0)
    source = draw_graph(a - b).source
    assert 'label=a' in source and 'label=b' in source


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


def test_jupyter_displays_it_inline():
    _, _, c = small_graph()
    assert hasattr(draw_graph(c), "_repr_mimebundle_")


@needs_dot
def test_renders_svg_with_real_dot(tmp_path):
    _, _, c = small_graph()
    path = save_graph(draw_graph(c), str(tmp_path / "graph.svg"))
    svg = open(path, encoding="utf-8").read()
    assert path.endswith(".svg") and svg.lstrip().startswith(("<?xml", "<svg"))
    assert svg.count('class="node"') == 6  # four records (a, b, a*b, c), two operations
    assert svg.count('class="edge"') == 5
    assert "grad &#45;3" in svg and "data &#45;5" in svg  # dot escapes the minus sign


def test_missing_dot_writes_source_and_explains(tmp_path, monkeypatch):
    def no_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))

    monkeypatch.setattr(graphviz.Digraph, "render", no_dot)
    _, _, c = small_graph()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = save_graph(draw_graph(c), str(tmp_path / "graph.png"))
    assert path == str(tmp_path / "graph.dot")
    assert "digraph" in open(path, encoding="utf-8").read()
    assert "apt-get install graphviz" in str(caught[0].message)
    assert "dot -Tpng" in str(caught[0].message)
