"""Learning-rate schedules: against their closed forms, hand-traced plateau scenarios,
PyTorch's schedulers, and save-and-resume."""

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


SCHEDULES = [
    ("step", lambda o: lr_scheduler.StepLR(o, 3, 0.5), None),
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
# LRScheduler.__init__ calls step()), so a resumed run is not one decay behind. The
# rates are PyTorch's by its definitions, in float64: StepLR decays when the epoch is a
# multiple of step_size (epoch 6: 0.5 * 0.5; epoch 4: no decay); ExponentialLR
# multiplies by gamma (0.81 * 0.9); CosineAnnealingLR's first step of a resumed
# schedule is its closed form eta_min + (initial_lr - eta_min) * (1 + cos(e pi / T)) / 2,
# here 0.1 + 0.9 * (1 + cos(3 pi / 10)) / 2, whatever the group's rate.
RESUMED = [
    ("step", lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5, last_epoch=5), 0.5, 0.25),
    ("step-between-decays", lambda o: lr_scheduler.StepLR(o, 3, 0.5, last_epoch=2), 1.0, 0.5),
    ("step-no-decay", lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5, last_epoch=3), 0.5, 0.5),
    (
        "exponential",
        lambda o: lr_scheduler.ExponentialLR(o, 0.9, last_epoch=1),
        0.81,
        0.7290000000000001,
    ),
    (
        "cosine",
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.1, last_epoch=2),
        0.5,
        0.8145033635316129,
    ),
]


@pytest.mark.parametrize(
    ("make", "lr", "resumed_lr"), [c[1:] for c in RESUMED], ids=[c[0] for c in RESUMED]
)
def test_resuming_at_last_epoch_k_sets_the_rate_of_epoch_k_plus_1(make, lr, resumed_lr) -> None:
    opt = sgd(lr)
    opt.param_groups[0]["initial_lr"] = 1.0
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
