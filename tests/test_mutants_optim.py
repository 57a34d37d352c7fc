"""Tests that pin what mutation testing found unpinned in tapegrad.optim
(``python tools/mutate.py --module optim``; docs/mutation.md lists them). PyTorch's
float64 numbers are kept as literals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tapegrad import Value, compile
from tapegrad.optim import clip_grad_norm_, clip_grad_value_


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
    # The same on a flat view's gradient array.
    ws = [Value(0.0) for _ in expected]
    flat = compile(lambda x: x * ws[0] + ws[1] + ws[2] + ws[3], ws).flat()
    flat.grad = [-0.0, 0.0, 5.0, -5.0]
    clip_grad_value_(flat, clip)
    assert flat.grad.tolist() == expected
    assert _signs(flat.grad.tolist()) == _signs(expected)
    flat.close()


@pytest.mark.parametrize("norm_type", [2, 2.0, math.inf, 3.0])
def test_clip_grad_norm_of_a_flat_view_equals_that_of_the_values(norm_type):
    ws = [Value(1.0), Value(2.0), Value(-1.0)]
    compiled = compile(lambda x: x * ws[0] + x * ws[1] * 2.0 - x * ws[2] * 0.5, ws, reduction="sum")
    flat = compiled.flat()
    compiled(np.array([3.0, 1.0]))  # gradients 4, 8, -2
    total = clip_grad_norm_(flat, 1.0, norm_type=norm_type)
    eager = [Value(0.0) for _ in ws]
    for p, g in zip(eager, [4.0, 8.0, -2.0]):
        p.grad = g
    assert total == pytest.approx(clip_grad_norm_(eager, 1.0, norm_type=norm_type), rel=1e-15)
    assert total == pytest.approx(np.linalg.norm([4.0, 8.0, -2.0], ord=norm_type), rel=1e-15)
    np.testing.assert_allclose(flat.grad, [p.grad for p in eager], rtol=1e-15)
    flat.close()
