"""Sequential, ModuleList, activation modules, the module tree (children, apply,
requires_grad_) and registered buffers."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import tapegrad
from tapegrad import Value, nn

X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-2.0, 0.25, 0.75]]


def _stack() -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU(), nn.Linear(4, 2, seed=1))


# --- Sequential ------------------------------------------------------------------------


def test_sequential_chains_its_modules():
    seq = _stack()
    first, relu, last = seq
    for x in X:
        assert [v.data for v in seq(x)] == [v.data for v in last(relu(first(x)))]


def test_sequential_names_are_positions():
    seq = _stack()
    assert [name for name, _ in seq.named_parameters()][:3] == [
        "0.neurons.0.w.0",
        "0.neurons.0.w.1",
        "0.neurons.0.w.2",
    ]
    assert list(seq.state_dict())[-2:] == ["2.neurons.1.w", "2.neurons.1.b"]
    assert [name for name, _ in seq.named_children()] == ["0", "1", "2"]


def test_sequential_indexing_slicing_len_append():
    seq = _stack()
    a, b, c = seq.children()
    assert len(seq) == 3 and seq[0] is a and seq[-1] is c and seq[-3] is a
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert [name for name, _ in tail.named_children()] == ["1", "2"]  # names kept
    d = nn.Tanh()
    assert seq.append(d) is seq and seq[3] is d and len(seq) == 4
    seq[1] = e = nn.Sigmoid()
    assert list(seq) == [a, e, c, d]


@pytest.mark.parametrize(
    "index, error, match",
    [
        (3, IndexError, r"Sequential.__getitem__: index 3 is out of range for 3 modules"),
        (-4, IndexError, r"index -4 is out of range"),
        ("0", TypeError, r"Sequential.__getitem__: index must be an int or a slice, got str '0'"),
        (True, TypeError, r"index must be an int, got True"),
    ],
)
def test_sequential_bad_index(index, error, match):
    with pytest.raises(error, match=match):
        _stack()[index]


def test_sequential_from_ordered_dict_keeps_names():
    seq = nn.Sequential(OrderedDict(hidden=nn.Linear(2, 3, seed=0), act=nn.ReLU()))
    assert [name for name, _ in seq.named_children()] == ["hidden", "act"]
    assert seq[0] is seq.hidden and next(iter(seq.state_dict())) == "hidden.neurons.0.w"
    seq.append(nn.Linear(3, 1, seed=1))
    assert [name for name, _ in seq.named_children()] == ["hidden", "act", "2"]


@pytest.mark.parametrize(
    "build, error, match",
    [
        (
            lambda: nn.Sequential(nn.ReLU(), 3),
            TypeError,
            r"Sequential.__init__: expected a Module, got int 3",
        ),
        (lambda: nn.Sequential({"a.b": nn.ReLU()}), ValueError, r"without '.'.*got 'a.b'"),
        (lambda: nn.Sequential({"_x": nn.ReLU()}), ValueError, r"not start with '_', got '_x'"),
        (lambda: nn.Sequential({"forward": nn.ReLU()}), ValueError, r"the name 'forward' is taken"),
        (lambda: nn.Sequential({1: nn.ReLU()}), TypeError, r"a module's name must be a str, got 1"),
        (
            lambda: _stack().append([1]),
            TypeError,
            r"Sequential.append: expected a Module, got list",
        ),
    ],
)
def test_sequential_refuses_bad_modules_and_names(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_sequential_with_batchnorm_takes_a_batch():
    bn = nn.BatchNorm1d(4)
    seq = nn.Sequential(nn.Linear(3, 4, seed=0), bn, nn.ReLU())
    assert seq.takes_batch() and not _stack().takes_batch()
    out = seq(X)
    first = [seq[0](x) for x in X]
    expected = [[v.relu().data for v in row] for row in nn.BatchNorm1d(4)(first)]
    assert [[v.data for v in row] for row in out] == expected
    assert bn.num_batches_tracked == 1
    with pytest.raises(ValueError, match=r"Sequential: it holds a module that takes a mini-batch"):
        seq([])


def test_empty_sequential_returns_its_input():
    assert nn.Sequential()([1.0]) == [1.0]


def _eager_and_compiled(seq: nn.Sequential, program) -> tuple[list[float], list[float]]:
    """The mean of output 1 over X and its gradients, eager then compiled."""

    def eager() -> float:
        loss = Value.sum([seq(x)[1] for x in X]) / len(X)
        loss.backward()
        return loss.data

    runs = []
    for run in (eager, lambda: program(np.array(X))):
        for p in seq.parameters():
            p.grad = 0.0
        loss = run()
        runs.append([loss] + [p.grad for p in seq.parameters()])
    return runs[0], runs[1]


def test_compiled_sequential_matches_eager():
    seq = _stack()
    program = tapegrad.compile(lambda x: seq(x)[1], seq.parameters())
    eager, compiled = _eager_and_compiled(seq, program)
    assert compiled == pytest.approx(eager, rel=1e-12, abs=1e-15)
    seq.append(nn.Tanh())  # the container changed: the program traces again
    eager_tanh, compiled_tanh = _eager_and_compiled(seq, program)
    assert eager_tanh[0] != eager[0]
    assert compiled_tanh == pytest.approx(eager_tanh, rel=1e-12, abs=1e-15)


def test_compiled_sequential_with_batchnorm_takes_the_batch():
    seq = nn.Sequential(nn.Linear(3, 4, seed=0), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))

    def loss(batch):
        return Value.sum([out[0] for out in seq(batch)]) / len(batch)

    program = tapegrad.compile(loss, seq.parameters(), sample_is_batch=True)
    compiled = program(np.array(X)[None])  # one mini-batch
    assert compiled == pytest.approx(loss(X).data, rel=1e-12)
    seq.eval()  # running statistics now: one sample at a time
    per_sample = tapegrad.compile(lambda x: seq([x])[0][0], seq.parameters())
    eager = sum(seq([x])[0][0].data for x in X) / len(X)
    assert per_sample(np.array(X)) == pytest.approx(eager, rel=1e-12)


# --- ModuleList ------------------------------------------------------------------------


def test_module_list_append_extend_insert_and_names():
    a, b, c, d = nn.Linear(1, 1, seed=0), nn.ReLU(), nn.Linear(1, 1, seed=1), nn.Tanh()
    ml = nn.ModuleList([a])
    assert ml.append(b) is ml and ml.extend([c]) is ml
    ml.insert(1, d)
    assert list(ml) == [a, d, b, c] and len(ml) == 4 and ml[-1] is c
    assert [name for name, _ in ml.named_children()] == ["0", "1", "2", "3"]
    assert list(ml.state_dict()) == [
        "0.neurons.0.w",
        "0.neurons.0.b",
        "3.neurons.0.w",
        "3.neurons.0.b",
    ]
    tail = ml[2:]
    assert isinstance(tail, nn.ModuleList) and list(tail) == [b, c]
    assert [name for name, _ in tail.named_children()] == ["0", "1"]  # renumbered
    ml.insert(-100, e := nn.Sigmoid())  # as list.insert: before the first
    assert ml[0] is e


def test_module_list_inside_a_module():
    class Stack(nn.Module):
        def __init__(self):
            self.blocks = nn.ModuleList(nn.Linear(2, 2, seed=i) for i in range(3))

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    stack = Stack()
    assert len(stack.parameters()) == 18
    assert next(iter(stack.state_dict())) == "blocks.0.neurons.0.w"
    assert [v.data for v in stack([1.0, -1.0])] == [
        v.data for v in stack.blocks[2](stack.blocks[1](stack.blocks[0]([1.0, -1.0])))
    ]


def test_compiled_function_traces_again_after_a_module_list_changes():
    class Stack(nn.Module):
        def __init__(self):
            self.blocks = nn.ModuleList([nn.Linear(3, 3, seed=0)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    stack = Stack()
    program = tapegrad.compile(lambda x: stack(x)[0], stack.parameters())
    program(np.array(X))
    stack.blocks.append(nn.Tanh())
    eager = sum(stack(x)[0].data for x in X) / len(X)
    assert program(np.array(X)) == pytest.approx(eager, rel=1e-12)


def test_module_list_is_not_callable_and_checks_input():
    ml = nn.ModuleList([nn.ReLU()])
    with pytest.raises(TypeError, match="ModuleList is not callable"):
        ml([1.0])
    with pytest.raises(TypeError, match=r"ModuleList.extend: expected an iterable of Modules"):
        ml.extend(nn.ReLU())
    with pytest.raises(TypeError, match=r"ModuleList.insert: index must be an int, got '1'"):
        ml.insert("1", nn.ReLU())
    with pytest.raises(TypeError, match=r"ModuleList.insert: expected a Module, got float"):
        ml.insert(0, 1.5)
    with pytest.raises(TypeError, match=r"ModuleList\[0\] = \.\.\.: expected a Module"):
        ml[0] = 1


# --- activations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, expected",
    [
        (nn.ReLU(), [0.0, 0.0, 2.0]),
        (nn.Tanh(), [-0.7615941559557649, 0.0, 0.9640275800758169]),
        (nn.Sigmoid(), [0.2689414213699951, 0.5, 0.8807970779778823]),
    ],
)
def test_activation_modules(layer, expected):
    assert [v.data for v in layer([-1.0, Value(0.0), 2.0])] == pytest.approx(expected, rel=1e-15)
    assert layer.parameters() == []


def test_activation_module_refuses_a_non_sample():
    with pytest.raises(
        TypeError, match=r"ReLU: expected one sample, a list of numbers or Values, got 3"
    ):
        nn.ReLU()(3)
    with pytest.raises(TypeError, match=r"Tanh: input 1 must be a real number or a Value, got str"):
        nn.Tanh()([1.0, "x"])


# --- the module tree -------------------------------------------------------------------


def test_children_and_modules():
    seq = _stack()
    assert seq.children() == [seq[0], seq[1], seq[2]]
    names = [name for name, _ in seq.named_modules()]
    assert names == [
        "",
        "0",
        "0.neurons.0",
        "0.neurons.1",
        "0.neurons.2",
        "0.neurons.3",
        "1",
        "2",
        "2.neurons.0",
        "2.neurons.1",
    ]
    assert seq.modules() == [m for _, m in seq.named_modules()]


def test_apply_visits_children_first_and_returns_self():
    seq = nn.Sequential(nn.Linear(1, 1, seed=0), nn.Sequential(nn.ReLU(), nn.Tanh()))
    seen = []
    assert seq.apply(lambda m: seen.append(type(m).__name__)) is seq
    assert seen == ["Neuron", "Linear", "ReLU", "Tanh", "Sequential", "Sequential"]
    with pytest.raises(TypeError, match="apply: fn must be callable, got int 3"):
        seq.apply(3)


def test_apply_can_initialise_weights():
    seq = _stack()

    def ones(module):
        if isinstance(module, nn.Neuron):
            for w in module.w:
                w.data = 1.0

    seq.apply(ones)
    assert {p.data for name, p in seq.named_parameters() if ".w." in name} == {1.0}


def test_requires_grad_freezes_and_unfreezes():
    seq = _stack()
    assert seq.requires_grad_(False) is seq
    assert not any(p.requires_grad for p in seq.parameters())
    seq.requires_grad_()
    assert all(p.requires_grad for p in seq.parameters())
    seq[0].requires_grad_(False)
    loss = seq([1.0, 2.0, 3.0])[0]
    loss.backward()
    assert [p.requires_grad for p in seq.parameters()] == [False] * 16 + [True] * 10
    with pytest.raises(TypeError, match=r"requires_grad_: expected a bool, got 'no'"):
        seq.requires_grad_("no")


# --- buffers ---------------------------------------------------------------------------


class Counter(nn.Module):
    def __init__(self):
        self.w = Value(1.0)
        self.register_buffer("total", 0.0)
        self.register_buffer("history", [1, 2])


def test_register_buffer_saves_and_loads(tmp_path):
    counter = Counter()
    assert counter.total == 0.0 and counter.history == [1.0, 2.0]
    assert counter.named_buffers() == [("total", 0.0), ("history", [1.0, 2.0])]
    assert counter.buffers() == [0.0, [1.0, 2.0]]
    assert counter.state_dict() == {"w": 1.0, "total": 0.0, "history": [1.0, 2.0]}
    counter.total, counter.history = 5.0, [3.0, 4.0]
    counter.save(tmp_path / "c.json")
    again = Counter().load(tmp_path / "c.json")
    assert again.total == 5.0 and again.history == [3.0, 4.0]
    assert counter.parameters() == [counter.w]  # a buffer is not a parameter


def test_named_buffers_are_dotted_through_containers():
    seq = nn.Sequential(nn.Linear(2, 2, seed=0), nn.BatchNorm1d(2))
    assert [name for name, _ in seq.named_buffers()] == ["1.running_mean", "1.running_var"]
    assert seq.named_buffers()[0][1] is seq[1].running_mean


@pytest.mark.parametrize(
    "name, value, error, match",
    [
        (3, 1.0, TypeError, r"register_buffer: name must be a str, got int"),
        ("a.b", 1.0, ValueError, r"register_buffer: name must be an identifier .*got 'a.b'"),
        ("_x", 1.0, ValueError, r"not starting with '_', got '_x'"),
        ("w", 1.0, ValueError, r"register_buffer: Counter already has an attribute 'w'"),
        ("training", 1.0, ValueError, r"already has an attribute 'training'"),
        ("bad", "x", ValueError, r"register_buffer: bad: expected a finite number, got 'x'"),
        ("bad", [1.0, float("nan")], ValueError, r"register_buffer: bad: element 1 is nan"),
    ],
)
def test_register_buffer_refuses_bad_names_and_values(name, value, error, match):
    with pytest.raises(error, match=match):
        Counter().register_buffer(name, value)


def test_register_buffer_again_replaces_the_value():
    counter = Counter()
    counter.register_buffer("total", 2.0)
    assert counter.named_buffers() == [("total", 2.0), ("history", [1.0, 2.0])]


def test_batchnorm_buffers_keep_the_model_file_format(tmp_path):
    bn = nn.BatchNorm1d(2)
    bn([[1.0, 2.0], [3.0, 5.0]])
    assert [name for name, _ in bn.named_buffers()] == ["running_mean", "running_var"]
    path = tmp_path / "bn.json"
    bn.save(path)
    # The file as the format has always written it: parameters, then running statistics.
    text = path.read_text()
    assert text.splitlines()[6:10] == [
        '    "gamma": [1.0, 1.0],',
        '    "beta": [0.0, 0.0],',
        '    "running_mean": [0.2, 0.35000000000000003],',
        '    "running_var": [1.1, 1.35]',
    ]
    again = nn.BatchNorm1d(2).load(path)
    assert again.running_mean == bn.running_mean and again.running_var == bn.running_var
