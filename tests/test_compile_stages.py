"""Each stage of the compiler alone, against its small printed form:
trace -> TracedGraph, schedule -> Schedule, codegen -> Program, runtime."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tapegrad import CompileError, Value, compile, nn
from tapegrad.compiler import runtime
from tapegrad.compiler.codegen import generate
from tapegrad.compiler.schedule import MapGroup, MatMulGroup, describe, schedule
from tapegrad.compiler.trace import format_graph, trace


def _neuron():
    """f(x) = 3 tanh(w x + b) with w = 2, b = 0.5."""
    w, b = Value(2.0, label="w"), Value(0.5, label="b")
    return (lambda x: (w * x + b).tanh() * 3.0), [w, b]


def _mlp_231():
    model = nn.MLP(2, [3, 1], seed=0)
    return (lambda x: model(x)[0]), model.parameters()


def test_trace_prints_its_nodes_levels_and_flags():
    fn, params = _neuron()
    graph = trace(fn, "f", params, [np.array(0.25)], {})
    assert format_graph(graph) == "\n".join(
        [
            "#0   L0 G  param w",
            "#1   L0 G  param b",
            "#2   L0 B  input arg0[0]",
            "#3   L1 BG mul(#0, #2)",
            "#4   L2 BG add(#3, #1)",
            "#5   L3 BG tanh(#4)",
            "#6   L4 BG mul 3(#5)",
            "roots [[6]]",
        ]
    )
    assert graph.shapes == ((),)


def test_trace_records_one_root_per_label_and_merges_shared_nodes():
    w = Value(1.5, label="w")
    graph = trace(lambda x, t: (w * x - t) ** 2, "sq", [w], [np.array(2.0), None], {1: (0, 1)})
    # w * x is shared by both labels; each label has its own sub and square.
    assert [n.op.name for n in graph.nodes if n.kind == "op"] == [
        "mul",
        "sub",
        "powc",
        "sub",
        "powc",
    ]
    assert graph.roots.tolist() == [[4], [6]]
    assert graph.shapes == ((), None)


def test_trace_refuses_a_random_function():
    rng = np.random.default_rng(0)
    w = Value(1.0)
    with pytest.raises(CompileError, match="not deterministic"):
        trace(lambda x: w * x * float(rng.random()), "noisy", [w], [np.array(1.0)], {})


def test_schedule_of_a_2_3_1_mlp_is_two_matmuls_around_one_relu():
    fn, params = _mlp_231()
    plan = schedule(trace(fn, "mlp", params, [np.array([0.5, -1.0])], {}))
    assert describe(plan, "mlp") == "\n".join(
        [
            "compiled mlp: 7 op nodes in 3 groups over 3 levels, 2 matmuls, 13 parameters",
            "  level   1  dot as matmul 3x2                x3      per sample",
            "  level   2  relu                             x3      per sample",
            "  level   3  dot as matmul 1x3                x1      per sample",
        ]
    )
    assert [type(g) for g in plan.groups] == [MatMulGroup, MapGroup, MatMulGroup]
    # The parameters in params order: each neuron's weights, then its bias.
    assert plan.layout_index.tolist() == list(range(13))
    # slots: params, constants, the input, then one per group
    assert plan.sizes == (13, 0, 2, 3, 3, 1)
    assert plan.columns == (False, False, True, True, True, True)
    assert plan.groups[0].weights.positions == tuple((0, r) for r in (0, 1, 3, 4, 6, 7))
    assert plan.groups[0].bias.positions == ((0, 2), (0, 5), (0, 8))
    assert plan.assigned == {3, 4, 5} and plan.accumulated == (0,)


def test_codegen_writes_each_matmul_as_one_product_on_strided_views_of_the_parameters():
    fn, params = _mlp_231()
    plan = schedule(trace(fn, "mlp", params, [np.array([0.5, -1.0])], {}))
    source = generate(plan, "mlp").source
    for line in (
        "w3 = s0[0:9].reshape(3, 3)[:, :2]",
        "s3 = w3 @ x3 + s0[2:9:3]",
        "w5 = s0[9:12].reshape(1, 3)",
        "s5 = w5 @ x5 + s0[12:13]",
        "np.matmul(g3, x3.T, out=g0[0:9].reshape(3, 3)[:, :2])",
        "reduce(g3, axis=1, keepdims=True, out=g0[2:9:3])",
        "np.matmul(g5, x5.T, out=g0[9:12].reshape(1, 3))",
        "g0 = np.empty((13, 1))",  # every row is assigned once: no zeros, no adding
        "return roots, g0",
    ):
        assert f"        {line}\n" in source, line


def test_a_layer_applied_twice_adds_its_second_gradient_into_the_first():
    layer = nn.Linear(2, 2, seed=1)
    params = layer.parameters()
    fn = lambda x: Value.sum(layer(layer(x)))
    X = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    eager = Value.sum([fn([Value(v) for v in x]) for x in X.tolist()]) / len(X)
    eager.backward()
    expected = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    compiled = compile(fn, params)
    assert compiled(X) == pytest.approx(eager.data, rel=1e-14)
    assert [p.grad for p in params] == pytest.approx(expected, rel=1e-13)
    # Backward meets the outer product first: it assigns, the inner one adds.
    for line in (
        "g0 = np.empty((6, 1))",
        "np.matmul(g4, x4.T, out=g0[0:6].reshape(2, 3)[:, :2])",
        "g0[0:6].reshape(2, 3)[:, :2] += g3 @ x3.T",
    ):
        assert f"        {line}\n" in compiled.source, line


def test_runtime_runs_a_program_on_arrays_alone():
    fn, params = _neuron()
    plan = schedule(trace(fn, "f", params, [np.array(0.25)], {}))
    program = generate(plan, "f")
    xs = np.array([0.25, -1.0, 2.0])
    batch = runtime.Batch([xs.reshape(1, -1)], None, 3)
    column = np.array([[2.0], [0.5]])  # the layout: w, b
    assert plan.layout_index.tolist() == [0, 1]
    t = np.tanh(2.0 * xs + 0.5)
    np.testing.assert_allclose(runtime.outputs(program, column, batch), 3.0 * t, rtol=1e-15)
    loss, grads = runtime.forward_backward(program, column, batch, "sum")
    assert loss == pytest.approx(float(np.sum(3.0 * t)), rel=1e-15)
    # d/dw sum 3 tanh(w x + b) = sum 3 (1 - t^2) x ; d/db = sum 3 (1 - t^2)
    np.testing.assert_allclose(
        grads[:, 0], [np.sum(3 * (1 - t * t) * xs), np.sum(3 * (1 - t * t))], rtol=1e-14
    )
    assert math.isclose(
        runtime.forward_backward(program, column, batch, "mean")[0], loss / 3, rel_tol=1e-15
    )
