"""Compiled training through one flat parameter vector (``compiled.flat()``).

A table of optimizer configurations drives the central check: N steps through the
flat arrays give the same parameters as N steps through the Values (compiled
gradients into ``p.grad``, the optimizer stepping one float at a time) to 1e-12.
Then the flat contract: calls touch no Value, ``sync()`` writes back, frozen
parameters stay out, state_dict round-trips (JSON too), schedules and clipping work.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import TOL, assert_close

from tapegrad import Value, compile, nn, optim
from tapegrad.compiler import FlatParameters
from tapegrad.nn import functional as F
from tapegrad.optim import lr_scheduler

STEPS = 5

OPTIMIZERS = {  # id -> factory (one group of params)
    "SGD": lambda ps: optim.SGD(ps, lr=0.1),
    "SGD momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
    "SGD nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "SGD weight decay maximize": lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.01, maximize=True),
    "Adagrad": lambda ps: optim.Adagrad(
        ps, lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1
    ),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.01),
    "RMSprop centered momentum": lambda ps: optim.RMSprop(
        ps, lr=0.01, momentum=0.9, centered=True, weight_decay=0.01
    ),
    "Adadelta": lambda ps: optim.Adadelta(ps, weight_decay=0.01),
    "Adam": lambda ps: optim.Adam(ps, lr=0.01),
    "Adam amsgrad": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.01),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.01),
    "NAdam": lambda ps: optim.NAdam(ps, lr=0.01, weight_decay=0.01),
    "NAdamW": lambda ps: optim.NAdam(ps, lr=0.01, weight_decay=0.01, decoupled_weight_decay=True),
}


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(12, 3)), rng.choice([-1.0, 1.0], 12)


def setup() -> tuple[nn.MLP, object]:
    """A model and its compiled hinge loss (+ a parameter-only penalty)."""
    model = nn.MLP(3, [5, 4, 1], seed=4)
    params = model.parameters()

    def sample_loss(x, t):
        return F.hinge_loss(model(x), [t]) + 1e-3 * F.l2_penalty(params)

    return model, compile(sample_loss, params, labels={1: (-1, 1)})


def train(make, flat: bool, steps: int = STEPS, *, with_scheduler: bool = False):
    """Parameters after ``steps`` steps, through the flat vector or through the Values."""
    model, compiled = setup()
    X, Y = data()
    target = [compiled.flat()] if flat else model.parameters()
    opt = make(target)
    scheduler = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5) if with_scheduler else None
    for _ in range(steps):
        opt.zero_grad()
        compiled(X, Y)
        opt.step()
        if scheduler is not None:
            scheduler.step()
    if flat:
        compiled.flat().sync()
    return model, compiled, opt


# --- the same steps through arrays and through Values ---------------------------------


@pytest.mark.parametrize("make", list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
def test_flat_training_equals_training_through_values(make):
    by_values, _, _ = train(make, flat=False)
    by_flat, _, _ = train(make, flat=True)
    assert_close([p.data for p in by_flat.parameters()], [p.data for p in by_values.parameters()])


@pytest.mark.parametrize("make", list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
def test_flat_state_holds_the_per_value_states_as_arrays(make):
    _, _, values_opt = train(make, flat=False, steps=3)
    _, _, flat_opt = train(make, flat=True, steps=3)
    per_value = values_opt.state_dict()["state"]
    (flat_state,) = flat_opt.state_dict()["state"].values()
    assert len(per_value) == len(setup()[0].parameters())
    assert all(state.keys() == flat_state.keys() for state in per_value.values())
    for key, saved in flat_state.items():
        column = [per_value[i][key] for i in range(len(per_value))]
        if isinstance(saved, list):
            assert_close(saved, column)
        else:  # step counts and products are the same for every float
            assert all(c == pytest.approx(saved, rel=TOL) for c in column)


@pytest.mark.parametrize("make", list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
def test_state_dict_round_trips_through_json(make):
    _, compiled, opt = train(make, flat=True, steps=2)
    saved = json.loads(json.dumps(opt.state_dict()))
    before = compiled.flat().data.copy()
    X, Y = data(1)

    def two_more(optimizer):
        compiled.flat().data = before
        for _ in range(2):
            optimizer.zero_grad()
            compiled(X, Y)
            optimizer.step()
        return compiled.flat().data.copy()

    expected = two_more(opt)
    resumed = make([compiled.flat()])
    resumed.load_state_dict(saved)
    for value in resumed.state[compiled.flat()].values():
        assert not isinstance(value, list)
    assert_close(two_more(resumed), expected)


def test_a_loaded_array_of_the_wrong_size_is_refused():
    _, compiled, opt = train(OPTIMIZERS["Adam"], flat=True, steps=1)
    saved = opt.state_dict()
    saved["state"][0]["exp_avg"] = [0.0, 1.0]
    with pytest.raises(ValueError, match="'exp_avg' of parameter 0 is not a list of"):
        optim.Adam([compiled.flat()]).load_state_dict(saved)


def test_a_scheduler_drives_the_flat_optimizer():
    make = OPTIMIZERS["SGD momentum"]
    by_values, _, _ = train(make, flat=False, steps=6, with_scheduler=True)
    by_flat, _, opt = train(make, flat=True, steps=6, with_scheduler=True)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
    assert_close([p.data for p in by_flat.parameters()], [p.data for p in by_values.parameters()])


# --- the flat contract -------------------------------------------------------------------


def test_calls_read_and_write_the_flat_arrays_only():
    model, compiled = setup()
    X, Y = data()
    params = model.parameters()
    before = [p.data for p in params]
    flat = compiled.flat()
    assert compiled.flat() is flat and flat.active and len(flat) == len(params)
    assert flat.data.dtype == np.float64 and flat.data.shape == (len(params),)
    flat.zero_grad()
    loss = compiled(X, Y)
    assert [p.grad for p in params] == [None] * len(params)  # no Value written
    _, expected = compiled.value_and_grad(np.array(before), X, Y)
    assert_close(flat.grad, expected)
    compiled(X, Y)
    assert_close(flat.grad, 2 * expected)  # accumulates, like backward
    flat.data = flat.data - 0.1 * flat.grad
    assert [p.data for p in params] == before  # stale until sync()
    assert compiled(X, Y) != loss  # the next call reads the new vector
    assert compiled.forward(X, Y).mean() == pytest.approx(
        compiled.value_and_grad(flat.data, X, Y)[0], rel=TOL
    )
    flat.sync()
    assert_close([p.data for p in params], flat.data)
    assert_close(
        compiled.forward(X, Y),
        [
            F.hinge_loss(model(x), [t]).data + 1e-3 * F.l2_penalty(params).data
            for x, t in zip(X.tolist(), Y.tolist())
        ],
    )


def test_close_syncs_and_returns_to_values():
    model, compiled = setup()
    X, Y = data()
    with compiled.flat() as flat:
        flat.zero_grad()
        compiled(X, Y)
        flat.data = flat.data + 1.0
    assert not flat.active and compiled.flat() is not flat
    assert_close([p.data for p in model.parameters()], flat.data)
    assert_close([p.grad for p in model.parameters()], flat.grad)
    compiled.flat().close()
    for p in model.parameters():
        p.grad = 0.0
    compiled(X, Y)  # back to Values: p.grad receives the gradient
    assert any(p.grad != 0.0 for p in model.parameters())


def test_reload_reads_values_changed_by_hand():
    model, compiled = setup()
    flat = compiled.flat()
    model.parameters()[0].data = 7.0
    assert flat.data[0] != 7.0
    flat.reload()
    assert flat.data[0] == 7.0


def test_flat_training_with_frozen_parameters_matches_values():
    def run(flat: bool) -> tuple[list[float], float, float]:
        model, compiled = setup()
        frozen = model.layers[0].neurons[1].w[2]
        frozen.requires_grad = False
        X, Y = data()
        opt = optim.Adam([compiled.flat()] if flat else model.parameters(), lr=0.01)
        if flat:
            assert frozen not in compiled.flat().params
        for _ in range(STEPS):
            opt.zero_grad()
            compiled(X, Y)
            opt.step()
        before = compiled(X, Y)
        frozen.data += 0.5  # frozen Values are still read at every call
        after = compiled(X, Y)
        if flat:
            compiled.flat().sync()
        return [p.data for p in model.parameters()], before, after

    params_flat, before_flat, after_flat = run(flat=True)
    params_values, before_values, after_values = run(flat=False)
    assert_close(params_flat, params_values)
    assert_close([before_flat, after_flat], [before_values, after_values])
    assert after_flat != before_flat


def test_a_flat_gradient_set_to_none_is_zeros_never_none():
    _, compiled = setup()
    flat = compiled.flat()
    flat.grad = np.ones(len(flat))
    flat.grad = None  # what an optimizer's zero_grad() does: zeros, never None
    assert flat.grad.tolist() == [0.0] * len(flat)


def test_flat_parameters_are_accepted_as_a_single_parameter_and_in_groups():
    _, compiled = setup()
    flat = compiled.flat()
    assert isinstance(flat, FlatParameters)
    assert optim.SGD(flat, lr=0.1).param_groups[0]["params"] == [flat]
    assert optim.SGD([{"params": [flat], "lr": 0.2}]).param_groups[0]["lr"] == 0.2
    assert "FlatParameters(" in repr(flat)


# --- clipping ----------------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_of_flat_equals_clip_of_values(norm_type):
    rng = np.random.default_rng(9)
    grads = rng.normal(size=20) * 10
    values = [Value(0.0) for _ in grads]
    for p, g in zip(values, grads.tolist()):
        p.grad = g
    _, compiled = setup()
    flat = compiled.flat()
    flat.grad = 0.0
    flat.grad[: len(grads)] = grads
    expected = optim.clip_grad_norm_(values, 1.0, norm_type)
    total = optim.clip_grad_norm_(flat, 1.0, norm_type)
    assert total == pytest.approx(expected, rel=1e-12)
    assert_close(flat.grad[: len(grads)], [p.grad for p in values])


def test_clip_grad_norm_of_flat_handles_huge_and_nonfinite_gradients():
    _, compiled = setup()
    flat = compiled.flat()
    flat.grad = 0.0
    flat.grad[:2] = [3e300, 4e300]
    assert optim.clip_grad_norm_(flat, 1.0) == pytest.approx(5e300)
    flat.grad[0] = math.inf
    with pytest.raises(RuntimeError, match="cannot be clipped"):
        optim.clip_grad_norm_(flat, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_of_flat():
    _, compiled = setup()
    flat = compiled.flat()
    flat.grad = np.linspace(-2, 2, len(flat))
    optim.clip_grad_value_([flat], 0.5)
    assert_close(flat.grad, np.clip(np.linspace(-2, 2, len(flat)), -0.5, 0.5))


def test_per_value_calls_skip_a_parameter_frozen_after_compiling():
    model, compiled = setup()
    X, Y = data()
    params = model.parameters()
    compiled(X, Y)
    params[3].requires_grad = False  # the function is traced again, with it as a constant
    before = [p.grad for p in params]
    compiled(X, Y)
    assert params[3].grad is None
    changed = [p.grad != b for p, b in zip(params, before) if p is not params[3]]
    assert sum(changed) > len(params) // 2  # the ones after it still get their gradient
    assert sum(changed[3:]) > len(changed[3:]) // 2


def test_a_gradient_set_to_none_is_set_again_by_the_next_call():
    model, compiled = setup()
    X, Y = data()
    params = model.parameters()
    compiled(X, Y)
    first = params[3].grad
    params[3].grad = None  # forgets the gradient; the parameter still requires grad
    compiled(X, Y)
    assert params[3].requires_grad and params[3].grad == first


def test_flat_arrays_are_never_changed_in_place():
    _, compiled = setup()
    X, Y = data()
    flat = compiled.flat()
    kept_grad, kept_data = flat.grad, flat.data
    saved_grad, saved_data = kept_grad.copy(), kept_data.copy()
    compiled(X, Y)
    flat.zero_grad()
    compiled(X, Y)
    optim.SGD([flat], lr=0.1).step()
    assert flat.grad is not kept_grad and flat.data is not kept_data
    assert (kept_grad == saved_grad).all() and (kept_data == saved_data).all()
    with pytest.raises(ValueError, match="data must be"):
        flat.data = [1.0, 2.0]


def test_per_value_calls_raise_on_a_gradient_that_is_not_a_number():
    model, compiled = setup()
    X, Y = data()
    params = model.parameters()
    compiled(X, Y)
    params[3].grad = "0.5"
    with pytest.raises(TypeError, match="cannot add a gradient into the parameter of data "):
        compiled(X, Y)
    assert params[3].grad == "0.5"
