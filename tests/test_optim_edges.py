"""Optimizers and clipping at their edges: eps=0, huge gradients, malformed state dicts."""

import copy
import math

import numpy as np
import pytest

from tapegrad import Value, optim
from tapegrad.optim import clip_grad_norm_

# PyTorch 2.13, float64, foreach=False: params [1.0, 2.0] with grads [0.0, 0.5], lr 0.1,
# eps 0, one step. The zero gradient divides 0 by 0: NaN for that parameter only.
EPS_ZERO_AFTER_ONE_STEP = [
    (optim.Adam, {}, 1.9),
    (optim.AdamW, {}, 1.898),
    (optim.NAdam, {}, 1.894354822164461),  # mu_product in float64 (default dtype float64)
    (optim.Adagrad, {}, 1.9),
    (optim.RMSprop, {}, 1.0000000000000004),
    (optim.RMSprop, {"centered": True, "momentum": 0.5}, 0.9949621847407885),
    (optim.Adadelta, {}, 2.0),
]


@pytest.mark.parametrize(
    "cls, options, second",
    EPS_ZERO_AFTER_ONE_STEP,
    ids=lambda x: getattr(x, "__name__", None) or str(x),
)
def test_eps_zero_and_a_zero_gradient_give_pytorchs_nan_not_a_half_applied_step(
    cls, options, second
):
    params = [Value(1.0), Value(2.0)]
    params[0].grad, params[1].grad = 0.0, 0.5
    cls(params, lr=0.1, eps=0.0, **options).step()
    assert math.isnan(params[0].data)
    assert params[1].data == pytest.approx(second, rel=1e-15, abs=0.0)


def test_eps_zero_on_arrays_gives_the_same_numbers():
    from tapegrad.optim._math import div

    assert math.isnan(div(0.0, 0.0))
    assert div(1.0, 0.0) == math.inf and div(-1.0, 0.0) == -math.inf
    assert div(1.0, -0.0) == -math.inf
    assert math.isnan(div(math.nan, 0.0))
    assert div(3.0, 2.0) == 1.5
    with np.errstate(divide="ignore", invalid="ignore"):
        got = div(np.array([0.0, 1.0]), np.array([0.0, 0.0]))
    assert math.isnan(got[0]) and got[1] == math.inf


@pytest.mark.parametrize(
    "grads, p, expected",
    [
        ([1e200, -1e200, 3e199], 3.0, 1e200 * 2.027 ** (1 / 3)),
        ([1e-200, 2e-200], 3.0, 1e-200 * 9 ** (1 / 3)),
        ([1e200, 1e200], 1.5, 1e200 * 2 ** (1 / 1.5)),
        ([1e200, -1e200, 3e199], 1.0, 2.3e200),
    ],
    ids=["huge p=3", "tiny p=3", "huge p=1.5", "huge p=1"],
)
def test_p_norm_neither_overflows_nor_underflows(grads, p, expected):
    params = [Value(0.0) for _ in grads]
    for v, g in zip(params, grads):
        v.grad = g
    total = clip_grad_norm_(params, 1.0, norm_type=p)
    assert total == pytest.approx(expected, rel=1e-13)
    scale = min(1.0, 1.0 / (expected + 1e-6))
    assert [v.grad for v in params] == pytest.approx([g * scale for g in grads], rel=1e-13)


def _adam_with_state():
    params = [Value(1.0), Value(2.0)]
    opt = optim.Adam(params, lr=0.1)
    for v in params:
        v.grad = 0.5
    opt.step()
    return opt


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.update(state=None), "'state' is None, expected a dict"),
        (lambda d: d.update(state=[1, 2]), r"'state' is \[1, 2\], expected a dict"),
        (lambda d: d.update(param_groups=None), "different number of parameter groups"),
        (lambda d: d["param_groups"][0].update(params=None), "group 0 is .*'params' is a list"),
        (lambda d: d["param_groups"][0].update(params=5), "group 0 is .*'params' is a list"),
        (lambda d: d["param_groups"][0].update(params=[[0], 1]), "group 0 is"),
        (lambda d: d["param_groups"].__setitem__(0, "group"), "group 0 is 'group'"),
        (lambda d: d["state"].__setitem__(0, None), "state of parameter 0 has NoneType"),
        (lambda d: d["state"][0].update(exp_avg="x"), "'exp_avg' of parameter 0 is 'x'"),
        (lambda d: d["param_groups"][0].update(lr=None), "Invalid learning rate: None"),
    ],
    ids=[
        "state None",
        "state list",
        "groups None",
        "params None",
        "params int",
        "params nested",
        "group str",
        "entry None",
        "entry str",
        "lr None",
    ],
)
def test_malformed_state_dict_is_refused_and_changes_nothing(edit, match):
    opt = _adam_with_state()
    before = opt.state_dict()
    broken = copy.deepcopy(before)
    edit(broken)
    with pytest.raises((ValueError, TypeError), match=match) as error:
        opt.load_state_dict(broken)
    assert error.type is ValueError or "Invalid" in str(error.value)
    assert opt.state_dict() == before
