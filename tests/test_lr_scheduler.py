"""Learning-rate schedules: against their closed forms, hand-traced plateau scenarios,
PyTorch's schedulers (its float64 numbers kept as literals, and live where torch is
installed), and save-and-resume."""

from __future__ import annotations

import json
import math
import re

import pytest

from tapegrad import Value, optim
from tapegrad.optim import lr_scheduler


def sgd(lr: float = 0.1, groups: int = 1) -> optim.SGD:
    return optim.SGD([{"params": [Value(1.0)], "lr": lr * (i + 1)} for i in range(groups)])


def cosine(base: float, low: float, period: int, epoch: int) -> float:
    return low + (base - low) * (1 + math.cos(math.pi * epoch / period)) / 2


CLOSED_FORMS = [
    # id, scheduler factory, closed form lr(base, epoch)
    (
        "step",
        lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.1),
        lambda base, e: base * 0.1 ** (e // 3),
    ),
    ("step-default-gamma", lambda o: lr_scheduler.StepLR(o, 1), lambda base, e: base * 0.1**e),
    (
        "exponential",
        lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
        lambda base, e: base * 0.9**e,
    ),
    (
        "cosine",
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
        lambda base, e: cosine(base, 0.0, 10, e),
    ),
    (
        "cosine-eta-min",
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
        lambda base, e: cosine(base, 0.01, 7, e),
    ),
    (
        "cosine-one-epoch",
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=1),
        lambda base, e: cosine(base, 0.0, 1, e),
    ),
]


@pytest.mark.parametrize(
    ("make", "closed_form"), [c[1:] for c in CLOSED_FORMS], ids=[c[0] for c in CLOSED_FORMS]
)
def test_schedule_follows_its_closed_form(make, closed_form) -> None:
    opt = sgd(0.1, groups=2)
    scheduler = make(opt)
    for epoch in range(36):  # past T_max: the cosine climbs back, period 2 * T_max
        if epoch:
            opt.step()
            scheduler.step()
        expected = [closed_form(base, epoch) for base in (0.1, 0.2)]
        assert scheduler.get_last_lr() == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert [g["lr"] for g in opt.param_groups] == scheduler.get_last_lr()
        assert scheduler.last_epoch == epoch


def test_scheduled_rate_is_the_one_the_optimizer_uses() -> None:
    x = Value(0.0)
    opt = optim.SGD([x], lr=1.0)
    scheduler = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    moves = []
    for _ in range(5):
        before = x.data
        x.grad = -1.0
        opt.step()
        scheduler.step()
        moves.append(x.data - before)
    assert moves == [1.0, 1.0, 0.5, 0.5, 0.25]


PLATEAU = [
    # id, options, metric per epoch, lr after each step (from lr = 1)
    (
        "patience-2",
        {"factor": 0.5, "patience": 2},
        [1, 0.9, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8, 0.8],
        [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25],
    ),
    (
        "cooldown",
        {"factor": 0.5, "patience": 0, "cooldown": 2},
        [1, 2, 2, 2, 2],
        [1, 0.5, 0.5, 0.5, 0.25],
    ),
    # the third cut would go below min_lr; the fourth would change lr by 0 <= eps
    ("min-lr", {"factor": 0.1, "patience": 0, "min_lr": 0.05}, [1, 2, 2, 2], [1, 0.1, 0.05, 0.05]),
    # max mode, absolute threshold 0.1: 1.05 is not better than 1, 1.2 is, 1.25 is not
    (
        "max-abs",
        {"mode": "max", "factor": 0.5, "patience": 0, "threshold": 0.1, "threshold_mode": "abs"},
        [1, 1.05, 1.2, 1.25],
        [1, 0.5, 0.5, 0.25],
    ),
    # min mode, relative threshold 10%: 0.95 is not better than 1, 0.85 is
    (
        "min-rel",
        {"factor": 0.5, "patience": 0, "threshold": 0.1},
        [1, 0.95, 0.85, 0.8],
        [1, 0.5, 0.5, 0.25],
    ),
    ("eps-blocks-tiny-cuts", {"factor": 0.5, "patience": 0, "eps": 0.6}, [1, 2, 2], [1, 1, 1]),
]


@pytest.mark.parametrize(
    ("options", "metrics", "lrs"), [p[1:] for p in PLATEAU], ids=[p[0] for p in PLATEAU]
)
def test_reduce_on_plateau(options, metrics, lrs) -> None:
    opt = sgd(1.0)
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, **options)
    for metric, lr in zip(metrics, lrs, strict=True):
        scheduler.step(metric)
        assert scheduler.get_last_lr() == [pytest.approx(lr, rel=1e-15)]
    assert scheduler.last_epoch == len(metrics)


def test_reduce_on_plateau_takes_a_min_lr_per_group() -> None:
    opt = sgd(1.0, groups=2)  # lrs 1 and 2
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=0, min_lr=[0.5, 0.01])
    scheduler.step(1.0)
    scheduler.step(1.0)
    assert scheduler.get_last_lr() == [0.5, pytest.approx(0.2)]


def run_torch_schedule(name: str, kwargs: dict, epochs: int, metrics=None) -> list[float]:
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = getattr(torch.optim.lr_scheduler, name)(opt, **kwargs)
    lrs = []
    for epoch in range(epochs):
        opt.step()
        scheduler.step(*([metrics[epoch]] if metrics else []))
        lrs.append(scheduler.get_last_lr()[0])
    return lrs


TORCH_SCHEDULES = [
    ("StepLR", {"step_size": 4, "gamma": 0.3}, None),
    ("ExponentialLR", {"gamma": 0.93}, None),
    ("CosineAnnealingLR", {"T_max": 9, "eta_min": 0.001}, None),
    (
        "ReduceLROnPlateau",
        {"patience": 1, "factor": 0.3, "cooldown": 1},
        [1 / (1 + e // 7) + 0.01 * (e % 3) for e in range(40)],
    ),  # improves every 7th epoch
]


@pytest.mark.parametrize(
    ("name", "kwargs", "metrics"), TORCH_SCHEDULES, ids=[s[0] for s in TORCH_SCHEDULES]
)
def test_matches_torch(name, kwargs, metrics) -> None:
    expected = run_torch_schedule(name, kwargs, 40, metrics)
    opt = sgd(0.1)
    scheduler = getattr(lr_scheduler, name)(opt, **kwargs)
    got = []
    for epoch in range(40):
        opt.step()
        scheduler.step(*([metrics[epoch]] if metrics else []))
        got.append(scheduler.get_last_lr()[0])
    assert got == pytest.approx(expected, rel=1e-15, abs=1e-18)


class Halving:
    """A schedule factor as a callable object: LambdaLR saves its attributes."""

    def __init__(self) -> None:
        self.every = 3

    def __call__(self, epoch: int) -> float:
        return 0.5 ** (epoch // self.every)


SCHEDULES = [
    ("step", lambda o: lr_scheduler.StepLR(o, 3, 0.5), None),
    ("lambda", lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e)), None),
    ("lambda-object", lambda o: lr_scheduler.LambdaLR(o, Halving()), None),
    ("multistep", lambda o: lr_scheduler.MultiStepLR(o, [3, 6, 6, 8], 0.5), None),
    ("linear", lambda o: lr_scheduler.LinearLR(o, 0.2, total_iters=8), None),
    ("one-cycle", lambda o: lr_scheduler.OneCycleLR(o, max_lr=2.0, total_steps=12), None),
    (
        "sequential",
        lambda o: lr_scheduler.SequentialLR(
            o, [lr_scheduler.LinearLR(o, 0.1, total_iters=4), lr_scheduler.StepLR(o, 2)], [4]
        ),
        None,
    ),
    ("exponential", lambda o: lr_scheduler.ExponentialLR(o, 0.9), None),
    ("cosine", lambda o: lr_scheduler.CosineAnnealingLR(o, 5, 0.01), None),
    (
        "plateau",
        lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=1, cooldown=1),
        [3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1],
    ),
]


@pytest.mark.parametrize(
    ("make", "metrics"), [s[1:] for s in SCHEDULES], ids=[s[0] for s in SCHEDULES]
)
def test_state_dicts_resume_the_schedule_exactly(make, metrics) -> None:
    metrics = metrics or [None] * 12

    def epochs(opt, scheduler, values):
        lrs = []
        for metric in values:
            opt.step()
            scheduler.step(*([] if metric is None else [metric]))
            lrs.append(scheduler.get_last_lr())
        return lrs

    opt = sgd(1.0)
    straight = epochs(opt, make(opt), metrics)
    assert len(set(map(tuple, straight))) > 2  # the rate changes on the way
    opt = sgd(1.0)
    scheduler = make(opt)
    epochs(opt, scheduler, metrics[:5])
    saved = json.loads(json.dumps({"opt": opt.state_dict(), "sched": scheduler.state_dict()}))
    new_opt = sgd(1.0)
    new_scheduler = make(new_opt)  # before optimizer.load_state_dict, as in PyTorch
    new_opt.load_state_dict(saved["opt"])
    new_scheduler.load_state_dict(saved["sched"])
    assert epochs(new_opt, new_scheduler, metrics[5:]) == straight[5:]


def test_resuming_with_last_epoch_needs_initial_lr() -> None:
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(sgd(), 2, last_epoch=3)
    opt = sgd()
    lr_scheduler.StepLR(opt, 2)
    assert lr_scheduler.StepLR(opt, 2, last_epoch=3).last_epoch == 4


# Creating a scheduler with last_epoch=k is a step to epoch k + 1, as in PyTorch (whose
# LRScheduler.__init__ calls step()). The rates are PyTorch 2.13's, in float64: StepLR
# decays when the epoch is a multiple of step_size (epoch 6: 0.5 * 0.5; epoch 4: no
# decay), MultiStepLR when it is a milestone (epoch 2 of [2, 4, 6]), LambdaLR and
# OneCycleLR set epoch k + 1's rate from initial_lr (1 * 0.9 ** 4; step 5 of 10 with
# max_lr 1), while ExponentialLR, CosineAnnealingLR and LinearLR keep the group's rate.
ONE_CYCLE_GROUP = {"max_lr": 1.0, "min_lr": 4e-6, "max_momentum": 0.95, "base_momentum": 0.85}
RESUMED = [
    ("step", lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5, last_epoch=5), 0.5, 0.25),
    ("step-between-decays", lambda o: lr_scheduler.StepLR(o, 3, 0.5, last_epoch=2), 1.0, 0.5),
    ("step-no-decay", lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5, last_epoch=3), 0.5, 0.5),
    ("exponential", lambda o: lr_scheduler.ExponentialLR(o, 0.9, last_epoch=1), 0.81, 0.81),
    (
        "cosine",
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.1, last_epoch=2),
        0.5,
        0.5,
    ),
    ("lambda", lambda o: lr_scheduler.LambdaLR(o, lambda e: 0.9**e, last_epoch=3), 0.5, 0.6561),
    ("multistep", lambda o: lr_scheduler.MultiStepLR(o, [2, 4, 6], 0.5, last_epoch=1), 1.0, 0.5),
    (
        "multistep-between",
        lambda o: lr_scheduler.MultiStepLR(o, [2, 4, 6], 0.5, last_epoch=2),
        0.5,
        0.5,
    ),
    ("linear", lambda o: lr_scheduler.LinearLR(o, 0.25, total_iters=4, last_epoch=1), 0.5, 0.5),
    (
        "one-cycle",
        lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10, last_epoch=4),
        0.5,
        0.6112620219362893,
    ),
]


@pytest.mark.parametrize(
    ("make", "lr", "resumed_lr"), [c[1:] for c in RESUMED], ids=[c[0] for c in RESUMED]
)
def test_resuming_at_last_epoch_k_sets_the_rate_of_epoch_k_plus_1(make, lr, resumed_lr) -> None:
    opt = sgd(lr)
    opt.param_groups[0]["initial_lr"] = 1.0
    opt.param_groups[0].update(ONE_CYCLE_GROUP)  # read by OneCycleLR only
    scheduler = make(opt)
    assert opt.param_groups[0]["lr"] == resumed_lr
    assert scheduler.get_last_lr() == [resumed_lr]


def test_a_resumed_step_schedule_decays_on_the_epochs_a_straight_one_does() -> None:
    straight_opt = sgd(1.0)
    straight = lr_scheduler.StepLR(straight_opt, 3, gamma=0.5)
    rates = []
    for _ in range(12):
        straight.step()
        rates.append(straight.get_last_lr()[0])
    opt = sgd(rates[4])  # resumed after epoch 5
    opt.param_groups[0]["initial_lr"] = 1.0
    resumed = lr_scheduler.StepLR(opt, 3, gamma=0.5, last_epoch=5)
    again = [resumed.get_last_lr()[0]]
    for _ in range(6):
        resumed.step()
        again.append(resumed.get_last_lr()[0])
    assert again == rates[5:] == [0.25, 0.25, 0.25, 0.125, 0.125, 0.125, 0.0625]


BAD_SCHEDULERS = [
    (lambda o: lr_scheduler.StepLR(o, 0), ValueError, "Invalid step_size: 0"),
    (lambda o: lr_scheduler.StepLR(o, 2.5), TypeError, "Invalid step_size: 2.5"),
    (lambda o: lr_scheduler.StepLR(o, 2, gamma=-0.1), ValueError, "Invalid gamma: -0.1"),
    (lambda o: lr_scheduler.ExponentialLR(o, 0), ValueError, "Invalid gamma: 0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, 0), ValueError, "Invalid T_max: 0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, 5, eta_min=-1), ValueError, "Invalid eta_min: -1"),
    (
        lambda o: lr_scheduler.ExponentialLR(o, 0.9, last_epoch=-2),
        ValueError,
        "Invalid last_epoch: -2",
    ),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="avg"), ValueError, "Invalid mode: 'avg'"),
    (
        lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"),
        ValueError,
        "Invalid threshold_mode: 'pct'",
    ),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, "Invalid factor: 1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), ValueError, "Invalid patience: -1"),
    (
        lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold=-1),
        ValueError,
        "Invalid threshold: -1",
    ),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, cooldown=-1), ValueError, "Invalid cooldown: -1"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, eps=-1), ValueError, "Invalid eps: -1"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=-1), ValueError, "Invalid min_lr: -1"),
    (
        lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0, 0]),
        ValueError,
        "Invalid min_lr: expected 1 values, got 2",
    ),
    (lambda o: lr_scheduler.StepLR("sgd", 2), TypeError, "str is not an Optimizer"),
    (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError, "LambdaLR: lr_lambda must be callable"),
    (
        lambda o: lr_scheduler.LambdaLR(o, [abs, abs]),
        ValueError,
        "Expected 1 lr_lambdas, but got 2",
    ),
    (
        lambda o: lr_scheduler.LambdaLR(o, lambda e: "1"),
        TypeError,
        "LambdaLR: lr_lambda(0) returned '1', not a real number",
    ),
    (lambda o: lr_scheduler.MultiStepLR(o, 5), TypeError, "Invalid milestones: 5"),
    (lambda o: lr_scheduler.MultiStepLR(o, [2, -1]), ValueError, "Invalid milestone: -1"),
    (lambda o: lr_scheduler.MultiStepLR(o, [2.5]), TypeError, "Invalid milestone: 2.5"),
    (lambda o: lr_scheduler.MultiStepLR(o, [2], gamma=0), ValueError, "Invalid gamma: 0"),
    (
        lambda o: lr_scheduler.LinearLR(o, start_factor=0),
        ValueError,
        "Starting multiplicative factor expected to be greater than 0 and less or equal "
        "to 1. Got start_factor=0.",
    ),
    (
        lambda o: lr_scheduler.LinearLR(o, start_factor=1.5),
        ValueError,
        "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.",
    ),
    (
        lambda o: lr_scheduler.LinearLR(o, end_factor=-0.1),
        ValueError,
        "Ending multiplicative factor expected to be between 0 and 1. Got end_factor=-0.1.",
    ),
    (lambda o: lr_scheduler.LinearLR(o, start_factor="1"), TypeError, "Invalid start_factor"),
    (lambda o: lr_scheduler.LinearLR(o, total_iters=0), ValueError, "Invalid total_iters: 0"),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0),
        ValueError,
        "You must define either total_steps OR (epochs AND steps_per_epoch)",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0, total_steps=0),
        ValueError,
        "Expected positive integer total_steps, but got 0",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0, epochs=2.0, steps_per_epoch=3),
        ValueError,
        "Expected positive integer epochs, but got 2.0",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0, epochs=2, steps_per_epoch=-3),
        ValueError,
        "Expected positive integer steps_per_epoch, but got -3",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0, 10, pct_start=1),
        ValueError,
        "Expected float between 0 and 1 pct_start, but got 1",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0, 10, anneal_strategy="cosine"),
        ValueError,
        "anneal_strategy must be one of 'cos' or 'linear', instead got cosine",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, [1.0, 2.0], 10),
        ValueError,
        "max_lr must have the same length as optimizer.param_groups. max_lr has 2 values, "
        "param_groups has 1.",
    ),
    (lambda o: lr_scheduler.OneCycleLR(o, -1.0, 10), ValueError, "Invalid max_lr: -1.0"),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0, 10, div_factor=0),
        ValueError,
        "Invalid div_factor: 0",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0, 10, cycle_momentum=1),
        TypeError,
        "Invalid cycle_momentum flag: 1",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(optim.Adagrad([Value(0.0)]), 1.0, 10),
        ValueError,
        "optimizer must support momentum or beta1 with `cycle_momentum` option enabled",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(optim.Adam([Value(0.0)]), 1.0, 10, max_momentum=1.0),
        ValueError,
        "Invalid max_momentum: 1.0",
    ),
    (
        lambda o: lr_scheduler.OneCycleLR(o, 1.0, 10, last_epoch=3),
        KeyError,
        "param 'initial_lr' is not specified in param_groups[0]",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(o, [], []),
        ValueError,
        "SequentialLR expects at least one scheduler, but got no scheduler.",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(
            o, [lr_scheduler.StepLR(o, 2), lr_scheduler.ReduceLROnPlateau(o)], [3]
        ),
        ValueError,
        "SequentialLR does not support `ReduceLROnPlateau` scheduler",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2), "cosine"], [3]),
        TypeError,
        "SequentialLR: the scheduler at index 1 is str, not an epoch-driven schedule",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(sgd(), 2)], []),
        ValueError,
        "SequentialLR expects all schedulers to belong to the same optimizer, but got "
        "scheduler StepLR at index 0 with another optimizer",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)] * 2, []),
        ValueError,
        "Sequential Schedulers expects number of schedulers provided to be one more than the "
        "number of milestone points, but got number of schedulers 2 and the number of "
        "milestones to be equal to 0",
    ),
    (
        lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)] * 3, [4, 4]),
        ValueError,
        "Invalid milestones: [4, 4] (expected increasing epochs)",
    ),
    (lambda o: lr_scheduler.ReduceLROnPlateau([o]), TypeError, "list is not an Optimizer"),
    (
        lambda o: lr_scheduler.StepLR(o, 2).load_state_dict({"gamma": 0.5}),
        ValueError,
        "StepLR.load_state_dict: expected keys",
    ),
]


@pytest.mark.parametrize(
    ("make", "error", "message"),
    BAD_SCHEDULERS,
    ids=[b[2].split(":")[0] + f"-{i}" for i, b in enumerate(BAD_SCHEDULERS)],
)
def test_bad_scheduler_arguments_raise(make, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        make(sgd())


# PyTorch 2.13's rates (and momenta) in float64, epoch 0 (after creation) first: the
# optimizer is SGD(momentum=0.9) or Adam with lr 0.1 (and 0.2 for a second group).
# MultiStepLR decays twice at the repeated milestone 5 (gamma ** 2). OneCycleLR starts
# at max_lr / 25 and may be stepped total_steps times; that last step is past the end
# of the cycle and climbs back (its cosine is past pi), as PyTorch's does.
REFERENCE = [
    (
        "lambda-per-group",
        lambda M, o: M.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: 0.5 ** (e // 3)]),
        "sgd",
        [
            [0.1, 0.2],
            [0.05, 0.2],
            [0.03333333333333333, 0.2],
            [0.025, 0.1],
            [0.020000000000000004, 0.1],
            [0.016666666666666666, 0.1],
            [0.014285714285714285, 0.05],
            [0.0125, 0.05],
        ],
        None,
    ),
    (
        "multistep",
        lambda M, o: M.MultiStepLR(o, [2, 5, 5, 9], gamma=0.3),
        "sgd",
        [0.1, 0.1, 0.03, 0.03, 0.03] + [0.0026999999999999997] * 4 + [0.0008099999999999998] * 2,
        None,
    ),
    (
        "linear-defaults",
        lambda M, o: M.LinearLR(o),
        "sgd",
        [
            0.03333333333333333,
            0.04666666666666667,
            0.060000000000000005,
            0.07333333333333335,
            0.08666666666666668,
            0.1,
            0.1,
        ],
        None,
    ),
    (
        "linear-warm-up",
        lambda M, o: M.LinearLR(o, start_factor=0.1, end_factor=0.7, total_iters=4),
        "sgd",
        [
            0.010000000000000002,
            0.025000000000000005,
            0.04000000000000001,
            0.05500000000000001,
            0.07,
            0.07,
            0.07,
        ],
        None,
    ),
    (
        "one-cycle-sgd",
        lambda M, o: M.OneCycleLR(o, max_lr=1.0, total_steps=10),
        "sgd",
        [
            0.040000000000000036,
            0.52,
            1.0,
            0.9504846320134737,
            0.8117456539497631,
            0.6112620219362893,
            0.38874197806371075,
            0.18825834605023697,
            0.049519367986526286,
            4e-06,
            0.04951936798652623,
        ],
        [
            0.95,
            0.8999999999999999,
            0.85,
            0.854951556604879,
            0.8688255099070633,
            0.8888739533021842,
            0.9111260466978157,
            0.9311744900929366,
            0.945048443395121,
            0.95,
            0.945048443395121,
        ],
    ),
    (
        "one-cycle-adam-three-phase-linear",
        lambda M, o: M.OneCycleLR(
            o,
            max_lr=0.5,
            epochs=2,
            steps_per_epoch=5,
            pct_start=0.25,
            anneal_strategy="linear",
            three_phase=True,
        ),
        "adam",
        [
            0.02,
            0.33999999999999997,
            0.34,
            0.020000000000000018,
            0.016667,
            0.013334,
            0.010001,
            0.006668,
            0.0033349999999999977,
            1.9999999999985307e-06,
        ],
        [0.95, 0.8833333333333333, 0.8833333333333333] + [0.95] * 7,
    ),
    (
        "warm-up-then-cosine",
        lambda M, o: M.SequentialLR(
            o,
            [M.LinearLR(o, 0.1, total_iters=3), M.CosineAnnealingLR(o, T_max=7, eta_min=0.001)],
            milestones=[3],
        ),
        "sgd",
        [
            0.010000000000000002,
            0.04,
            0.07,
            0.1,
            0.09509795896116975,
            0.08136274519200731,
            0.061514786230837566,
            0.03948521376916245,
            0.019637254807992697,
            0.005902041038830259,
            0.001,
            0.005902041038830253,
        ],
        None,
    ),
]


def momentum_of(group: dict) -> float:
    return group["betas"][0] if "betas" in group else group["momentum"]


def run_reference(module, opt, make, epochs: int) -> tuple[list, list]:
    """The rates after creation and after each step (one group: its rate alone), and
    the first group's momentum (beta1 for Adam) at each."""
    scheduler = make(module, opt)
    lrs, momenta = [scheduler.get_last_lr()], [momentum_of(opt.param_groups[0])]
    for _ in range(epochs):
        opt.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr())
        momenta.append(momentum_of(opt.param_groups[0]))
    if len(opt.param_groups) == 1:
        lrs = [lr for (lr,) in lrs]
    return lrs, momenta


def tapegrad_optimizer(kind: str, groups: int) -> optim.Optimizer:
    params = [{"params": [Value(0.0)], "lr": 0.1 * (i + 1)} for i in range(groups)]
    return optim.SGD(params, momentum=0.9) if kind == "sgd" else optim.Adam(params)


@pytest.mark.parametrize(
    ("make", "kind", "lrs", "momenta"), [r[1:] for r in REFERENCE], ids=[r[0] for r in REFERENCE]
)
def test_matches_pytorch_step_by_step(make, kind, lrs, momenta) -> None:
    groups = len(lrs[0]) if isinstance(lrs[0], list) else 1
    opt = tapegrad_optimizer(kind, groups)
    got, got_momenta = run_reference(lr_scheduler, opt, make, len(lrs) - 1)
    assert got == lrs
    assert got_momenta == (momenta or [0.9] * len(lrs))
    assert [g["lr"] for g in opt.param_groups] == (lrs[-1] if groups > 1 else [lrs[-1]])


LIVE = [
    ("lambda", lambda M, o: M.LambdaLR(o, lambda e: 0.95**e), 12),
    ("multistep-at-0", lambda M, o: M.MultiStepLR(o, [0, 3, 3], gamma=0.5), 6),
    ("linear-down", lambda M, o: M.LinearLR(o, 1.0, 0.0, total_iters=5), 8),
    ("one-cycle", lambda M, o: M.OneCycleLR(o, max_lr=[0.5, 2.0], total_steps=23), 23),
    (
        "one-cycle-three-phase",
        lambda M, o: M.OneCycleLR(o, 1.0, epochs=3, steps_per_epoch=7, three_phase=True),
        21,
    ),
    ("one-cycle-no-momentum", lambda M, o: M.OneCycleLR(o, 0.1, 10, cycle_momentum=False), 10),
    (
        "sequential-three",
        lambda M, o: M.SequentialLR(
            o,
            [M.ExponentialLR(o, 0.9), M.StepLR(o, 2, 0.5), M.LambdaLR(o, lambda e: 1 + e)],
            [2, 6],
        ),
        12,
    ),
    (
        "sequential-into-one-cycle",
        lambda M, o: M.SequentialLR(
            o, [M.MultiStepLR(o, [1], 0.5), M.OneCycleLR(o, max_lr=1.0, total_steps=6)], [3]
        ),
        9,
    ),
]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize(("make", "epochs"), [c[1:] for c in LIVE], ids=[c[0] for c in LIVE])
def test_matches_torch_live(make, epochs, kind) -> None:
    torch = pytest.importorskip("torch")
    params = [
        {"params": [torch.zeros(1, dtype=torch.float64, requires_grad=True)], "lr": 0.1 * (i + 1)}
        for i in range(2)
    ]
    torch_opt = torch.optim.SGD(params, momentum=0.9) if kind == "sgd" else torch.optim.Adam(params)
    expected = run_reference(torch.optim.lr_scheduler, torch_opt, make, epochs)
    assert run_reference(lr_scheduler, tapegrad_optimizer(kind, 2), make, epochs) == expected


def test_one_cycle_refuses_a_step_past_total_steps_as_pytorch() -> None:
    opt = sgd(0.1)
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        scheduler.step()
    with pytest.raises(
        ValueError, match="Tried to step 4 times. The specified number of total steps is 3"
    ):
        scheduler.step()
    assert scheduler.get_last_lr() == [0.4626371026669753]  # step 3's rate stays


def test_one_cycle_phase_of_no_steps_is_a_value_error() -> None:
    # pct_start * total_steps = 1: the first phase ends at step 0, where it starts.
    with pytest.raises(ValueError, match=re.escape("step 0 falls in a phase of no steps")):
        lr_scheduler.OneCycleLR(sgd(), max_lr=1.0, total_steps=2, pct_start=0.5)


def test_one_cycle_cycles_adam_beta1_and_keeps_beta2() -> None:
    opt = optim.Adam([Value(0.0)], lr=0.1, betas=(0.9, 0.99))
    lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, max_momentum=0.8)
    assert opt.param_groups[0]["betas"] == (0.8, 0.99)
    assert opt.param_groups[0]["initial_lr"] == 0.04
    assert opt.param_groups[0]["min_lr"] == 0.04 / 1e4


def test_lambda_state_dict_keeps_a_callable_objects_attributes_not_functions() -> None:
    opt = sgd(1.0, groups=2)
    halving = Halving()
    scheduler = lr_scheduler.LambdaLR(opt, [lambda e: 1.0, halving])
    halving.every = 2
    saved = scheduler.state_dict()
    assert saved["lr_lambdas"] == [None, {"every": 2}]
    fresh = Halving()
    again = lr_scheduler.LambdaLR(sgd(1.0, groups=2), [lambda e: 1.0, fresh])
    again.load_state_dict(json.loads(json.dumps(saved)))
    assert fresh.every == 2
    for _ in range(2):
        again.step()
    assert again.get_last_lr() == [1.0, 1.0]  # 2 * 0.5 ** (2 // 2)


def test_sequential_restarts_the_next_schedule_at_its_milestone() -> None:
    opt = sgd(1.0)
    warm = lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    scheduler = lr_scheduler.SequentialLR(opt, [warm, decay], milestones=[2])
    rates = [scheduler.get_last_lr()[0]]
    for _ in range(4):
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    assert rates == [0.5, 0.75, 1.0, 0.5, 0.25]
    assert (scheduler.last_epoch, warm.last_epoch, decay.last_epoch) == (4, 1, 2)


def test_sequential_starts_a_cosine_from_its_closed_form_rounded_as_pytorch() -> None:
    # eta_min + (initial_lr - eta_min) at epoch 0: 0.03 + 0.27 rounds to 0.30000000000000004
    # (PyTorch's number), not 0.3; the next epoch is PyTorch's too.
    opt = sgd(0.3)
    steps = lr_scheduler.StepLR(opt, 5)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.03)
    scheduler = lr_scheduler.SequentialLR(opt, [steps, cosine], milestones=[1])
    rates = [scheduler.get_last_lr()[0]]
    for _ in range(2):
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    assert rates == [0.3, 0.30000000000000004, 0.2604594154601839]


def test_sequential_resumed_with_last_epoch_as_pytorch() -> None:
    # PyTorch 2.13, float64: the schedules resumed at epoch 4 (their creation steps move
    # them to 5), the SequentialLR too; the groups go back to initial_lr, and past the
    # milestone the exponential decay goes on from there.
    opt = sgd(0.5)
    opt.param_groups[0]["initial_lr"] = 1.0
    warm = lr_scheduler.LinearLR(opt, 0.5, total_iters=2, last_epoch=4)
    decay = lr_scheduler.ExponentialLR(opt, 0.9, last_epoch=4)
    scheduler = lr_scheduler.SequentialLR(opt, [warm, decay], [2], last_epoch=4)
    rates = [(scheduler.get_last_lr()[0], scheduler.last_epoch)]
    for _ in range(2):
        scheduler.step()
        rates.append((scheduler.get_last_lr()[0], scheduler.last_epoch))
    assert rates == [(1.0, 5), (0.9, 6), (0.81, 7)]
