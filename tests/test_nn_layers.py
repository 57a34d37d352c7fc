"""Layers: parameter counts, graph shape, gradients, BatchNorm, LayerNorm, Dropout.

BatchNorm and LayerNorm reference numbers come from torch 2.13 (float64), kept as
literals; ``test_norms_live_against_torch`` repeats the comparison when torch exists.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tapegrad import Value, detect_anomaly, gradcheck, nn, no_grad
from tapegrad.autograd.engine import topological_order


def with_parameters(module: nn.Module, values) -> None:
    """Put ``values`` in place of the module's parameters (in parameters() order)."""
    it = iter(values)

    def replace(v):
        if isinstance(v, Value):
            return next(it)
        if isinstance(v, nn.Module):
            for key, child in vars(v).items():
                if not key.startswith("_"):
                    setattr(v, key, replace(child))
            return v
        if isinstance(v, list):
            return [replace(x) for x in v]
        return v

    replace(module)


def check_module(module: nn.Module, x, call=None) -> bool:
    """gradcheck of the module's output with respect to its parameters and its input."""
    call = call or (lambda m, inputs: m(inputs))
    params = [p.data for p in module.parameters()]
    k = len(params)
    shape = [len(row) for row in x] if isinstance(x[0], list) else None

    def f(values):
        with_parameters(module, values[:k])
        inputs = values[k:]
        if shape:
            it = iter(inputs)
            inputs = [[next(it) for _ in range(n)] for n in shape]
        out = call(module, inputs)
        return [v for row in out for v in row] if shape else out

    flat = [v for row in x for v in row] if shape else list(x)
    return gradcheck(f, params + flat)


PARAMETER_COUNTS = [
    ("MLP 784-16-16-10 (article 002)", lambda: nn.MLP(784, [16, 16, 10], seed=0), 13_002),
    ("MLP 2-16-16-1 (moons)", lambda: nn.MLP(2, [16, 16, 1], seed=0), 337),
    ("MLP 1-2-1 (article 004)", lambda: nn.MLP(1, [2, 1], "sigmoid", seed=0), 7),
    ("Linear 3->4", lambda: nn.Linear(3, 4, seed=0), 16),
    ("Linear 3->4 no bias", lambda: nn.Linear(3, 4, bias=False, seed=0), 12),
    ("Neuron 5", lambda: nn.Neuron(5, seed=0), 6),
    ("BatchNorm1d 4", lambda: nn.BatchNorm1d(4), 8),
    ("BatchNorm1d 4 not affine", lambda: nn.BatchNorm1d(4, affine=False), 0),
    ("LayerNorm 4", lambda: nn.LayerNorm(4), 8),
    ("Dropout", lambda: nn.Dropout(0.5, seed=0), 0),
]


@pytest.mark.parametrize(
    "name, make, count", PARAMETER_COUNTS, ids=[c[0] for c in PARAMETER_COUNTS]
)
def test_parameter_count(name, make, count):
    model = make()
    assert len(model.parameters()) == count
    assert len(model.named_parameters()) == count
    assert (
        sum(
            len(v) if isinstance(v, list) else 1
            for k, v in model.state_dict().items()
            if not k.startswith("running")
        )
        == count
    )


def test_mlp_784_16_16_10_is_12960_weights_and_42_biases():
    names = [name for name, _ in nn.MLP(784, [16, 16, 10], seed=0).named_parameters()]
    assert sum(".w." in n for n in names) == 12_960
    assert sum(n.endswith(".b") for n in names) == 42


def test_neuron_is_one_dot_node_and_one_activation_node():
    neuron = nn.Neuron(100, "tanh", seed=0)
    out = neuron([0.5] * 100)
    assert [v.op for v in topological_order(out)] == ["dot", "tanh"]
    dot = out.parents[0]
    assert dot.parents[:100] == tuple(neuron.w) and dot.parents[-1] is neuron.b


@pytest.mark.parametrize("bias, parents", [(True, 7), (False, 6)])
def test_linear_neuron_has_no_activation_node(bias, parents):
    out = nn.Neuron(3, "linear", bias=bias, seed=0)([1.0, 2.0, 3.0])
    assert [v.op for v in topological_order(out)] == ["dot"]
    assert len(out.parents) == parents  # w_1..w_3, x_1..x_3 (, b)


def test_neuron_computes_activation_of_w_dot_x_plus_b():
    neuron = nn.Neuron(2, "relu", init=nn.init.constant(0.5), seed=0)
    neuron.b.data = -1.0
    assert neuron([3.0, 1.0]).data == 1.0
    assert neuron([-3.0, 1.0]).data == 0.0


def test_linear_computes_each_neuron_with_the_neurons_own_forward():
    class Clipped(nn.Neuron):
        """A neuron whose output is clipped at 0.5."""

        def forward(self, x):
            out = super().forward(x)
            return out - (out - 0.5).relu()

    layer = nn.Linear(2, 3, "tanh", seed=0)
    plain = layer([Value(1.0), Value(2.0)])
    layer.neurons[1] = Clipped(2, "tanh", init=nn.init.constant(1.0))
    x = [Value(1.0), Value(2.0)]
    out = layer(x)
    assert [v.data for v in out] == [n(x).data for n in layer.neurons]
    assert out[1].data == 0.5 and out[1].op == "sub"
    assert out[0].op == "tanh" and out[0].parents[0].op == "dot"
    assert [out[0].data, out[2].data] == [plain[0].data, plain[2].data]


@pytest.mark.parametrize(
    "layer, x",
    [
        (nn.Linear(3, 1, seed=0), [1.0, 2.0, 3.0]),
        (nn.MLP(2, [1], seed=0), [1.0, 2.0]),
        (nn.MLP(2, [4, 3], seed=0), [1.0, 2.0]),
    ],
    ids=["Linear 3->1", "MLP 2-1", "MLP 2-4-3"],
)
def test_layers_always_return_lists(layer, x):
    out = layer(x)
    assert isinstance(out, list) and all(isinstance(v, Value) for v in out)
    assert len(out) == (layer.nout if isinstance(layer, nn.Linear) else layer.layers[-1].nout)


def test_mlp_activations_and_output_activation():
    model = nn.MLP(2, [3, 3, 2], "tanh", "sigmoid", seed=0)
    assert [n.activation for layer in model.layers for n in layer.neurons[:1]] == [
        "tanh",
        "tanh",
        "sigmoid",
    ]
    assert nn.MLP(2, [3, 1], seed=0).layers[-1].neurons[0].activation == "linear"


def test_custom_activation_function():
    neuron = nn.Neuron(1, lambda v: v * v, init=nn.init.constant(2.0), seed=0)
    assert neuron([3.0]).data == 36.0


GRADCHECK_MODULES = [
    ("Neuron relu", lambda: nn.Neuron(3, "relu", seed=1), [0.5, -1.0, 2.0]),
    ("Neuron leaky_relu", lambda: nn.Neuron(3, "leaky_relu", seed=2), [0.5, -1.0, 2.0]),
    ("Neuron sigmoid", lambda: nn.Neuron(3, "sigmoid", seed=3), [0.5, -1.0, 2.0]),
    ("Neuron tanh", lambda: nn.Neuron(3, "tanh", seed=4), [0.5, -1.0, 2.0]),
    ("Linear", lambda: nn.Linear(3, 2, seed=5), [0.5, -1.0, 2.0]),
    ("MLP relu", lambda: nn.MLP(2, [4, 3], seed=6), [0.7, -0.3]),
    ("MLP tanh/sigmoid", lambda: nn.MLP(2, [3, 2], "tanh", "sigmoid", seed=7), [0.7, -0.3]),
    ("LayerNorm", lambda: nn.LayerNorm(4), [1.0, -2.0, 0.5, 3.0]),
]


@pytest.mark.parametrize("name, make, x", GRADCHECK_MODULES, ids=[c[0] for c in GRADCHECK_MODULES])
def test_gradcheck_layers(name, make, x):
    module = make()
    # Non-trivial affine parameters, so that their gradients are tested too.
    for i, p in enumerate(module.parameters()):
        p.data += 0.1 * ((i * 7) % 5 - 2)
    assert check_module(module, x)


BATCH = [[1.0, -2.0, 0.5], [2.0, 0.0, 0.25], [-1.0, 1.0, 3.0], [0.5, 4.0, -1.0]]
COEF = [[0.3, -1.0, 2.0], [1.0, 0.5, -0.2], [0.7, 0.1, 0.4], [-0.6, 0.9, 1.3]]


def _batchnorm() -> nn.BatchNorm1d:
    bn = nn.BatchNorm1d(3)
    for p, x in zip(bn.gamma + bn.beta, [1.5, -0.5, 2.0, 0.1, 0.2, -0.3]):
        p.data = x
    return bn


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_batchnorm(mode):
    bn = _batchnorm()
    if mode == "eval":
        bn.running_mean, bn.running_var = [0.5, -0.2, 1.0], [2.0, 0.5, 1.5]
        bn.eval()
    assert check_module(bn, BATCH)


def test_batchnorm_training_matches_torch():
    bn = _batchnorm()
    x = [[Value(v) for v in row] for row in BATCH]
    out = bn(x)
    Value.sum([Value.dot(c, o) for c, o in zip(COEF, out)]).backward()
    assert [[v.data for v in row] for row in out] == pytest.approx(
        np.array(
            [
                [0.6196130252598184, 0.8350846186853564, -0.5584376816235381],
                [2.005247759286001, 0.3732048960050972, -0.9030212571215891],
                [-2.151656442792546, 0.1422650346649676, 2.8873980733569713],
                [-0.07320434175327273, -0.5505545493554213, -2.625939134611844],
            ]
        ),
        rel=1e-12,
    )
    assert [[v.grad for v in row] for row in x] == pytest.approx(
        np.array(
            [
                [-0.11639291564280567, 0.07944369707678464, 1.502870485222942],
                [0.7279215876648645, -0.1357925335291471, -1.5931391185176227],
                [0.6891205989889823, 0.02217019170903607, -0.06572300438742046],
                [-1.3006492710110409, 0.03417864474332638, 0.1559916376821013],
            ]
        ),
        rel=1e-9,
    )
    assert [g.grad for g in bn.gamma] == pytest.approx(
        [0.392596507974085, 2.4595095232723807, -1.0725163787376835], rel=1e-12
    )
    assert [b.grad for b in bn.beta] == pytest.approx([1.4, 0.5, 3.5], rel=1e-12)
    # running = 0.9 * running + 0.1 * batch statistic (unbiased variance), as torch.
    assert bn.running_mean == pytest.approx([0.0625, 0.075, 0.06875], rel=1e-12)
    assert bn.running_var == pytest.approx([1.05625, 1.525, 1.1807291666666666], rel=1e-12)


def test_batchnorm_eval_uses_running_statistics():
    bn = _batchnorm()
    bn(BATCH)
    bn.eval()
    out = bn(BATCH)
    assert [[v.data for v in row] for row in out] == pytest.approx(
        np.array(
            [
                [1.4682867412604175, 1.0401401880071475, 0.4937470403517367],
                [2.9277925986048627, 0.23036651281953546, 0.03360382855362848],
                [-1.450724973428473, -0.17452032477427054, 5.095179158332819],
                [0.7385338125881948, -1.3891808375556884, -2.2671122304369127],
            ]
        ),
        rel=1e-12,
    )
    # Eval mode leaves the statistics alone and normalises a single sample.
    before = list(bn.running_mean)
    single = bn([BATCH[0]])
    assert [v.data for v in single[0]] == pytest.approx([v.data for v in out[0]], rel=1e-15)
    assert bn.running_mean == before


def test_batchnorm_eval_without_affine_gives_values_for_numbers():
    # Numbers in, Values out (constants), as in training mode and from LayerNorm.
    bn = nn.BatchNorm1d(2, affine=False)
    bn.eval()
    w = Value(3.0)
    out = bn([[1.0, 2], [w, np.float64(-4.0)]])
    assert [[type(v) for v in row] for row in out] == [[Value, Value], [Value, Value]]
    scale = 1.0 / math.sqrt(1.0 + 1e-5)  # running mean 0, running variance 1
    assert [[v.data for v in row] for row in out] == [[scale, 2 * scale], [3 * scale, -4 * scale]]
    assert [v.grad for v in out[0]] == [None, None]
    out[1][0].backward()
    assert w.grad == scale


def test_batchnorm_training_normalises_each_feature():
    bn = nn.BatchNorm1d(3)
    out = bn(BATCH)
    for j in range(3):
        column = [row[j].data for row in out]
        assert np.mean(column) == pytest.approx(0.0, abs=1e-12)
        assert np.var(column) == pytest.approx(1.0, rel=1e-4)  # eps keeps it just below 1


def test_batchnorm_train_and_eval_differ_until_statistics_converge():
    bn = nn.BatchNorm1d(3, momentum=1.0)  # running stats := last batch's
    train_out = bn(BATCH)
    bn.eval()
    eval_out = bn(BATCH)
    m = len(BATCH)
    # Same mean; eval divides by the unbiased variance, train by the biased one.
    ratio = eval_out[0][0].data / train_out[0][0].data
    assert ratio == pytest.approx(((m - 1) / m) ** 0.5, rel=1e-5)


def test_batchnorm_needs_two_samples_in_training():
    with pytest.raises(ValueError, match="at least 2 samples"):
        nn.BatchNorm1d(3)([BATCH[0]])


@pytest.mark.parametrize(
    "batch, error, match",
    [
        ([], ValueError, "non-empty list of samples"),
        ([[1.0, 2.0]] * 2, ValueError, "3 features"),
        ([1.0, 2.0, 3.0], TypeError, "list of 3 values"),
    ],
)
def test_batchnorm_rejects_malformed_batches(batch, error, match):
    with pytest.raises(error, match=match):
        nn.BatchNorm1d(3)(batch)


def test_layernorm_matches_torch():
    ln = nn.LayerNorm(4)
    for p, v in zip(ln.gamma + ln.beta, [1.5, -0.5, 2.0, 1.0, 0.1, 0.2, -0.3, 0.0]):
        p.data = v
    x = [Value(v) for v in (1.0, -2.0, 0.5, 3.0)]
    out = ln(x)
    Value.dot([0.3, -1.0, 2.0, 0.5], out).backward()
    assert [v.data for v in out] == pytest.approx(
        [0.41583758498295564, 0.9369543649602299, -0.4403722599924247, 1.333536469928035], rel=1e-12
    )
    assert [v.grad for v in x] == pytest.approx(
        [-0.5047869686719677, -0.5372867590765432, 1.4784034161532864, -0.4363296884047759],
        rel=1e-9,
    )


def test_norms_live_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    data = rng.normal(size=(6, 5)).tolist()
    tbn = torch.nn.BatchNorm1d(5, dtype=torch.float64)
    bn = nn.BatchNorm1d(5)
    for _ in range(3):  # three training steps, then eval
        out = bn(data)
        expected = tbn(torch.tensor(data, dtype=torch.float64)).tolist()
        assert [[v.data for v in row] for row in out] == pytest.approx(
            np.array(expected), rel=1e-10
        )
    assert bn.running_var == pytest.approx(tbn.running_var.tolist(), rel=1e-12)
    bn.eval()
    tbn.eval()
    expected = tbn(torch.tensor(data, dtype=torch.float64)).tolist()
    assert [[v.data for v in row] for row in bn(data)] == pytest.approx(
        np.array(expected), rel=1e-10
    )
    tln = torch.nn.LayerNorm(5, dtype=torch.float64)
    expected = tln(torch.tensor(data[0], dtype=torch.float64)).tolist()
    assert [v.data for v in nn.LayerNorm(5)(data[0])] == pytest.approx(expected, rel=1e-10)


def test_dropout_keep_rate_and_scaling():
    p, n = 0.3, 20_000
    drop = nn.Dropout(p, seed=0)
    out = drop([Value(1.0) for _ in range(n)])
    kept = [v.data for v in out if v.data != 0.0]
    assert len(kept) / n == pytest.approx(1 - p, abs=0.01)  # ~6 sigma of the binomial
    assert set(kept) == {1.0 / (1 - p)}  # inverted dropout: survivors scaled by 1/(1-p)


def test_dropout_is_identity_in_eval_mode():
    drop = nn.Dropout(0.9, seed=0)
    drop.eval()
    x = [Value(v) for v in (1.0, -2.0, 3.0)]
    assert drop(x) == x


@pytest.mark.parametrize("p, expected", [(0.0, [1.0, -2.0, 3.0]), (1.0, [0.0, 0.0, 0.0])])
def test_dropout_extreme_probabilities(p, expected):
    assert [
        float(v) for v in nn.Dropout(p, seed=0)([Value(1.0), Value(-2.0), Value(3.0)])
    ] == expected


def test_dropout_masks_come_from_the_seed():
    x = [Value(1.0)] * 50
    masks = [[v.data for v in nn.Dropout(0.5, seed=s)(x)] for s in (1, 1, 2)]
    assert masks[0] == masks[1] != masks[2]


def test_gradcheck_dropout_with_fixed_mask():
    drop = nn.Dropout(0.5, seed=0)

    def call(module, inputs):
        module._rng = np.random.default_rng(3)  # the same mask for every evaluation
        return module(inputs)

    assert check_module(drop, [0.5, -1.0, 2.0, 1.5, -0.5, 0.25], call)


def test_dropout_rejects_bad_probability():
    with pytest.raises(ValueError, match=r"Dropout: p must be a number in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)


def test_models_are_reproducible_from_a_seed_or_generator():
    def weights(model):
        return [p.data for p in model.parameters()]

    assert weights(nn.MLP(2, [4, 1], seed=3)) == weights(nn.MLP(2, [4, 1], seed=3))
    assert weights(nn.MLP(2, [4, 1], seed=3)) != weights(nn.MLP(2, [4, 1], seed=4))
    same = weights(nn.MLP(2, [4, 1], rng=np.random.default_rng(3)))
    assert same == weights(nn.MLP(2, [4, 1], seed=3))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: nn.MLP(2, [4, 1], seed=1, rng=np.random.default_rng(1)), ValueError, "not both"),
        (lambda: nn.MLP(2, [4, 1], rng=1), TypeError, "numpy.random.Generator"),
        (lambda: nn.MLP(2, [4, 1], seed=1.5), TypeError, "seed must be an int"),
        (lambda: nn.MLP(2, [], seed=0), ValueError, "non-empty list"),
        (lambda: nn.MLP(0, [3], seed=0), ValueError, "nin must be a positive int"),
        (lambda: nn.Linear(2, 0, seed=0), ValueError, "nout must be a positive int"),
        (lambda: nn.MLP(2, [3], "softplus", seed=0), ValueError, "unknown activation"),
        (lambda: nn.BatchNorm1d(3, eps=0), ValueError, "eps must be a positive"),
        (lambda: nn.BatchNorm1d(3, momentum=2), ValueError, "momentum must be"),
    ],
)
def test_bad_construction_is_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_wrong_input_length_names_the_layer():
    with pytest.raises(ValueError, match=r"Linear\(2 -> 4\): got 3 inputs"):
        nn.MLP(2, [4, 1], seed=0)([1.0, 2.0, 3.0])


def test_forward_under_no_grad_builds_no_graph():
    model = nn.MLP(2, [3, 1], seed=0)
    with no_grad():
        out = model([1.0, 2.0])
    assert out[0].grad is None and out[0].parents == ()


def test_aliases():
    assert nn.Layer is nn.Linear and nn.BatchNorm is nn.BatchNorm1d


def test_inputs_may_be_numbers_values_or_numpy_scalars():
    model = nn.MLP(2, [3, 1], seed=0)
    expected = model([Value(1.0), Value(2.0)])[0].data
    for x in ([1.0, 2.0], [1, 2], [np.float64(1.0), np.int64(2)], [Value(1.0), 2.0]):
        assert model(x)[0].data == expected


def test_non_numeric_input_is_refused():
    with pytest.raises(TypeError, match="real number"):
        nn.Linear(2, 2, seed=0)(["a", 1.0])


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (
            "x",
            TypeError,
            r"BatchNorm1d: sample 1: feature 1 must be a real number or a Value, got str 'x'",
        ),
        (
            None,
            TypeError,
            r"BatchNorm1d: sample 1: feature 1 must be a real number or a Value, got NoneType",
        ),
        (
            10**400,
            OverflowError,
            r"BatchNorm1d: sample 1: feature 1 \(10{400}\) is too large for a float",
        ),
    ],
    ids=["str", "None", "400 digits"],
)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_checks_every_value_before_it_updates_a_statistic(bad, error, match, training):
    bn = nn.BatchNorm1d(3).train(training)
    with pytest.raises(error, match=match):
        bn([[1.0, 2.0, 3.0], [4.0, bad, 6.0]])
    assert (bn.running_mean, bn.running_var) == ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])


def test_batchnorm_updates_no_statistic_when_a_later_feature_fails():
    bn = nn.BatchNorm1d(3)
    batch = [[Value(1.0), Value(1e200), Value(3.0)], [Value(4.0), Value(-1e200), Value(6.0)]]
    with detect_anomaly(), pytest.raises(FloatingPointError, match="produced inf"):
        bn(batch)  # feature 1's squares overflow, after feature 0 is done
    assert (bn.running_mean, bn.running_var) == ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
