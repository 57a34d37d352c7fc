"""An exception changes nothing: every stateful layer and optimizer, given bad input.

BatchNorm1d's running statistics, Dropout's random generator, an optimizer's
parameters and state, a module's parameters and buffers: after a call that raises,
each is exactly what it was, and the next good call gives what it would have given.
"""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import Value, nn, optim

# Things that are not a real number a float can hold, as a feature, an input or a grad.
BAD = st.sampled_from(["0.5", b"1", None, [1.0], 1 + 2j, 10**400, Value])
finite = st.floats(-3.0, 3.0)


def _bad(kind):
    return Value(1.0) if kind is Value else kind


@settings(max_examples=40)
@given(
    rows=st.lists(st.lists(finite, min_size=3, max_size=3), min_size=2, max_size=5),
    where=st.tuples(st.integers(0, 4), st.integers(0, 2)),
    bad=BAD,
    warmup=st.integers(0, 2),
)
def test_batchnorm_refusing_a_batch_changes_no_statistic(rows, where, bad, warmup):
    bn = nn.BatchNorm1d(3)
    for _ in range(warmup):
        bn([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    before = (list(bn.running_mean), list(bn.running_var), bn.state_dict())
    i, j = where[0] % len(rows), where[1]
    rows[i][j] = _bad(bad)
    if isinstance(rows[i][j], Value):  # a Value is a fine feature: no refusal to test
        return
    with pytest.raises((TypeError, OverflowError), match=f"^BatchNorm1d: sample {i}: feature {j}"):
        bn(rows)
    assert (bn.running_mean, bn.running_var, bn.state_dict()) == before


@settings(max_examples=20)
@given(rows=st.lists(st.lists(finite, min_size=2, max_size=2), min_size=1, max_size=1))
def test_batchnorm_refusing_a_batch_of_one_in_training_changes_nothing(rows):
    bn = nn.BatchNorm1d(2)
    before = bn.state_dict()
    with pytest.raises(ValueError, match="training needs a batch of at least 2 samples"):
        bn(rows)
    assert bn.state_dict() == before


@settings(max_examples=40)
@given(
    xs=st.lists(finite, min_size=1, max_size=6),
    where=st.integers(0, 5),
    bad=BAD.filter(lambda b: b is not Value and not isinstance(b, int)),
    seed=st.integers(0, 2**32 - 1),
)
def test_dropout_refusing_an_input_leaves_its_generator_alone(xs, where, bad, seed):
    dropout, fresh = nn.Dropout(0.5, seed=seed), nn.Dropout(0.5, seed=seed)
    hostile = list(xs)
    hostile[where % len(xs)] = bad
    with pytest.raises(TypeError, match=f"^Dropout: input {where % len(xs)} must be a real"):
        dropout(hostile)
    # The next masks are those of a generator that never saw the refused call.
    assert [float(v) for v in dropout(xs)] == [float(v) for v in fresh(xs)]


OPTIMIZERS = {
    "SGD": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.1),
    "NAdam": lambda ps: optim.NAdam(ps, lr=0.1),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.5, centered=True),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.1),
    "Adadelta": lambda ps: optim.Adadelta(ps, lr=0.5),
}


def _snapshot(params, opt):
    return [p.data for p in params], [p.grad for p in params], copy.deepcopy(opt.state_dict())


@settings(max_examples=40)
@given(
    name=st.sampled_from(sorted(OPTIMIZERS)),
    grads=st.lists(st.lists(finite, min_size=3, max_size=3), min_size=0, max_size=3),
    where=st.integers(0, 2),
    bad=BAD.filter(lambda b: b is not None),  # None: no gradient, a parameter step skips
)
def test_an_optimizer_refusing_a_gradient_updates_nothing(name, grads, where, bad):
    params = [Value(0.5), Value(-1.0), Value(2.0)]
    opt = OPTIMIZERS[name](params)
    for step in grads:  # some good steps first: the state is not empty
        for p, g in zip(params, step):
            p.grad = g
        opt.step()
    for p in params:
        p.grad = 0.25
    params[where].grad = _bad(bad)
    before = _snapshot(params, opt)
    with pytest.raises(
        (TypeError, OverflowError), match=rf"^{name}.step: the gradient of parameter {where} is"
    ):
        opt.step()
    assert "nothing was updated" in str(_last_error(opt))
    assert _snapshot(params, opt)[0] == before[0]
    assert _snapshot(params, opt)[2] == before[2]


def _last_error(opt):
    try:
        opt.step()
    except (TypeError, OverflowError) as error:
        return error
    raise AssertionError("the bad gradient was accepted the second time")


@settings(max_examples=20)
@given(name=st.sampled_from(sorted(OPTIMIZERS)), steps=st.integers(0, 3))
def test_an_optimizer_whose_closure_raises_updates_nothing(name, steps):
    params = [Value(0.5), Value(-1.0)]
    opt = OPTIMIZERS[name](params)
    for _ in range(steps):
        for p in params:
            p.grad = 0.5
        opt.step()

    def closure():
        raise KeyError("from the closure")

    before = _snapshot(params, opt)
    with pytest.raises(KeyError, match="from the closure"):
        opt.step(closure)
    after = _snapshot(params, opt)
    assert (after[0], after[2]) == (before[0], before[2])


def _model():
    class Net(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 3, seed=0)
            self.norm = nn.BatchNorm1d(3)

        def forward(self, batch):
            return self.norm([self.layer(x) for x in batch])

    net = Net()
    net([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])  # running statistics that are not the defaults
    return net


def _edits():
    """A change to a good state dict that load_state_dict must refuse."""
    value = st.one_of(BAD.filter(lambda b: b is not Value), st.just(-1.0), st.just([]))
    return st.one_of(
        st.tuples(st.just("drop"), st.integers(0, 10), st.none()),
        st.tuples(st.just("add"), st.text(min_size=1, max_size=5), finite),
        st.tuples(st.just("replace"), st.integers(0, 10), value),
        st.tuples(st.just("element"), st.integers(0, 10), value),
        st.tuples(st.just("grow"), st.integers(0, 10), finite),
    )


def _apply(state, edit):
    """Make ``edit`` in ``state``; whether the result must be refused."""
    kind, which, value = edit
    names = sorted(state)
    name = names[which % len(names)] if isinstance(which, int) else which
    entry = state.get(name)
    if kind == "drop":
        del state[name]
        return True
    if kind == "add":
        state[name] = value
        return entry is None
    if kind == "grow":
        state[name] = [*entry, value] if isinstance(entry, list) else [entry, value]
        return True
    if kind == "replace":
        state[name] = value
        # -1.0 is a good number for a single entry, the wrong size for a list.
        return value != -1.0 or isinstance(entry, list)
    if not isinstance(entry, list):  # "element" of a single number: nothing to edit
        return False
    entry[-1] = value
    return value != -1.0 or name.endswith("running_var")  # negative: only a variance


def _numbers(state):
    return [x for v in state.values() for x in (v if isinstance(v, list) else [v])]


@settings(max_examples=60)
@given(edit=_edits())
def test_load_state_dict_refusing_a_state_changes_nothing(edit):
    net = _model()
    state = copy.deepcopy(net.state_dict())
    if not _apply(state, edit):
        return  # an edit that made a state that is still good
    before = copy.deepcopy(net.state_dict())
    with pytest.raises((TypeError, ValueError, OverflowError)) as caught:
        net.load_state_dict(state)
    assert "load_state_dict" in str(caught.value)
    assert net.state_dict() == before
    assert all(math.isfinite(x) for x in _numbers(before))
