"""Tests that pin what mutation testing found unpinned in tapegrad.optim
(``python tools/mutate.py --module optim``; docs/mutation.md lists them). PyTorch's
float64 numbers are kept as literals."""

from __future__ import annotations

import math

import pytest

from tapegrad import Value
from tapegrad.optim import clip_grad_value_


def _signs(xs):
    return [math.copysign(1.0, x) for x in xs]


@pytest.mark.parametrize(
    ("clip", "expected"),
    [
        # p.grad = [-0.0, 0.0, 5.0, -5.0]; torch.nn.utils.clip_grad_value_([p], clip)
        (0.0, [-0.0, 0.0, 0.0, -0.0]),
        (1.0, [-0.0, 0.0, 1.0, -1.0]),
    ],
)
def test_clip_grad_value_keeps_floats_and_the_sign_of_zero_as_pytorch(clip, expected):
    params = [Value(0.0) for _ in expected]
    for p, g in zip(params, [-0.0, 0.0, 5.0, -5.0]):
        p.grad = g
    clip_grad_value_(params, clip)
    grads = [p.grad for p in params]
    assert grads == expected
    assert _signs(grads) == _signs(expected)
    assert all(type(g) is float for g in grads)
