"""Second order: the damped Newton optimizer and the largest stable learning rate."""

from __future__ import annotations

import math
import re

import pytest

from tapegrad import Value, compile, optim


def seed_001(v):
    return v[0] ** 2 / 20 + v[1] ** 2


def coupled(v):  # H = [[3, 1], [1, 2]], minimum at H^-1 (1, -4) = (1.2, -2.6)
    x, y = v
    return 0.5 * (3 * x**2 + 2 * x * y + 2 * y**2) - x + 4 * y + 7


def three_d(v):  # gradient 0 at x = 9/11, y = -2, z = 4/11
    x, y, z = v
    return (x - 1) ** 2 + 2 * (y + 2) ** 2 + 3 * (z - 0.5) ** 2 + x * z


def newton_run(f, start, steps=1, **options):
    params = [Value(s) for s in start]
    opt = optim.Newton(params, **options)
    losses = [opt.step(lambda: f(params)).data for _ in range(steps)]
    return [p.data for p in params], losses, opt


QUADRATICS = [
    # id, f, start, minimum
    ("seed-001", seed_001, (-7.0, 2.0), (0.0, 0.0)),
    ("coupled", coupled, (5.0, -5.0), (1.2, -2.6)),
    ("three-d", three_d, (0.0, 0.0, 0.0), (9 / 11, -2.0, 4 / 11)),
]


@pytest.mark.parametrize(
    ("f", "start", "minimum"), [q[1:] for q in QUADRATICS], ids=[q[0] for q in QUADRATICS]
)
def test_newton_reaches_a_quadratics_minimum_in_one_step(f, start, minimum) -> None:
    end, _, opt = newton_run(f, start)
    assert end == pytest.approx(minimum, rel=1e-12, abs=1e-12)
    assert opt.last_damping == 0.0


def test_newton_lr_scales_the_step() -> None:
    end, _, _ = newton_run(seed_001, (-7.0, 2.0), lr=0.5)
    assert end == pytest.approx([-3.5, 1.0], rel=1e-14)


def test_newton_solves_rosenbrock_in_a_few_steps() -> None:
    def rosenbrock(v):
        return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2

    end, losses, _ = newton_run(rosenbrock, (-1.2, 1.0), steps=7)
    assert end == pytest.approx([1.0, 1.0], abs=1e-12)
    assert losses[0] == pytest.approx(24.2)


def test_newton_damps_a_saddle_until_the_system_is_positive_definite() -> None:
    # H = diag(2, -2 + 1.2 y^2) at y = 0.1: not positive definite. Damping tries
    # 1e-3, 1e-2, 1e-1, 1, 10; 10 is the first with H + mu I positive definite.
    def saddle(v):
        return v[0] ** 2 - v[1] ** 2 + 0.1 * v[1] ** 4

    (x, y), losses, opt = newton_run(saddle, (1.0, 0.1))
    assert opt.last_damping == pytest.approx(10.0)
    # x <- x - 2x / (2 + mu); y moves away from the saddle, downhill
    assert x == pytest.approx(1 - 2 / 12, rel=1e-14)
    assert y > 0.1 and saddle([x, y]) < losses[0]


def test_newton_damps_a_singular_hessian() -> None:
    # f is linear in y: H = diag(2, 0) is singular; the first damping 0.5 suffices.
    (x, y), _, opt = newton_run(lambda v: v[0] ** 2 + v[1], (1.0, 0.0), damping=0.5)
    assert opt.last_damping == 0.5
    assert (x, y) == pytest.approx((1 - 2 / 2.5, -1 / 0.5), rel=1e-14)


def test_newton_skips_parameters_that_need_no_gradient() -> None:
    x, frozen = Value(3.0), Value(5.0, requires_grad=False)
    optim.Newton([x, frozen]).step(lambda: (x - frozen) ** 2)
    assert (x.data, frozen.data) == (5.0, 5.0)


BAD_STEPS = [
    (lambda p: None, TypeError, "Newton.step needs a closure"),
    (lambda p: lambda: 1.0, TypeError, "the closure must return a Value"),
    (lambda p: lambda: p * 1e300 * 1e300, ValueError, "non-finite gradient"),
]


@pytest.mark.parametrize(
    ("closure", "error", "message"), BAD_STEPS, ids=["no-closure", "float-loss", "overflow"]
)
def test_bad_newton_steps_raise(closure, error, message) -> None:
    x = Value(1.0)
    with pytest.raises(error, match=re.escape(message)):
        optim.Newton([x]).step(closure(x))
    assert x.data == 1.0


# --- largest stable learning rate: 2 / lambda_max(H) -------------------------------------

STABLE_LR = [
    # id, f, point, 2 / lambda_max
    ("seed-001", seed_001, (-7.0, 2.0), 1.0),
    ("coupled", coupled, (0.0, 0.0), 2 / ((5 + math.sqrt(5)) / 2)),
    ("quartic", lambda v: v[0] ** 4, (1.0,), 2 / 12),
    ("indefinite", lambda v: v[0] * v[1], (0.3, 0.4), 2.0),
]


@pytest.mark.parametrize(
    ("f", "point", "expected"), [s[1:] for s in STABLE_LR], ids=[s[0] for s in STABLE_LR]
)
def test_largest_stable_lr(f, point, expected) -> None:
    assert optim.largest_stable_lr(f, point) == pytest.approx(expected, rel=1e-14)


def gradient_descent_distance(f, start, lr, steps):
    params = [Value(s) for s in start]
    opt = optim.SGD(params, lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        f(params).backward()
        opt.step()
    return math.hypot(*(p.data for p in params))


@pytest.mark.parametrize(
    "f",
    [seed_001, lambda v: coupled(v) - coupled([0.0, 0.0]) + v[0] - 4 * v[1]],
    ids=["seed-001", "coupled"],
)
def test_gradient_descent_converges_just_below_and_diverges_just_above(f) -> None:
    # Minimum at the origin; the error along the top eigenvector is multiplied by
    # 1 - lr * lambda_max each step: -0.98 at 0.99 lr*, -1.02 at 1.01 lr*.
    limit = optim.largest_stable_lr(f, (1.0, 1.0))
    start = (1.0, 1.0)
    assert gradient_descent_distance(f, start, 0.99 * limit, 400) < 1e-2
    assert gradient_descent_distance(f, start, 1.01 * limit, 400) > 100


BAD_POINTS = [
    (lambda v: -(v[0] ** 2), (1.0,), "no positive eigenvalue (lambda_max = -2)"),
    (lambda v: 0 * v[0] + 3, (1.0,), "no positive eigenvalue (lambda_max = 0)"),
    (lambda v: v[0] * 1e300 * 1e300 * v[0], (1.0,), "the Hessian at [1.0] is not finite"),
    (lambda v: v[0] ** 2, (), "the point has no coordinates"),
]


@pytest.mark.parametrize(
    ("f", "point", "message"), BAD_POINTS, ids=["concave", "flat", "overflow", "no-variables"]
)
def test_largest_stable_lr_refuses_points_without_one(f, point, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        optim.largest_stable_lr(f, point)


def test_newton_refuses_the_per_parameter_update() -> None:
    opt = optim.Newton([Value(1.0)])
    with pytest.raises(TypeError, match=re.escape("call step(closure)")):
        opt.update(1.0, 0.5, {}, opt.param_groups[0])


def test_newton_refuses_a_flat_parameter_vector() -> None:
    w = Value(1.0)
    flat = compile(lambda x: (w * x - 1.0) ** 2, [w]).flat()
    with pytest.raises(TypeError, match="Newton needs Values"):
        optim.Newton([flat])
