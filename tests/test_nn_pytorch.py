"""Weights to and from PyTorch state dicts: nn.load_torch_state_dict, nn.torch_state_dict.

The reference outputs come from torch 2.13 (float64) on the same weights, kept as
literals; a live round trip runs where torch is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from tapegrad import Value, nn

W0 = [[0.5, -0.25, 0.125], [-0.75, 0.5, 0.25], [0.3, 0.2, -0.1], [0.05, -0.6, 0.9]]
B0 = [0.1, -0.2, 0.0, 0.3]
W3 = [[0.4, -0.3, 0.2, 0.1], [-0.5, 0.6, -0.7, 0.8]]
B3 = [0.05, -0.05]
BN = {
    "2.weight": [1.5, 0.5, 1.0, 2.0],
    "2.bias": [0.1, 0.0, -0.1, 0.2],
    "2.running_mean": [0.2, -0.1, 0.0, 0.4],
    "2.running_var": [1.5, 0.5, 2.0, 0.8],
    "2.num_batches_tracked": 7,
}
X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-2.0, 0.25, 0.75]]

# torch.nn.Sequential(Linear(3, 4), ReLU(), BatchNorm1d(4), Linear(4, 2)).double() with
# the weights above, on the batch X.
TORCH_EVAL = [
    [-0.0054976123611139155, -0.8166160267181911],
    [1.0354208288403375, 4.393552331535956],
    [-0.2985799841706254, 1.5603930717224384],
]
TORCH_TRAIN = [
    [-0.13922296667341472, -2.0926618214444797],
    [1.1784476367500596, 1.5545190185381084],
    [-0.769224670076645, 0.9281428029063714],
]
TORCH_RUNNING_MEAN = [0.21250000000000002, -0.03625000000000001, 0.02666666666666667, 0.485]
TORCH_RUNNING_VAR = [1.3816875000000002, 0.536671875, 1.8213333333333335, 0.9694375000000001]
# torch.nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2)) with W0, B0, W3, B3, on X.
TORCH_MLP = [[0.21, -0.61], [0.7425, 1.8824999999999998], [-0.36125, 1.4975]]


class Listy:
    """Anything with tolist(), as a torch tensor."""

    def __init__(self, value):
        self.value = value

    def tolist(self):
        return self.value


def _torch_state() -> dict:
    return {
        "0.weight": W0,
        "0.bias": np.array(B0),
        "3.weight": Listy(W3),
        "3.bias": B3,
        **BN,
    }


def _net(seed: int = 0) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(3, 4, seed=seed), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2, seed=seed + 1)
    )


def _data(rows):
    return [[v.data for v in row] for row in rows]


def _close(got, expected) -> bool:
    """Equal shapes and numbers equal to 1e-12 (relative)."""
    return np.shape(got) == np.shape(expected) and np.allclose(
        got, expected, rtol=1e-12, atol=1e-15
    )


def test_loaded_sequential_computes_pytorchs_numbers():
    net = _net()
    result = nn.load_torch_state_dict(net, _torch_state())
    assert result == nn.IncompatibleKeys([], [])
    assert net[0].neurons[1].w[0].data == -0.75 and net[3].neurons[1].b.data == -0.05
    assert net[2].gamma[0].data == 1.5 and net[2].running_var == [1.5, 0.5, 2.0, 0.8]
    assert net[2].num_batches_tracked == 7
    assert _close(_data(net.eval()(X)), TORCH_EVAL)
    assert _close(_data(net.train()(X)), TORCH_TRAIN)
    assert _close(net[2].running_mean, TORCH_RUNNING_MEAN)
    assert _close(net[2].running_var, TORCH_RUNNING_VAR)
    assert net[2].num_batches_tracked == 8


def test_loaded_mlp_computes_pytorchs_numbers():
    mlp = nn.MLP(3, [4, 2], seed=5)
    nn.load_torch_state_dict(mlp, {"0.weight": W0, "0.bias": B0, "2.weight": W3, "2.bias": B3})
    assert _close([[v.data for v in mlp(x)] for x in X], TORCH_MLP)
    assert len(mlp.parameters()) == 26


def test_torch_state_dict_gives_pytorchs_names_and_shapes():
    net = _net()
    nn.load_torch_state_dict(net, _torch_state())
    assert nn.torch_state_dict(net) == {
        "0.weight": W0,
        "0.bias": B0,
        **BN,
        "3.weight": W3,
        "3.bias": B3,
    }
    mlp = nn.MLP(3, [4, 2], seed=0)
    assert list(nn.torch_state_dict(mlp)) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert nn.torch_state_dict(mlp)["2.weight"][1][3] == mlp.layers[1].neurons[1].w[3].data


def test_norms_without_parameters_and_layers_without_bias():
    net = nn.Sequential(nn.Linear(2, 2, bias=False, seed=0), nn.BatchNorm1d(2, affine=False))
    assert list(nn.torch_state_dict(net)) == [
        "0.weight",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    layer_norm = nn.Sequential(nn.Linear(2, 2, seed=0), nn.Tanh(), nn.LayerNorm(2))
    state = nn.torch_state_dict(layer_norm)
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    state["2.weight"] = [3.0, 4.0]
    nn.load_torch_state_dict(layer_norm, state)
    assert [g.data for g in layer_norm[2].gamma] == [3.0, 4.0]


def test_nested_containers_and_own_modules_are_named_by_path():
    class Net(nn.Module):
        def __init__(self):
            self.body = nn.Sequential(nn.Linear(2, 3, seed=0), nn.ReLU())
            self.heads = nn.ModuleList([nn.Linear(3, 1, seed=1)])

    assert list(nn.torch_state_dict(Net())) == [
        "body.0.weight",
        "body.0.bias",
        "heads.0.weight",
        "heads.0.bias",
    ]


def test_every_mismatch_is_listed_and_nothing_changes():
    net = _net()
    before = net.state_dict()
    state = _torch_state()
    state["0.weight"] = [row[:2] for row in W0]  # (4, 2) instead of (4, 3)
    state["3.bias"] = [0.0, 0.0, 0.0]
    state["2.running_var"] = [1.0, float("inf"), 1.0, 1.0]
    state["2.weight"] = [[1.0, 2.0], [3.0]]
    state["2.num_batches_tracked"] = -1
    with pytest.raises(ValueError) as error:
        nn.load_torch_state_dict(net, state)
    assert str(error.value).splitlines() == [
        "load_torch_state_dict: state does not fit this Sequential:",
        "  0.weight: expected shape (4, 3), got (4, 2)",
        "  2.weight: expected numbers of shape (4,), got [[1.0, 2.0], [3.0]]",
        "  2.running_var: holds a value that is not a finite number",
        "  2.num_batches_tracked: expected a count (an int >= 0), got -1.0",
        "  3.bias: expected shape (2,), got (3,)",
    ]
    assert net.state_dict() == before and net[2].num_batches_tracked == 0


def test_negative_running_variance_is_refused_by_the_model():
    state = _torch_state()
    state["2.running_var"] = [1.0, -1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"2.running_var: element 1 is -1.0; a variance cannot"):
        nn.load_torch_state_dict(_net(), state)


def test_strict_keys_and_non_strict_load():
    state = _torch_state()
    del state["3.bias"]
    state["4.weight"] = [[1.0]]
    with pytest.raises(ValueError) as error:
        nn.load_torch_state_dict(_net(), state)
    assert str(error.value).splitlines()[1:] == [
        "  missing 1 entries: 3.bias",
        "  unexpected 1 entries: 4.weight",
    ]
    net = _net()
    bias = net[3].neurons[0].b.data
    assert nn.load_torch_state_dict(net, state, strict=False) == (["3.bias"], ["4.weight"])
    assert net[3].neurons[0].b.data == bias and net[3].neurons[0].w[0].data == 0.4


@pytest.mark.parametrize(
    "model, error, match",
    [
        (
            nn.Sequential(nn.Linear(2, 2, "relu", seed=0)),
            ValueError,
            r"torch_state_dict: 0: a Linear with activation 'relu' has no PyTorch twin .*followed by nn.ReLU\(\)",
        ),
        (
            nn.Neuron(2, seed=0),
            ValueError,
            r"torch_state_dict: Neuron has state with no PyTorch twin: w, b",
        ),
        ("model", TypeError, r"torch_state_dict: expected a tapegrad Module, got str 'model'"),
    ],
)
def test_models_without_a_pytorch_twin_are_refused(model, error, match):
    with pytest.raises(error, match=match):
        nn.torch_state_dict(model)
    with pytest.raises(error, match=match):
        nn.load_torch_state_dict(model, {})


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"load_torch_state_dict: expected a dict, got list"):
        nn.load_torch_state_dict(_net(), [])
    with pytest.raises(TypeError, match=r"load_torch_state_dict: strict must be a bool, got 1"):
        nn.load_torch_state_dict(_net(), _torch_state(), strict=1)
    state = _torch_state()
    state["0.bias"] = "0.1"
    with pytest.raises(ValueError, match=r"0.bias: expected numbers of shape \(4,\), got '0.1'"):
        nn.load_torch_state_dict(_net(), state)


def test_live_round_trip_with_pytorch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    twin = torch.nn.Sequential(
        torch.nn.Linear(3, 5),
        torch.nn.ReLU(),
        torch.nn.BatchNorm1d(5),
        torch.nn.Linear(5, 4),
        torch.nn.Tanh(),
        torch.nn.LayerNorm(4),
        torch.nn.Linear(4, 2),
    ).double()
    with torch.no_grad():  # running statistics that are not the defaults
        twin.train()(torch.randn(8, 3, dtype=torch.float64))
    net = nn.Sequential(
        nn.Linear(3, 5),
        nn.ReLU(),
        nn.BatchNorm1d(5),
        nn.Linear(5, 4),
        nn.Tanh(),
        nn.LayerNorm(4),
        nn.Linear(4, 2),
    )
    nn.load_torch_state_dict(net, twin.state_dict())
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    twin.eval()
    assert _close(_data(net.eval()(X)), twin(x).tolist())
    # The gradient of the sum of outputs with respect to the inputs, both ways.
    inputs = [[Value(v) for v in row] for row in X]
    Value.sum([v for row in net(inputs) for v in row]).backward()
    twin(x).sum().backward()
    assert _close([[v.grad for v in row] for row in inputs], x.grad.tolist())
    # Back: tapegrad's changed weights into PyTorch, which then computes the same.
    for p in net.parameters():
        p.data *= 1.5
    net[2].running_mean[0] = 0.25
    state = nn.torch_state_dict(net)
    twin.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in state.items()})
    assert _close(_data(net(X)), twin(x).tolist())
    assert twin[2].running_mean[0].item() == 0.25
    assert twin[2].num_batches_tracked.item() == 1
