"""Gradient clipping: clip_grad_norm_ and clip_grad_value_ against their definitions
and against torch.nn.utils."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import Value
from tapegrad.optim import clip_grad_norm_, clip_grad_value_


def params_with(grads: list[float | None]) -> list[Value]:
    params = [Value(0.0) for _ in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    return params


NORM_CASES = [
    # id, grads, max_norm, norm_type, total norm, grads after
    ("under-the-limit", [3.0, 4.0], 10.0, 2.0, 5.0, [3.0, 4.0]),
    ("l2", [3.0, 4.0], 1.0, 2.0, 5.0, [3.0 / (5 + 1e-6), 4.0 / (5 + 1e-6)]),
    ("inf", [3.0, -4.0], 2.0, math.inf, 4.0, [3.0 * 2 / (4 + 1e-6), -4.0 * 2 / (4 + 1e-6)]),
    ("l1", [1.0, -2.0, 2.0], 1.0, 1.0, 5.0, [1 / (5 + 1e-6), -2 / (5 + 1e-6), 2 / (5 + 1e-6)]),
    (
        "l3",
        [1.0, 2.0],
        1.0,
        3.0,
        9 ** (1 / 3),
        [1 / (9 ** (1 / 3) + 1e-6), 2 / (9 ** (1 / 3) + 1e-6)],
    ),
    ("skips-none", [3.0, None, 4.0], 1.0, 2.0, 5.0, [3.0 / (5 + 1e-6), None, 4.0 / (5 + 1e-6)]),
    # Exploding gradients: the squares overflow, the norm does not.
    ("huge", [3e200, 4e200], 1.0, 2.0, 5e200, [0.6, 0.8]),
    ("nothing-to-clip", [None], 1.0, 2.0, 0.0, [None]),
]


@pytest.mark.parametrize(
    ("grads", "max_norm", "norm_type", "total", "after"),
    [c[1:] for c in NORM_CASES],
    ids=[c[0] for c in NORM_CASES],
)
def test_clip_grad_norm(grads, max_norm, norm_type, total, after) -> None:
    params = params_with(grads)
    assert clip_grad_norm_(params, max_norm, norm_type) == pytest.approx(total, rel=1e-15)
    for p, want in zip(params, after, strict=True):
        assert p.grad == (None if want is None else pytest.approx(want, rel=1e-15))


def test_clip_grad_norm_takes_a_single_value() -> None:
    x = Value(1.0)
    x.grad = -3.0
    assert clip_grad_norm_(x, 1.0) == 3.0
    assert x.grad == pytest.approx(-1.0, rel=1e-6)


def test_nonfinite_norm_raises_only_when_asked() -> None:
    with pytest.raises(RuntimeError, match=r"total norm of order 2\.0 of the gradients is nan"):
        clip_grad_norm_(params_with([1.0, math.nan]), 1.0, error_if_nonfinite=True)
    params = params_with([1.0, math.inf])
    assert clip_grad_norm_(params, 1.0) == math.inf  # as torch: scaled by 0 (inf * 0 = nan)
    assert params[0].grad == 0.0 and math.isnan(params[1].grad)


# As PyTorch: one NaN gradient makes the norm NaN, wherever it sits and whatever infinity
# sits beside it (torch.linalg.vector_norm sums |g|^p, or takes the max for p = inf,
# and inf + nan and max(inf, nan) are nan); every gradient is then scaled by
# clamp(max_norm / (nan + 1e-6), max=1) = nan.
NAN_CASES = [
    ([math.nan, 1.0], math.inf),
    ([1.0, math.nan], math.inf),
    ([3.0, math.inf, math.nan], math.inf),
    ([3.0, math.inf, math.nan], 2.0),
    ([3.0, math.nan, math.inf], 2.0),
    ([math.inf, math.nan], 1.0),
    ([math.nan, math.inf], 3.0),
]


@pytest.mark.parametrize(("grads", "norm_type"), NAN_CASES)
@pytest.mark.parametrize("flat", [False, True], ids=["values", "flat"])
def test_a_nan_gradient_makes_the_norm_nan_wherever_it_is(grads, norm_type, flat) -> None:
    def make():
        if flat:  # what compiled.flat() gives: data and grad arrays
            return [SimpleNamespace(data=np.zeros(len(grads)), grad=np.array(grads))]
        return params_with(grads)

    params = make()
    assert math.isnan(clip_grad_norm_(params, 1.0, norm_type))
    after = list(params[0].grad) if flat else [p.grad for p in params]
    assert all(map(math.isnan, after))
    with pytest.raises(RuntimeError, match=r"of the gradients is nan, so it cannot be clipped"):
        clip_grad_norm_(make(), 1.0, norm_type, error_if_nonfinite=True)


BAD_ARGUMENTS = [
    (
        clip_grad_norm_,
        ([Value(1.0)], -1.0),
        ValueError,
        "Invalid max_norm of clip_grad_norm_: -1.0",
    ),
    (
        clip_grad_norm_,
        ([Value(1.0)], 1.0, 0),
        ValueError,
        "Invalid norm_type of clip_grad_norm_: 0",
    ),
    (
        clip_grad_norm_,
        ([Value(1.0)], "1"),
        TypeError,
        "Invalid max_norm of clip_grad_norm_: '1' (expected a real number)",
    ),
    (clip_grad_norm_, ([1.0], 1.0), TypeError, "clip_grad_norm_: expected Values, got float"),
    (
        clip_grad_value_,
        ([Value(1.0)], -0.5),
        ValueError,
        "Invalid clip_value of clip_grad_value_: -0.5",
    ),
    (
        clip_grad_value_,
        ([Value(1.0)], None),
        TypeError,
        "Invalid clip_value of clip_grad_value_: None",
    ),
]


@pytest.mark.parametrize(
    ("function", "args", "error", "message"),
    BAD_ARGUMENTS,
    ids=["negative-max", "zero-norm-type", "str-max", "float-param", "negative-clip", "none-clip"],
)
def test_bad_arguments_raise(function, args, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        function(*args)


def test_clip_grad_value() -> None:
    params = params_with([3.0, -4.0, 0.5, None, math.nan])
    clip_grad_value_(params, 1.0)
    assert [p.grad for p in params[:4]] == [1.0, -1.0, 0.5, None]
    assert math.isnan(params[4].grad)  # NaN is passed on, not hidden


@given(grads=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=8), max_norm=st.floats(0.0, 1e3))
def test_clipped_norm_is_at_most_max_norm_and_direction_is_kept(grads, max_norm) -> None:
    params = params_with(grads)
    total = clip_grad_norm_(params, max_norm)
    # relative slack, plus an absolute one for rounding near the smallest floats
    assert math.hypot(*(p.grad for p in params)) <= max_norm * (1 + 1e-12) + 1e-300
    scale = min(max_norm / (total + 1e-6), 1.0)
    assert all(p.grad == g * scale for p, g in zip(params, grads, strict=True))


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_matches_torch(norm_type: float) -> None:
    torch = pytest.importorskip("torch")
    grads = [0.3, -1.7, 2.2, 1e-3, -0.4]
    ours = params_with(grads)
    theirs = [torch.zeros((), dtype=torch.float64, requires_grad=True) for _ in grads]
    for t, g in zip(theirs, grads, strict=True):
        t.grad = torch.tensor(g, dtype=torch.float64)
    total = clip_grad_norm_(ours, 1.5, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.5, norm_type, foreach=False)
    assert total == pytest.approx(expected.item(), rel=1e-15)
    for p, t in zip(ours, theirs, strict=True):
        assert p.grad == pytest.approx(t.grad.item(), rel=1e-15)
    torch.nn.utils.clip_grad_value_(theirs, 0.1, foreach=False)
    clip_grad_value_(ours, 0.1)
    assert [p.grad for p in ours] == [t.grad.item() for t in theirs]
