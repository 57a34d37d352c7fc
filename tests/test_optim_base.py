"""The Optimizer base: parameter groups, validation, zero_grad, state_dict layout and
the checks load_state_dict makes before it changes anything."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from tapegrad import Value, no_grad, optim

# --- every hyper-parameter is checked, with PyTorch's wording -------------------------

BAD_OPTIONS = [
    # optimizer, options, error, message
    (optim.SGD, {"lr": -1}, ValueError, "Invalid learning rate: -1"),
    (optim.SGD, {"lr": math.nan}, ValueError, "Invalid learning rate: nan"),
    (optim.SGD, {"lr": "0.1"}, TypeError, "Invalid learning rate: '0.1' (expected a real number)"),
    (optim.SGD, {"momentum": -0.5}, ValueError, "Invalid momentum value: -0.5"),
    (optim.SGD, {"dampening": 1.5}, ValueError, "Invalid dampening value: 1.5"),
    (optim.SGD, {"weight_decay": -1}, ValueError, "Invalid weight_decay value: -1"),
    (
        optim.SGD,
        {"nesterov": True},
        ValueError,
        "Nesterov momentum requires a momentum and zero dampening",
    ),
    (
        optim.SGD,
        {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
        ValueError,
        "Nesterov momentum requires a momentum and zero dampening",
    ),
    (optim.SGD, {"nesterov": "yes"}, TypeError, "Invalid nesterov flag: 'yes'"),
    (optim.SGD, {"maximize": 1}, TypeError, "Invalid maximize flag: 1"),
    (optim.Adagrad, {"lr": -0.01}, ValueError, "Invalid learning rate: -0.01"),
    (optim.Adagrad, {"lr_decay": -1}, ValueError, "Invalid lr_decay value: -1"),
    (optim.Adagrad, {"weight_decay": -1}, ValueError, "Invalid weight_decay value: -1"),
    (
        optim.Adagrad,
        {"initial_accumulator_value": -1},
        ValueError,
        "Invalid initial_accumulator_value value: -1",
    ),
    (optim.Adagrad, {"eps": -1}, ValueError, "Invalid epsilon value: -1"),
    (optim.Adagrad, {"maximize": None}, TypeError, "Invalid maximize flag: None"),
    (optim.RMSprop, {"lr": -1}, ValueError, "Invalid learning rate: -1"),
    (optim.RMSprop, {"alpha": -0.1}, ValueError, "Invalid alpha value: -0.1"),
    (optim.RMSprop, {"alpha": 1.5}, ValueError, "Invalid alpha value: 1.5"),
    (optim.RMSprop, {"eps": -1}, ValueError, "Invalid epsilon value: -1"),
    (optim.RMSprop, {"weight_decay": -1}, ValueError, "Invalid weight_decay value: -1"),
    (optim.RMSprop, {"momentum": -1}, ValueError, "Invalid momentum value: -1"),
    (optim.RMSprop, {"centered": None}, TypeError, "Invalid centered flag: None"),
    (optim.Adadelta, {"lr": -1}, ValueError, "Invalid learning rate: -1"),
    (optim.Adadelta, {"rho": 1.1}, ValueError, "Invalid rho value: 1.1"),
    (optim.Adadelta, {"rho": -0.1}, ValueError, "Invalid rho value: -0.1"),
    (optim.Adadelta, {"eps": -1}, ValueError, "Invalid epsilon value: -1"),
    (optim.Adadelta, {"weight_decay": -1}, ValueError, "Invalid weight_decay value: -1"),
    (optim.Adam, {"lr": -1}, ValueError, "Invalid learning rate: -1"),
    (optim.Adam, {"betas": (1.0, 0.999)}, ValueError, "Invalid beta parameter at index 0: 1.0"),
    (optim.Adam, {"betas": (0.9, -0.1)}, ValueError, "Invalid beta parameter at index 1: -0.1"),
    (optim.Adam, {"betas": (0.9,)}, TypeError, "Invalid betas: (0.9,)"),
    (optim.Adam, {"betas": 0.9}, TypeError, "Invalid betas: 0.9"),
    (optim.Adam, {"eps": -1}, ValueError, "Invalid epsilon value: -1"),
    (optim.Adam, {"weight_decay": -1}, ValueError, "Invalid weight_decay value: -1"),
    (optim.Adam, {"amsgrad": "no"}, TypeError, "Invalid amsgrad flag: 'no'"),
    (optim.Adam, {"decoupled_weight_decay": 0}, TypeError, "Invalid decoupled_weight_decay flag"),
    (optim.AdamW, {"lr": -1}, ValueError, "Invalid learning rate: -1"),
    (optim.AdamW, {"weight_decay": -0.01}, ValueError, "Invalid weight_decay value: -0.01"),
    (optim.AdamW, {"betas": (0.9, 1.0)}, ValueError, "Invalid beta parameter at index 1: 1.0"),
    (optim.NAdam, {"lr": -1}, ValueError, "Invalid learning rate: -1"),
    (optim.NAdam, {"betas": (-0.1, 0.999)}, ValueError, "Invalid beta parameter at index 0: -0.1"),
    (optim.NAdam, {"eps": -1}, ValueError, "Invalid epsilon value: -1"),
    (optim.NAdam, {"weight_decay": -1}, ValueError, "Invalid weight_decay value: -1"),
    (optim.NAdam, {"momentum_decay": -1}, ValueError, "Invalid momentum_decay value: -1"),
    (optim.NAdam, {"decoupled_weight_decay": None}, TypeError, "Invalid decoupled_weight_decay"),
    (optim.Newton, {"lr": -1}, ValueError, "Invalid learning rate: -1"),
    (optim.Newton, {"damping": 0}, ValueError, "Invalid damping value: 0"),
]


@pytest.mark.parametrize(
    ("cls", "options", "error", "message"),
    BAD_OPTIONS,
    ids=[f"{r[0].__name__}-{next(iter(r[1]))}" for r in BAD_OPTIONS],
)
def test_bad_hyper_parameter_raises(cls, options, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        cls([Value(1.0)], **options)


@pytest.mark.parametrize(
    ("cls", "options", "error", "message"),
    BAD_OPTIONS,
    ids=[f"{r[0].__name__}-{next(iter(r[1]))}" for r in BAD_OPTIONS],
)
def test_bad_hyper_parameter_in_a_group_raises(cls, options, error, message) -> None:
    # Valid defaults, a bad per-group option: checked group by group.
    with pytest.raises(error, match=re.escape(message)):
        cls([{"params": [Value(1.0)], **options}])


BAD_PARAMS = [
    ([], ValueError, "empty parameter list"),
    ([1.0], TypeError, "can only optimize Values, but one of the params is float"),
    ({Value(1.0)}, TypeError, "ordered collection"),
    ([{"params": [Value(1.0)], "lr_": 0.1}], ValueError, "unknown hyper-parameter(s) ['lr_']"),
    ([{"lr": 0.1}], ValueError, "no 'params' entry"),
]


@pytest.mark.parametrize(
    ("params", "error", "message"),
    BAD_PARAMS,
    ids=["empty", "float", "set", "unknown-option", "no-params"],
)
def test_bad_params_raise(params, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        optim.SGD(params, lr=0.1)


def test_add_param_group_checks_the_new_group_only_adds_good_ones() -> None:
    opt = optim.Adam([Value(1.0)])
    with pytest.raises(ValueError, match=re.escape("Invalid beta parameter at index 1: 1")):
        opt.add_param_group({"params": [Value(2.0)], "betas": (0.9, 1)})
    assert len(opt.param_groups) == 1


def test_newton_takes_one_group() -> None:
    opt = optim.Newton([Value(1.0)])
    with pytest.raises(ValueError, match="single parameter group"):
        opt.add_param_group({"params": [Value(2.0)]})


def test_a_parameter_may_not_be_listed_twice() -> None:
    x = Value(1.0)
    with pytest.raises(ValueError, match="appears twice"):
        optim.SGD([x, x], lr=0.1)
    opt = optim.SGD([x], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [x]})
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([x])


# --- groups ---------------------------------------------------------------------------


def test_groups_take_their_own_options_and_the_defaults() -> None:
    a, b, c = Value(1.0), Value(1.0), Value(1.0)
    opt = optim.SGD([{"params": [a]}, {"params": [b, c], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0
    for p in (a, b, c):
        p.grad = 1.0
    opt.step()
    assert (a.data, b.data, c.data) == (0.9, 0.5, 0.5)
    assert opt.state[a] == {} and opt.state[b] == {"momentum_buffer": 1.0}


def test_add_param_group_joins_training_and_the_state_dict() -> None:
    a, b = Value(1.0), Value(1.0)
    opt = optim.Adam([a], lr=0.1)
    a.grad = 1.0
    opt.step()
    opt.add_param_group({"params": b, "lr": 0.2, "amsgrad": True})
    a.grad = b.grad = 1.0
    opt.step()
    assert b.data == pytest.approx(1 - 0.2 * 1 / (1 + 1e-8), rel=1e-15)
    saved = opt.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]]
    assert saved["state"][1]["step"] == 1 and saved["state"][0]["step"] == 2
    assert saved["param_groups"][1]["amsgrad"] is True


def test_zero_grad_resets_gradients_and_leaves_frozen_ones() -> None:
    a, frozen = Value(1.0), Value(2.0, requires_grad=False)
    opt = optim.SGD([a, frozen], lr=0.1)
    (a * frozen).backward()
    assert a.grad == 2.0
    opt.zero_grad(set_to_none=False)
    assert a.grad == 0.0 and frozen.grad is None
    opt.zero_grad()  # PyTorch's default: set_to_none=True
    assert a.grad is None and frozen.grad is None


def test_step_with_closure_records_a_graph_and_returns_the_loss() -> None:
    x = Value(2.0)
    opt = optim.SGD([x], lr=0.1)

    def closure() -> Value:
        opt.zero_grad()
        loss = x * x
        loss.backward()
        return loss

    with no_grad():  # the closure still builds its graph, as in PyTorch
        loss = opt.step(closure)
    assert loss.data == 4.0 and x.data == 2.0 - 0.1 * 4.0


@pytest.mark.parametrize(
    "cls",
    [optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adadelta, optim.Adam, optim.AdamW, optim.NAdam],
)
def test_maximize_equals_descending_the_negated_gradient(cls: type) -> None:
    up, down = Value(0.7), Value(0.7)
    maximizing = cls([up], lr=0.1, weight_decay=0.1, maximize=True)
    minimizing = cls([down], lr=0.1, weight_decay=0.1)
    for k in range(10):
        up.grad = math.sin(k) + up.data
        down.grad = -(math.sin(k) + down.data)
        maximizing.step()
        minimizing.step()
        assert up.data == down.data


def test_repr_lists_each_group() -> None:
    text = repr(optim.SGD([Value(1.0)], lr=0.1))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "lr: 0.1" in text


# --- state_dict layout and load_state_dict's checks -------------------------------------


def trained_sgd() -> tuple[optim.SGD, list[Value]]:
    params = [Value(1.0), Value(2.0), Value(3.0)]
    opt = optim.SGD(
        [{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], lr=0.1, momentum=0.9
    )
    for p in params:
        p.grad = 1.0
    opt.step()
    return opt, params


def test_state_dict_is_plain_data_keyed_by_index() -> None:
    opt, _ = trained_sgd()
    common = {
        "momentum": 0.9,
        "dampening": 0,
        "weight_decay": 0,
        "nesterov": False,
        "maximize": False,
    }
    assert opt.state_dict() == {
        "state": {
            0: {"momentum_buffer": 1.0},
            1: {"momentum_buffer": 1.0},
            2: {"momentum_buffer": 1.0},
        },
        "param_groups": [
            {"lr": 0.1, **common, "params": [0]},
            {"lr": 0.5, **common, "params": [1, 2]},
        ],
    }


def with_change(change):
    opt, _ = trained_sgd()
    saved = opt.state_dict()
    change(saved)
    return saved


BAD_STATE_DICTS = [
    # id, how the saved dict is damaged, message
    ("not-a-dict", lambda s: s.clear(), "expected a dict with 'state' and 'param_groups'"),
    ("group-count", lambda s: s["param_groups"].pop(), "different number of parameter groups"),
    (
        "group-size",
        lambda s: s["param_groups"][1]["params"].pop(),
        "doesn't match the size of optimizer's group",
    ),
    ("missing-option", lambda s: s["param_groups"][0].pop("momentum"), "lacks ['momentum']"),
    ("bad-option", lambda s: s["param_groups"][0].update(lr=-1), "Invalid learning rate: -1"),
    (
        "duplicate-index",
        lambda s: s["param_groups"][1].update(params=[0, 0]),
        "numbers two parameters the same",
    ),
    (
        "unknown-index",
        lambda s: s["state"].update({7: {"momentum_buffer": 1.0}}),
        "state is for parameter 7",
    ),
    (
        "wrong-keys",
        lambda s: s["state"].update({0: {"exp_avg": 1.0}}),
        "has ['exp_avg'], expected ['momentum_buffer']",
    ),
    (
        "not-a-number",
        lambda s: s["state"].update({0: {"momentum_buffer": "1"}}),
        "is '1', not a number",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [r[1:] for r in BAD_STATE_DICTS], ids=[r[0] for r in BAD_STATE_DICTS]
)
def test_load_state_dict_refuses_a_bad_dict_and_changes_nothing(change, message) -> None:
    opt, params = trained_sgd()
    before = opt.state_dict()
    with pytest.raises(ValueError, match=re.escape(message)):
        opt.load_state_dict(with_change(change))
    assert opt.state_dict() == before
    assert all(p in opt.state for p in params)


def test_load_state_dict_keeps_the_group_dicts() -> None:
    # Code holding a group (a scheduler, a user) sees the loaded values.
    opt, _ = trained_sgd()
    group = opt.param_groups[1]
    saved = opt.state_dict()
    saved["param_groups"][1]["lr"] = 0.25
    opt.load_state_dict(saved)
    assert group["lr"] == 0.25 and opt.param_groups[1] is group


def _options(opt: optim.Optimizer) -> list[dict[str, Any]]:
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


def test_load_state_dict_restores_options_of_every_group() -> None:
    opt, params = trained_sgd()
    fresh = optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=7.0, momentum=0.1)
    fresh.load_state_dict(opt.state_dict())
    assert _options(fresh) == _options(opt)
    assert fresh.state == opt.state and fresh.state[params[0]] is not opt.state[params[0]]
