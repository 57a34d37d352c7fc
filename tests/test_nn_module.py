"""Module: parameter discovery and names, train/eval, repr, state dicts, model files."""

from __future__ import annotations

import json
import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value, nn


class Block(nn.Module):
    """A custom module mixing every kind of attribute the discovery must handle."""

    def __init__(self) -> None:
        self.scale = Value(2.0)
        self.pair = [Value(1.0), Value(-1.0)]
        self.stack = [nn.Linear(2, 2, seed=0), nn.Dropout(0.5, seed=0)]
        self.norm = nn.BatchNorm1d(2)
        self.sizes = [2, 2]  # plain numbers are not parameters
        self._cache = Value(5.0)  # private attributes are skipped

    def forward(self, x):
        return self.stack[1](self.stack[0]([v * self.scale for v in x]))


def test_named_parameters_are_dotted_attribute_paths():
    names = [name for name, _ in Block().named_parameters()]
    assert names == [
        "scale",
        "pair.0",
        "pair.1",
        "stack.0.neurons.0.w.0",
        "stack.0.neurons.0.w.1",
        "stack.0.neurons.0.b",
        "stack.0.neurons.1.w.0",
        "stack.0.neurons.1.w.1",
        "stack.0.neurons.1.b",
        "norm.gamma.0",
        "norm.gamma.1",
        "norm.beta.0",
        "norm.beta.1",
    ]


def test_parameters_follow_named_parameters():
    block = Block()
    assert block.parameters() == [p for _, p in block.named_parameters()]


def test_mlp_names_follow_layers_neurons_weights():
    model = nn.MLP(784, [16, 16, 10], seed=0)
    named = dict(model.named_parameters())
    assert named["layers.0.neurons.3.w.2"] is model.layers[0].neurons[3].w[2]
    assert named["layers.2.neurons.9.b"] is model.layers[2].neurons[9].b
    assert next(iter(named)) == "layers.0.neurons.0.w.0"


def test_shared_parameter_is_listed_once():
    block = Block()
    block.alias = block.pair  # the same Values reachable twice
    block.again = block.stack[0]  # the same module reachable twice
    assert len(block.parameters()) == len(Block().parameters())
    assert len(block.named_parameters()) == len(Block().parameters())


def test_state_dict_groups_lists_and_includes_buffers():
    state = Block().state_dict()
    assert list(state) == [
        "scale",
        "pair",
        "stack.0.neurons.0.w",
        "stack.0.neurons.0.b",
        "stack.0.neurons.1.w",
        "stack.0.neurons.1.b",
        "norm.gamma",
        "norm.beta",
        "norm.running_mean",
        "norm.running_var",
    ]
    assert state["scale"] == 2.0 and state["pair"] == [1.0, -1.0]
    assert state["norm.running_var"] == [1.0, 1.0]


def test_zero_grad_resets_every_parameter():
    model = nn.MLP(2, [3, 1], seed=0)
    model([1.0, 2.0])[0].backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad == 0.0 for p in model.parameters())
    model.zero_grad()  # PyTorch's default: set_to_none=True
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_reach_every_child():
    block = Block()
    assert block.eval() is block
    assert [m.training for m in block.modules()] == [False] * len(block.modules())
    block.train()
    assert all(m.training for m in block.modules())
    assert len(block.modules()) == 1 + 2 + 2 + 1  # Block, Linear + 2 neurons, Dropout, BN


def test_train_mode_must_be_bool():
    with pytest.raises(TypeError, match="mode must be a bool"):
        Block().train("no")


def test_repr_lists_layers_and_parameter_counts():
    assert repr(nn.MLP(784, [16, 16, 10], seed=0)) == (
        "MLP(784 -> [16, 16, 10], 13,002 parameters)\n"
        "  (layers.0): Linear(784 -> 16, relu, 12,560 parameters)\n"
        "  (layers.1): Linear(16 -> 16, relu, 272 parameters)\n"
        "  (layers.2): Linear(16 -> 10, linear, 170 parameters)"
    )
    assert repr(Block()).splitlines() == [
        "Block(13 parameters)",
        "  (stack.0): Linear(2 -> 2, linear, 6 parameters)",
        "  (stack.1): Dropout(p=0.5)",
        "  (norm): BatchNorm1d(2, eps=1e-05, momentum=0.1, 4 parameters)",
    ]


def test_forward_must_be_defined():
    with pytest.raises(TypeError, match="Empty does not define forward"):
        type("Empty", (nn.Module,), {})()([1.0])


def test_state_dict_round_trip():
    source, target = nn.MLP(3, [4, 2], seed=1), nn.MLP(3, [4, 2], seed=2)
    target.load_state_dict(source.state_dict())
    assert [p.data for p in target.parameters()] == [p.data for p in source.parameters()]
    assert target([1.0, 2.0, 3.0])[1].data == source([1.0, 2.0, 3.0])[1].data


def test_state_dict_is_a_copy():
    model = nn.MLP(2, [2], seed=0)
    state = model.state_dict()
    state["layers.0.neurons.0.w"][0] = 99.0
    assert model.layers[0].neurons[0].w[0].data != 99.0


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda s: s.pop("layers.0.neurons.0.b"), "missing 1 entries: layers.0.neurons.0.b"),
        (lambda s: s.update(extra=1.0), "unexpected 1 entries: extra"),
        (
            lambda s: s.update({"layers.0.neurons.0.w": [1.0]}),
            "layers.0.neurons.0.w: expected 2 numbers, got 1",
        ),
        (
            lambda s: s.update({"layers.0.neurons.0.b": [1.0]}),
            "layers.0.neurons.0.b: expected one number, got a list of 1",
        ),
        (
            lambda s: s.update({"layers.0.neurons.0.w": 1.0}),
            "layers.0.neurons.0.w: expected a list of 2 numbers",
        ),
        (
            lambda s: s.update({"layers.0.neurons.0.w": [1.0, "x"]}),
            "element 1 is 'x', not a finite number",
        ),
        (lambda s: s.update({"layers.0.neurons.0.b": float("nan")}), "expected a finite number"),
    ],
)
def test_load_state_dict_checks_names_and_sizes(edit, match):
    model = nn.MLP(2, [3, 1], seed=0)
    before = [p.data for p in model.parameters()]
    state = nn.MLP(2, [3, 1], seed=1).state_dict()
    edit(state)
    with pytest.raises(ValueError, match=match):
        model.load_state_dict(state)
    assert [p.data for p in model.parameters()] == before  # all or nothing


def test_load_state_dict_returns_the_incompatible_keys():
    model = nn.MLP(2, [3, 1], seed=0)
    result = model.load_state_dict(nn.MLP(2, [3, 1], seed=1).state_dict())
    assert result == nn.IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_strict_load_lists_missing_and_unexpected_together():
    state = nn.MLP(2, [3, 1], seed=1).state_dict()
    del state["layers.0.neurons.0.b"], state["layers.1.neurons.0.w"]
    state["head.w"] = [1.0]
    with pytest.raises(ValueError) as error:
        nn.MLP(2, [3, 1], seed=0).load_state_dict(state, strict=True)
    assert str(error.value).splitlines() == [
        "load_state_dict: state does not fit this MLP:",
        "  missing 2 entries: layers.0.neurons.0.b, layers.1.neurons.0.w",
        "  unexpected 1 entries: head.w",
    ]


def test_non_strict_load_loads_what_matches():
    model, source = nn.MLP(2, [3, 1], seed=0), nn.MLP(2, [3, 1], seed=1)
    kept = model.layers[1].neurons[0].w[0].data
    state = source.state_dict()
    del state["layers.1.neurons.0.w"]
    state["head.w"] = [1.0]
    result = model.load_state_dict(state, strict=False)
    assert result == (["layers.1.neurons.0.w"], ["head.w"])
    assert model.layers[1].neurons[0].w[0].data == kept
    assert model.layers[0].neurons[2].w[1].data == source.layers[0].neurons[2].w[1].data


def test_non_strict_load_still_refuses_sizes_and_changes_nothing():
    model = nn.MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    state = {
        "layers.0.neurons.0.w": [1.0, 2.0, 3.0],
        "layers.0.neurons.1.b": [0.5],
        "layers.1.neurons.0.b": 7.0,
        "other": 1.0,
    }
    with pytest.raises(ValueError) as error:
        model.load_state_dict(state, strict=False)
    assert str(error.value).splitlines() == [
        "load_state_dict: state does not fit this MLP:",
        "  layers.0.neurons.0.w: expected 2 numbers, got 3",
        "  layers.0.neurons.1.b: expected one number, got a list of 1",
    ]
    assert model.state_dict() == before


def test_load_state_dict_strict_must_be_bool():
    with pytest.raises(TypeError, match=r"load_state_dict: strict must be a bool, got 0"):
        nn.MLP(2, [1], seed=0).load_state_dict({}, strict=0)


def test_load_state_dict_wants_a_mapping():
    with pytest.raises(TypeError, match="expected a dict"):
        nn.MLP(2, [1], seed=0).load_state_dict([1.0, 2.0])


def test_load_state_dict_restores_buffers():
    bn = nn.BatchNorm1d(2)
    bn([[1.0, 2.0], [3.0, 5.0]])
    fresh = nn.BatchNorm1d(2)
    fresh.load_state_dict(bn.state_dict())
    assert fresh.running_mean == bn.running_mean and fresh.running_var == bn.running_var


# --- model files -------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    path = tmp_path / "model.json"
    model = nn.MLP(2, [16, 16, 1], seed=0)
    model.save(path)
    loaded = nn.MLP(2, [16, 16, 1], seed=99).load(path)
    assert [p.data for p in loaded.parameters()] == [p.data for p in model.parameters()]
    assert os.listdir(tmp_path) == ["model.json"]  # no temporary file left behind


def test_model_file_is_documented_json(tmp_path):
    path = tmp_path / "model.json"
    nn.MLP(2, [1], seed=0).save(path)
    document = json.loads(path.read_text())
    assert {k: document[k] for k in ("format", "version", "module", "parameters")} == {
        "format": "tapegrad-module",
        "version": 1,
        "module": "MLP",
        "parameters": 3,
    }
    assert list(document["state"]) == ["layers.0.neurons.0.w", "layers.0.neurons.0.b"]
    assert len(path.read_text().splitlines()) == 10  # one line per state entry


def _saved(tmp_path, text: str | bytes):
    path = tmp_path / "model.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _good_file(tmp_path) -> str:
    path = tmp_path / "good.json"
    nn.MLP(2, [2, 1], seed=0).save(path)
    return path.read_text()


@pytest.mark.parametrize(
    "corrupt, match",
    [
        (lambda text: text[: len(text) // 2], "not valid JSON \\(truncated or corrupt\\?\\)"),
        (lambda text: "", "is empty"),
        (lambda text: b"\x89PNG\r\n\x1a\n\xff\xfe", "not a text file"),
        (lambda text: '{"weights": [1, 2, 3]}', "not a tapegrad model file"),
        (lambda text: "[1, 2, 3]", "not a tapegrad model file"),
        (
            lambda text: text.replace('"version": 1', '"version": 2'),
            "format version 2; this tapegrad reads version 1",
        ),
        (
            lambda text: text.replace('"module": "MLP"', '"module": "LayerNorm"'),
            "holds a LayerNorm, not a MLP",
        ),
        (lambda text: text.replace('"state": {', '"stat": {'), 'lacks the "module" name or'),
    ],
    ids=[
        "truncated",
        "empty",
        "binary",
        "foreign json",
        "json list",
        "newer version",
        "other module",
        "no state",
    ],
)
def test_corrupt_or_foreign_file_is_refused(tmp_path, corrupt, match):
    path = _saved(tmp_path, corrupt(_good_file(tmp_path)))
    model = nn.MLP(2, [2, 1], seed=5)
    before = [p.data for p in model.parameters()]
    with pytest.raises(ValueError, match=match):
        model.load(path)
    assert [p.data for p in model.parameters()] == before


def test_file_for_another_architecture_is_refused(tmp_path):
    path = tmp_path / "model.json"
    nn.MLP(2, [3, 1], seed=0).save(path)
    with pytest.raises(
        ValueError, match=r"(?s)does not match this model.*neurons.0.w: expected 3 numbers, got 2"
    ):
        nn.MLP(3, [3, 1], seed=0).load(path)
    with pytest.raises(
        ValueError, match="missing 2 entries: layers.0.neurons.3.w, layers.0.neurons.3.b"
    ):
        nn.MLP(2, [4, 1], seed=0).load(path)


def test_save_refuses_non_finite_parameters_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.json"
    model = nn.MLP(2, [1], seed=0)
    model.save(path)
    before = path.read_text()
    model.layers[0].neurons[0].b.data = float("nan")
    with pytest.raises(ValueError, match="layers.0.neurons.0.b holds nan"):
        model.save(path)
    assert path.read_text() == before


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    model = nn.MLP(2, [1], seed=0)
    model.save(path)
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        nn.MLP(2, [1], seed=1).save(path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["model.json"]


def test_read_model_file_returns_header_and_state(tmp_path):
    path = tmp_path / "m.json"
    nn.LayerNorm(2).save(path)
    document = nn.read_model_file(path)
    assert document["module"] == "LayerNorm"
    assert document["state"] == {"gamma": [1.0, 1.0], "beta": [0.0, 0.0]}


@settings(max_examples=15)  # each example writes a file
@given(
    st.integers(1, 4),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(0, 2**32 - 1),
)
def test_any_mlp_survives_a_save_load_round_trip(nin, sizes, seed):
    model = nn.MLP(nin, sizes, seed=seed)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.json")
        model.save(path)
        loaded = nn.MLP(nin, sizes, seed=seed + 1).load(path)
    assert loaded.state_dict() == model.state_dict()  # floats survive JSON exactly
