"""Optimizers against PyTorch and against their update rules written out by hand.

One table (CASES) drives the checks against numbers recorded from PyTorch 2.13
(float64, foreach=False), the live comparison with torch when it is installed, and
the save-and-resume test; a second table (HAND) holds first steps derived by hand
from each docstring's update rule.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import Value, optim

X0 = (0.5, -1.5, 2.0)


def gradient(step: int, i: int, x: float) -> float | None:
    """The gradient fed to parameter i at a step (0-based): loss-like (it depends on x),
    with a skipped parameter (None) at step 2 and a zero gradient at step 3."""
    if (step, i) == (2, 2):
        return None
    if (step, i) == (3, 1):
        return 0.0
    return 0.3 * x + math.sin(1.7 * step + 2.3 * i) * (1 + i)


class Case(NamedTuple):
    id: str
    cls: type
    kwargs: dict[str, Any]
    torch_reference: dict[int, tuple[float, float, float]]  # step -> parameters after it


# Reference values: PyTorch 2.13 CPU, torch.set_default_dtype(torch.float64), the same
# gradient() sequence (p.grad = None where it returns None), foreach=False.
CASES = [
    Case(
        "sgd",
        optim.SGD,
        {"lr": 0.1},
        {
            1: (0.485, -1.6041410424353442, 2.2381073010900394),
            2: (0.37128351895475314, -1.4046563121006983, 2.165919911912033),
            3: (0.38569912358879366, -1.2523795142181497, 2.165919911912033),
            20: (0.23541012932444713, -0.8196118219759005, 1.5950016283224215),
        },
    ),
    Case(
        "sgd-weight-decay",
        optim.SGD,
        {"lr": 0.1, "weight_decay": 0.1},
        {
            1: (0.48, -1.589141042435344, 2.2181073010900394),
            2: (0.3616335189547531, -1.3742149016763447, 2.124338838901133),
            3: (0.3727222883992461, -1.2091091970897632, 2.124338838901133),
            20: (0.1885561825434148, -0.6778095946260587, 1.3509024642414207),
        },
    ),
    Case(
        "momentum",
        optim.SGD,
        {"lr": 0.1, "momentum": 0.9},
        {
            1: (0.485, -1.6041410424353442, 2.2381073010900394),
            2: (0.35778351895475313, -1.4983832502925079, 2.3802164828930685),
            3: (0.2581092906480715, -1.2481126313356523, 2.3802164828930685),
            20: (-0.12967235455923262, 0.5616575495733386, -0.605500913298087),
        },
    ),
    Case(
        "momentum-dampening-decay",
        optim.SGD,
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.01},
        {
            1: (0.4845, -1.602641042435344, 2.236107301090039),
            2: (0.41345700947737657, -1.594496794938613, 2.4114221238315268),
            3: (0.35588678946145774, -1.507383717610243, 2.4114221238315268),
            20: (-0.12825697387802182, 0.2739013502567656, 0.8248470073346565),
        },
    ),
    Case(
        "nag",
        optim.SGD,
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        {
            1: (0.4715, -1.6978679806271537, 2.452403872071075),
            2: (0.24405818601403093, -1.397858801887022, 2.495899841969876),
            3: (0.17598237914967912, -1.0209789677586008, 2.495899841969876),
            20: (-0.09650645295762199, 0.28728095404507553, -0.29535986368051836),
        },
    ),
    Case(
        "nag-maximize",
        optim.SGD,
        {"lr": 0.1, "momentum": 0.9, "nesterov": True, "maximize": True},
        {
            1: (0.5285, -1.3021320193728463, 1.5475961279289252),
            2: (0.759190813985969, -1.5795842483214826, 1.4525261166140215),
            3: (0.8580142806447213, -1.9572060490381884, 1.4525261166140215),
            20: (8.651216114018542, -21.529223462866756, 1.140806080045713),
        },
    ),
    Case(
        "adagrad",
        optim.Adagrad,
        {},
        {
            1: (0.49000000000666666, -1.5099999999990397, 2.00999999999958),
            2: (0.4800856550130314, -1.5011626162967546, 2.0073535314017614),
            3: (0.48105207384833365, -1.4954428642181994, 2.0073535314017614),
            20: (0.47297893712012246, -1.4809308083245882, 1.998968640312571),
        },
    ),
    Case(
        "adagrad-all-options",
        optim.Adagrad,
        {
            "lr": 0.5,
            "lr_decay": 0.1,
            "weight_decay": 0.1,
            "initial_accumulator_value": 0.2,
            "eps": 1e-06,
        },
        {
            1: (0.2958762714338846, -1.946910245574656, 2.4898093508675183),
            2: (-0.119969472365268, -1.5301016468325501, 2.2964734520364676),
            3: (-0.018850313318209494, -1.294541108755552, 2.2964734520364676),
            20: (0.027534748133979742, -0.9172430249685976, 1.9003227211551064),
        },
    ),
    Case(
        "rmsprop",
        optim.RMSprop,
        {},
        {
            1: (0.40000006666662224, -1.5999999903976387, 2.099999995800213),
            2: (0.30088931120585644, -1.5112694928676191, 2.072394938667762),
            3: (0.3155388437802312, -1.454173219878448, 2.072394938667762),
            20: (0.2691029593261981, -1.3171968641345952, 1.9841919129714942),
        },
    ),
    Case(
        "rmsprop-centered",
        optim.RMSprop,
        {"lr": 0.01, "alpha": 0.9, "centered": True},
        {
            1: (0.4666666740740724, -1.5333333322664042, 2.0333333328666905),
            2: (0.43315658176052074, -1.5047387678092616, 2.024277646091609),
            3: (0.43697176657643205, -1.4849823611354418, 2.024277646091609),
            20: (0.40527110659168664, -1.4245440001030403, 1.9930793229065662),
        },
    ),
    Case(
        "rmsprop-momentum-decay",
        optim.RMSprop,
        {"lr": 0.01, "momentum": 0.8, "weight_decay": 0.05},
        {
            1: (0.40000005714282455, -1.5999999896524306, 2.0999999956160984),
            2: (0.2211632110813318, -1.5892793978484088, 2.1472964689534453),
            3: (0.09354219663890907, -1.5218016443332738, 2.1472964689534453),
            20: (-0.16951256908144133, -0.6844543574072368, 1.7825648406859487),
        },
    ),
    Case(
        "rmsprop-centered-momentum-maximize",
        optim.RMSprop,
        {
            "lr": 0.01,
            "alpha": 0.95,
            "momentum": 0.5,
            "centered": True,
            "eps": 0.0001,
            "maximize": True,
        },
        {
            1: (0.5457432239036927, -1.4541370598223116, 1.9541256931797377),
            2: (0.6144095173994105, -1.4710563472809346, 1.9431551879914877),
            3: (0.6458674262128186, -1.5062266465041225, 1.9431551879914877),
            20: (0.8001475433296368, -1.7032332095792992, 2.0163044661633953),
        },
    ),
    Case(
        "adadelta",
        optim.Adadelta,
        {},
        {
            1: (0.4968384248340445, -1.503162263081322, 2.003162274871326),
            2: (0.4924011956392245, -1.4991669173945157, 2.001923146673696),
            3: (0.49301313366715754, -1.4956388276291326, 2.001923146673696),
            20: (0.4832677301663568, -1.482455376688659, 1.9941634104665562),
        },
    ),
    Case(
        "adadelta-all-options",
        optim.Adadelta,
        {"lr": 0.5, "rho": 0.8, "eps": 0.0001, "weight_decay": 0.1},
        {
            1: (0.4888888888888889, -1.511176824002175, 2.0111797523705848),
            2: (0.4733050188452032, -1.4963821642896478, 2.0048338340813303),
            3: (0.4746342392663835, -1.4828345577992972, 2.0048338340813303),
            20: (0.4323611101227084, -1.4211971776653338, 1.9611146891012532),
        },
    ),
    Case(
        "adam",
        optim.Adam,
        {},
        {
            1: (0.49900000006666667, -1.5009999999903976, 2.0009999999958),
            2: (0.49817493470892243, -1.5006562923348274, 2.0014500640452866),
            3: (0.49759850263657635, -1.5000726949346423, 2.0014500640452866),
            20: (0.4936221739748471, -1.4935792272535333, 2.000247314014526),
        },
    ),
    Case(
        "adam-all-options",
        optim.Adam,
        {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-06, "weight_decay": 0.1},
        {
            1: (0.40000049999750004, -1.599999887818355, 2.0999999541510284),
            2: (0.31204523211368773, -1.5515299022747202, 2.128546109724901),
            3: (0.25659968001043376, -1.481211777168144, 2.128546109724901),
            20: (0.060554788071047395, -0.8272354342296806, 1.7439590185970597),
        },
    ),
    Case(
        "amsgrad",
        optim.Adam,
        {"lr": 0.1, "amsgrad": True},
        {
            1: (0.40000000666666624, -1.5999999990397638, 2.0999999995800214),
            2: (0.3172982929700697, -1.5650482366745606, 2.143968082009447),
            3: (0.26305800509392874, -1.5063096046502409, 2.143968082009447),
            20: (0.0552800283376738, -0.9133496382064534, 1.9847724682007144),
        },
    ),
    Case(
        "amsgrad-decoupled-maximize",
        optim.Adam,
        {
            "lr": 0.1,
            "amsgrad": True,
            "weight_decay": 0.1,
            "decoupled_weight_decay": True,
            "maximize": True,
        },
        {
            1: (0.5949999933333338, -1.3850000009602361, 1.8800000004199786),
            2: (0.6713757015171615, -1.4048205686867554, 1.814923867353629),
            3: (0.7253036229934119, -1.4486038291945136, 1.814923867353629),
            20: (1.1660852317784636, -1.8422834687854757, 1.5860012255532323),
        },
    ),
    Case(
        "adamw",
        optim.AdamW,
        {},
        {
            1: (0.4989950000666667, -1.5009849999903977, 2.0009799999958005),
            2: (0.49816494466262656, -1.5006262833765456, 2.0014100563435995),
            3: (0.49758353274296463, -1.5000276809787625, 2.0014100563435995),
            20: (0.4935231851788564, -1.4932801084489418, 1.9998673381068448),
        },
    ),
    Case(
        "adamw-amsgrad",
        optim.AdamW,
        {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True},
        {
            1: (0.39500000666666624, -1.5849999990397636, 2.0799999995800214),
            2: (0.30833819013640057, -1.5342853069785096, 2.103377778949575),
            3: (0.2511904101764651, -1.4603304341642875, 2.103377778949575),
            20: (0.03376798975451058, -0.7156780179189187, 1.6402087168256112),
        },
    ),
    Case(
        "nadam",
        optim.NAdam,
        {},
        {
            1: (0.4978870965841495, -1.502112903536422, 2.002112903547837),
            2: (0.4957985133214539, -1.5003252741900117, 2.001683079617351),
            3: (0.4958455628209698, -1.4989775624139428, 2.001683079617351),
            20: (0.49005992481970734, -1.4900962143263092, 1.9973133679494168),
        },
    ),
    Case(
        "nadam-all-options",
        optim.NAdam,
        {"lr": 0.1, "betas": (0.8, 0.99), "weight_decay": 0.1, "momentum_decay": 0.01},
        {
            1: (0.39046619972271973, -1.6095338045252006, 2.1095338052517687),
            2: (0.27766098728963673, -1.5088928635486754, 2.075531452348499),
            3: (0.28037343049764324, -1.4294540445409667, 2.075531452348499),
            20: (0.10384905751608278, -0.9265971803434983, 1.6895350205685447),
        },
    ),
    Case(
        "nadamw",
        optim.NAdam,
        {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True},
        {
            1: (0.38935482920747255, -1.5906451768210954, 2.085645177391852),
            2: (0.28106077878382235, -1.4850569065730703, 2.0422975411498583),
            3: (0.2872917241748538, -1.4033515977833488, 2.0422975411498583),
            20: (0.11528142392912215, -0.8643036379855055, 1.5467613621038723),
        },
    ),
]


def run(case: Case, steps: int, params: list[Value] | None = None, opt=None, start: int = 0):
    """Apply ``steps`` steps of gradient() (from step ``start``) and return each step's params."""
    params = params or [Value(x) for x in X0]
    opt = opt or case.cls(params, **case.kwargs)
    history = []
    for step in range(start, start + steps):
        for i, p in enumerate(params):
            p.grad = gradient(step, i, p.data)
        opt.step()
        history.append(tuple(p.data for p in params))
    return history


def close(a: float, b: float, tol: float) -> bool:
    # Relative to the parameter's scale, floored at 1 so values crossing zero compare
    # by absolute error. PyTorch's CPU kernels fuse multiply-adds, Python does not:
    # the two agree to a few units in the last place, not bit for bit.
    return abs(a - b) <= tol * max(1.0, abs(b))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_recorded_pytorch_values(case: Case) -> None:
    history = run(case, max(case.torch_reference))
    for step, expected in case.torch_reference.items():
        got = history[step - 1]
        pairs = zip(got, expected, strict=True)
        assert all(close(a, b, 4e-15) for a, b in pairs), (step, got, expected)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_live_pytorch_for_100_steps(case: Case) -> None:
    torch = pytest.importorskip("torch")
    torch_params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in X0]
    # NAdam keeps mu_product in the default dtype; make it float64 as ours is.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        opt = getattr(torch.optim, case.cls.__name__)(torch_params, foreach=False, **case.kwargs)
        expected = []
        for step in range(100):
            for i, p in enumerate(torch_params):
                g = gradient(step, i, p.item())
                p.grad = None if g is None else torch.tensor(g, dtype=torch.float64)
            opt.step()
            expected.append([p.item() for p in torch_params])
    finally:
        torch.set_default_dtype(previous)
    for got, want in zip(run(case, 100), expected, strict=True):
        assert all(close(a, b, 1e-14) for a, b in zip(got, want, strict=True)), (got, want)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("through_json", [False, True])
def test_state_dict_resumes_exactly(case: Case, through_json: bool) -> None:
    straight = run(case, 12)
    params = [Value(x) for x in X0]
    first = case.cls(params, **case.kwargs)
    run(case, 5, params, first)
    saved = first.state_dict()
    if through_json:
        saved = json.loads(json.dumps(saved))
    resumed_params = [Value(p.data) for p in params]
    resumed = case.cls(resumed_params, lr=123.0)  # hyper-parameters come from the save
    resumed.load_state_dict(saved)
    assert run(case, 7, resumed_params, resumed, start=5) == straight[5:]


def test_state_dict_is_a_snapshot() -> None:
    case = CASES[2]
    params = [Value(x) for x in X0]
    opt = case.cls(params, **case.kwargs)
    run(case, 2, params, opt)
    saved = opt.state_dict()
    before = json.dumps(saved)
    run(case, 2, params, opt)
    assert json.dumps(saved) == before


# --- first steps derived by hand from each update rule ---------------------------------
# x0 = 1 and the listed gradients; intermediate quantities are named where a later step
# needs them. Rows cover every option of every optimizer.
EPS_ADAM = 1e-8
MU1 = 0.9 * (1 - 0.5 * 0.96 ** (1 * 0.004))  # NAdam's mu_1, mu_2 with psi = 4e-3
MU2 = 0.9 * (1 - 0.5 * 0.96 ** (2 * 0.004))
ADADELTA_D1 = math.sqrt(1e-6) / math.sqrt(0.1 * 4 + 1e-6) * 2  # sqrt(u0+eps)/sqrt(v1+eps)*g1
ADADELTA_U1 = 0.1 * ADADELTA_D1**2

HAND = [
    # id, optimizer, options, gradients, parameter after each step
    ("sgd", optim.SGD, {"lr": 0.1}, [2.0, -0.5], [1 - 0.1 * 2, 0.8 + 0.1 * 0.5]),
    ("sgd-maximize", optim.SGD, {"lr": 0.1, "maximize": True}, [2.0, -0.5], [1.2, 1.2 - 0.05]),
    ("sgd-weight-decay", optim.SGD, {"lr": 0.1, "weight_decay": 0.5}, [2.0], [1 - 0.1 * 2.5]),
    # b1 = g1 (no dampening on the first step), b2 = 0.9 b1 + (1 - dampening) g2
    (
        "momentum",
        optim.SGD,
        {"lr": 0.1, "momentum": 0.9},
        [2.0, -0.5],
        [0.8, 0.8 - 0.1 * (0.9 * 2 - 0.5)],
    ),
    (
        "momentum-dampening",
        optim.SGD,
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.5},
        [2.0, -0.5],
        [0.8, 0.8 - 0.1 * (0.9 * 2 + 0.5 * -0.5)],
    ),
    # NAG: d = g + 0.9 b
    (
        "nag",
        optim.SGD,
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        [2.0, -0.5],
        [1 - 0.1 * (2 + 0.9 * 2), 0.62 - 0.1 * (-0.5 + 0.9 * (0.9 * 2 - 0.5))],
    ),
    # h = g1^2, then g1^2 + g2^2
    (
        "adagrad",
        optim.Adagrad,
        {"lr": 0.1},
        [2.0, -0.5],
        [
            1 - 0.1 * 2 / (2 + 1e-10),
            1 - 0.1 * 2 / (2 + 1e-10) + 0.1 * 0.5 / (math.sqrt(4.25) + 1e-10),
        ],
    ),
    (
        "adagrad-decay-accumulator",
        optim.Adagrad,
        {"lr": 0.1, "lr_decay": 0.5, "initial_accumulator_value": 1.0, "eps": 0.0},
        [2.0, -0.5],
        [
            1 - 0.1 * 2 / math.sqrt(5),
            1 - 0.1 * 2 / math.sqrt(5) + 0.1 / 1.5 * 0.5 / math.sqrt(5.25),
        ],
    ),
    (
        "adagrad-weight-decay",
        optim.Adagrad,
        {"lr": 0.1, "weight_decay": 0.5},
        [2.0],
        [1 - 0.1 * 2.5 / (2.5 + 1e-10)],
    ),
    # v1 = 0.01 g1^2 = 0.04, v2 = 0.99 v1 + 0.01 g2^2 = 0.0421
    (
        "rmsprop",
        optim.RMSprop,
        {},
        [2.0, -0.5],
        [
            1 - 0.01 * 2 / (0.2 + 1e-8),
            1 - 0.01 * 2 / (0.2 + 1e-8) + 0.01 * 0.5 / (math.sqrt(0.0421) + 1e-8),
        ],
    ),
    (
        "rmsprop-weight-decay",
        optim.RMSprop,
        {"weight_decay": 0.5},
        [2.0],
        [1 - 0.01 * 2.5 / (0.25 + 1e-8)],
    ),
    # centered, alpha 0.9: v1 = 0.4, m1 = 0.2, s = sqrt(0.4 - 0.04) = 0.6
    (
        "rmsprop-centered",
        optim.RMSprop,
        {"alpha": 0.9, "centered": True, "eps": 0.0},
        [2.0],
        [1 - 0.01 * 2 / 0.6],
    ),
    # momentum: b1 = g1 / s1 = 10, b2 = 0.5 b1 + g2 / s2
    (
        "rmsprop-momentum",
        optim.RMSprop,
        {"momentum": 0.5, "eps": 0.0},
        [2.0, -0.5],
        [0.9, 0.9 - 0.01 * (0.5 * 10 - 0.5 / math.sqrt(0.0421))],
    ),
    ("rmsprop-maximize", optim.RMSprop, {"maximize": True}, [2.0], [1 + 0.01 * 2 / (0.2 + 1e-8)]),
    # v1 = 0.4, d1 as above, u1 = 0.1 d1^2, v2 = 0.9 * 0.4 + 0.1 * 0.25 = 0.385
    (
        "adadelta",
        optim.Adadelta,
        {},
        [2.0, -0.5],
        [
            1 - ADADELTA_D1,
            1 - ADADELTA_D1 + math.sqrt(ADADELTA_U1 + 1e-6) / math.sqrt(0.385 + 1e-6) * 0.5,
        ],
    ),
    (
        "adadelta-all-options",
        optim.Adadelta,
        {"lr": 0.5, "rho": 0.5, "eps": 0.01, "weight_decay": 0.5},
        [2.0],
        [1 - 0.5 * math.sqrt(0.01) / math.sqrt(0.5 * 6.25 + 0.01) * 2.5],
    ),
    # m-hat = g1, v-hat = g1^2 on step 1; step 2: m2 = 0.13, v2 = 0.004246
    (
        "adam",
        optim.Adam,
        {"lr": 0.1},
        [2.0, -0.5],
        [
            1 - 0.1 * 2 / (2 + EPS_ADAM),
            1
            - 0.1 * 2 / (2 + EPS_ADAM)
            - 0.1 * (0.13 / (1 - 0.9**2)) / (math.sqrt(0.004246 / (1 - 0.999**2)) + EPS_ADAM),
        ],
    ),
    # betas (0.5, 0.75): m1 = 1, v1 = 1; m2 = 0.25, v2 = 0.8125
    (
        "adam-betas-eps",
        optim.Adam,
        {"lr": 0.1, "betas": (0.5, 0.75), "eps": 0.1},
        [2.0, -0.5],
        [
            1 - 0.1 * 2 / 2.1,
            1 - 0.1 * 2 / 2.1 - 0.1 * (0.25 / 0.75) / (math.sqrt(0.8125 / (1 - 0.75**2)) + 0.1),
        ],
    ),
    (
        "adam-weight-decay",
        optim.Adam,
        {"lr": 0.1, "weight_decay": 0.5},
        [2.0],
        [1 - 0.1 * 2.5 / (2.5 + EPS_ADAM)],
    ),
    (
        "adam-maximize",
        optim.Adam,
        {"lr": 0.1, "maximize": True},
        [2.0],
        [1 + 0.1 * 2 / (2 + EPS_ADAM)],
    ),
    # AMSGrad: v2 = 0.999 * 0.004 + 0.001 * 0.01^2 < v1 = 0.004, so v1 normalises step 2
    (
        "amsgrad",
        optim.Adam,
        {"lr": 0.1, "amsgrad": True},
        [2.0, 0.01],
        [
            1 - 0.1 * 2 / (2 + EPS_ADAM),
            1
            - 0.1 * 2 / (2 + EPS_ADAM)
            - 0.1 * (0.181 / (1 - 0.9**2)) / (math.sqrt(0.004 / (1 - 0.999**2)) + EPS_ADAM),
        ],
    ),
    (
        "adamw",
        optim.AdamW,
        {"lr": 0.1, "weight_decay": 0.5},
        [2.0],
        [0.95 - 0.1 * 2 / (2 + EPS_ADAM)],
    ),
    (
        "adam-decoupled",
        optim.Adam,
        {"lr": 0.1, "weight_decay": 0.5, "decoupled_weight_decay": True},
        [2.0],
        [0.95 - 0.1 * 2 / (2 + EPS_ADAM)],
    ),
    # NAdam step 1: x - lr (1-mu1)/(1-mu1) g/s - lr mu2/(1 - mu1 mu2) m1/s, s = |g| + eps
    (
        "nadam",
        optim.NAdam,
        {"lr": 0.1},
        [2.0],
        [1 - 0.1 * 2 / (2 + EPS_ADAM) - 0.1 * MU2 / (1 - MU1 * MU2) * 0.2 / (2 + EPS_ADAM)],
    ),
    # momentum_decay 0: mu_t = 0.9 * (1 - 0.5) = 0.45 for every t
    (
        "nadam-no-momentum-decay",
        optim.NAdam,
        {"lr": 0.1, "momentum_decay": 0.0},
        [2.0],
        [1 - 0.1 * 2 / (2 + EPS_ADAM) - 0.1 * 0.45 / (1 - 0.45**2) * 0.2 / (2 + EPS_ADAM)],
    ),
    (
        "nadam-weight-decay",
        optim.NAdam,
        {"lr": 0.1, "momentum_decay": 0.0, "weight_decay": 0.5},
        [2.0],
        [1 - 0.1 * 2.5 / (2.5 + EPS_ADAM) - 0.1 * 0.45 / (1 - 0.45**2) * 0.25 / (2.5 + EPS_ADAM)],
    ),
    (
        "nadamw",
        optim.NAdam,
        {"lr": 0.1, "momentum_decay": 0.0, "weight_decay": 0.5, "decoupled_weight_decay": True},
        [2.0],
        [0.95 - 0.1 * 2 / (2 + EPS_ADAM) - 0.1 * 0.45 / (1 - 0.45**2) * 0.2 / (2 + EPS_ADAM)],
    ),
    (
        "nadam-betas-eps-maximize",
        optim.NAdam,
        {"lr": 0.1, "betas": (0.5, 0.75), "eps": 0.1, "momentum_decay": 0.0, "maximize": True},
        [2.0],
        [1 + 0.1 * 2 / 2.1 + 0.1 * 0.25 / (1 - 0.25**2) * 1.0 / 2.1],
    ),
]


@pytest.mark.parametrize(
    ("cls", "options", "grads", "expected"), [row[1:] for row in HAND], ids=[row[0] for row in HAND]
)
def test_first_steps_match_the_update_rule(cls, options, grads, expected) -> None:
    x = Value(1.0)
    opt = cls([x], **options)
    for g, want in zip(grads, expected, strict=True):
        x.grad = g
        opt.step()
        assert x.data == pytest.approx(want, rel=1e-14, abs=0)


# --- behaviour shared by all optimizers -------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_parameter_without_gradient_is_skipped(case: Case) -> None:
    used, frozen = Value(1.0), Value(2.0, requires_grad=False)
    opt = case.cls([used, frozen], **case.kwargs)
    for _ in range(3):
        used.grad = 0.5
        opt.step()
    assert frozen.data == 2.0 and frozen not in opt.state
    assert used.data != 1.0 and used in opt.state


@given(grads=st.lists(st.floats(-10, 10), min_size=2, max_size=12), data=st.data())
def test_resume_at_any_step_is_exact(grads: list[float], data) -> None:
    case = data.draw(st.sampled_from(CASES), label="case")
    split = data.draw(st.integers(1, len(grads) - 1), label="split")

    def train(params, opt, gs):
        for g in gs:
            for i, p in enumerate(params):
                p.grad = g * (i + 1) + 0.1 * p.data
            opt.step()
        return [p.data for p in params]

    straight = [Value(x) for x in X0]
    expected = train(straight, case.cls(straight, **case.kwargs), grads)
    first = [Value(x) for x in X0]
    opt = case.cls(first, **case.kwargs)
    train(first, opt, grads[:split])
    second = [Value(p.data) for p in first]
    resumed = case.cls(second, **case.kwargs)
    resumed.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert train(second, resumed, grads[split:]) == expected


@given(g=st.floats(-1e6, 1e6).filter(lambda v: abs(v) > 1e-3), lr=st.floats(1e-4, 1.0))
def test_adam_first_step_moves_by_lr(g: float, lr: float) -> None:
    # Step 1 of Adam is x - lr * g / (|g| + eps): a move of lr against the gradient's sign.
    x = Value(0.0)
    x.grad = g
    optim.Adam([x], lr=lr).step()
    assert x.data == pytest.approx(-math.copysign(lr, g), rel=1e-5)


# --- article 001: f(x, y) = x^2 / 20 + y^2 from (-7, 2) ------------------------------------


def seed_001_run(cls: type, options: dict[str, Any], steps: int = 30) -> list[tuple[float, float]]:
    x, y = Value(-7.0), Value(2.0)
    opt = cls([x, y], **options)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        (x**2 / 20 + y**2).backward()
        opt.step()
        path.append((x.data, y.data))
    return path


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (optim.SGD, {"lr": 0.95}),
        (optim.SGD, {"lr": 0.1, "momentum": 0.9}),  # the book's Momentum
        (optim.Adagrad, {"lr": 1.5}),
        (optim.Adam, {"lr": 0.3}),
    ],
    ids=["SGD", "Momentum", "AdaGrad", "Adam"],
)
def test_seed_001_optimizers_reach_the_minimum(cls: type, options: dict[str, Any]) -> None:
    x, y = seed_001_run(cls, options)[-1]
    assert math.hypot(x, y) < 1.0  # from a distance of 7.3
    assert x**2 / 20 + y**2 < 0.11  # from 6.45


def test_seed_001_sgd_follows_its_closed_form() -> None:
    # x <- x - 0.95 * x / 10 = 0.905 x ;  y <- y - 0.95 * 2 y = -0.9 y
    for k, (x, y) in enumerate(seed_001_run(optim.SGD, {"lr": 0.95}), start=1):
        assert x == pytest.approx(-7 * 0.905**k, rel=1e-13)
        assert y == pytest.approx(2 * (-0.9) ** k, rel=1e-13)
