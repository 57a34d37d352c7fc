"""The backprop demo: its three pages are written and every gradient in their
records equals backward()'s, and the black box's equals the closed form."""

from __future__ import annotations

import math

import pytest
from demo_runner import assert_files_written, assert_says_what_to_look_for, run_demos

from demos import DEMOS
from demos.__main__ import list_demos

pytestmark = pytest.mark.slow  # the demo runs


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_demos(tmp_path_factory, {"backprop": []})["backprop"]


def test_records_equal_backward(result):
    numbers, _ = result
    assert set(numbers) == {"look_for", "blackbox", "network", "reused_input"}
    for name in ("blackbox", "network", "reused_input"):
        assert numbers[name]["record"] == numbers[name]["backward"]
    assert len(numbers["network"]["record"]) == 9  # 2-2-1: 6 + 3 weights and biases


def test_black_box_gradients_in_closed_form(result):
    # loss = (w x + v x^2 - y)^2 at w = v = 1, x = 1.1, y = 2.431:
    # d/dw = 2 (z - y) x, d/dv = 2 (z - y) x^2 with z = x + x^2.
    x, y = 1.1, 2.431
    error = x + x * x - y
    grads = result[0]["blackbox"]["record"]
    assert math.isclose(grads["w"], 2 * error * x, rel_tol=1e-12)
    assert math.isclose(grads["v"], 2 * error * x * x, rel_tol=1e-12)


def test_reused_input_gets_both_shares(result):
    # y = tanh(w0 x + w1 x + b): d y/d x = (1 - y^2)(w0 + w1).
    y = math.tanh(0.5 * 0.8 - 1.5 * 0.8 + 0.1)
    assert math.isclose(
        result[0]["reused_input"]["record"]["x"], (1 - y * y) * (0.5 - 1.5), rel_tol=1e-12
    )


def test_pages_written(result):
    _, out = result
    assert_files_written(
        out, [f"backprop_{n}.html" for n in ("blackbox", "network", "reused_input")]
    )
    page = (out / "backprop_network.html").read_text(encoding="utf-8")
    assert 'data-label="p"' in page and "layers.1.neurons.0.w.0" in page


def test_listed():
    assert "backprop" in DEMOS
    assert "backprop" in list_demos().split()


def test_says_what_to_look_for(result):
    assert_says_what_to_look_for(*result)
