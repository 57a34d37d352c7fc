"""nn.GroupNorm against torch.nn.GroupNorm (torch 2.13, float64): outputs and gradients
kept as literals; one group is LayerNorm; bad arguments are refused."""

from __future__ import annotations

import numpy as np
import pytest

from tapegrad import Value, gradcheck, nn

X6 = [1.0, -2.0, 0.5, 3.0, -1.5, 2.5]
C6 = [1.0, -2.0, 3.0, 0.5, -1.0, 2.0]
# torch.nn.GroupNorm(2, 6) with weight [1.5, -0.5, 2, 1, 0.8, -1.2], bias
# [0.1, 0.2, -0.3, 0, 0.4, -0.1] on X6; loss sum(C6 * y) + sum(y^2)
TORCH_Y6 = [
    1.4334974620633751,
    0.8984986706046252,
    0.7159980663340003,
    0.8276048682682278,
    -0.7255426208447899,
    -0.7951880893453114,
]
TORCH_DX6 = [
    -1.4797389493357533,
    -0.2959698954350478,
    1.7757088447707998,
    0.5361464634398986,
    0.06701568332848767,
    -0.6031621467683861,
]
TORCH_DGAMMA6 = [
    3.437751944756651,
    0.2835941745890859,
    2.251449750395228,
    1.7836620700966548,
    3.4485011335565936,
    0.23730466807199263,
]
TORCH_DBETA6 = [
    3.8669949241267503,
    -0.20300265879074963,
    4.431996132668001,
    2.1552097365364555,
    -2.45108524168958,
    0.40962382130937725,
]

X8 = [0.3, -1.1, 2.2, 0.7, 1.0, 1.5, -0.4, 0.2]
C8 = [1.0, 2.0, -1.0, 0.5, 0.3, -0.7, 1.1, 0.0]
# torch.nn.GroupNorm(2, 8, eps=1e-3, affine=False) on X8; loss sum(C8 * y) + sum(y^3)
TORCH_Y8 = [
    -0.19133351737054438,
    -1.3818531810094876,
    1.4243717404251643,
    0.14881495795486793,
    0.5822054375179664,
    1.2671530110685152,
    -1.3356477684235704,
    -0.5137106801629117,
]
TORCH_DX8 = [
    -2.2819042206241584,
    2.4447657829924663,
    2.323493611188866,
    -2.4863551735571736,
    -1.931455837485076,
    2.6176768069260152,
    3.1058684106973207,
    -3.7920893801382647,
]


def test_groupnorm_matches_torch_values_and_gradients():
    gn = nn.GroupNorm(2, 6)
    for p, v in zip(
        gn.gamma + gn.beta, [1.5, -0.5, 2.0, 1.0, 0.8, -1.2, 0.1, 0.2, -0.3, 0.0, 0.4, -0.1]
    ):
        p.data = v
    x = [Value(v) for v in X6]
    y = gn(x)
    (Value.dot(y, C6) + Value.sum([v * v for v in y])).backward()
    np.testing.assert_allclose([v.data for v in y], TORCH_Y6, rtol=1e-12)
    np.testing.assert_allclose([v.grad for v in x], TORCH_DX6, rtol=1e-10)
    np.testing.assert_allclose([g.grad for g in gn.gamma], TORCH_DGAMMA6, rtol=1e-12)
    np.testing.assert_allclose([b.grad for b in gn.beta], TORCH_DBETA6, rtol=1e-12)


def test_groupnorm_without_affine_and_with_its_own_eps_matches_torch():
    gn = nn.GroupNorm(2, 8, eps=1e-3, affine=False)
    assert gn.parameters() == []
    x = [Value(v) for v in X8]
    y = gn(x)
    (Value.dot(y, C8) + Value.sum([v**3 for v in y])).backward()
    np.testing.assert_allclose([v.data for v in y], TORCH_Y8, rtol=1e-12)
    np.testing.assert_allclose([v.grad for v in x], TORCH_DX8, rtol=1e-10)


def test_one_group_is_layernorm_and_one_channel_per_group_gives_beta():
    assert [v.data for v in nn.GroupNorm(1, 6)(X6)] == [v.data for v in nn.LayerNorm(6)(X6)]
    gn = nn.GroupNorm(6, 6)
    for i, b in enumerate(gn.beta):
        b.data = 0.5 * i
    assert [v.data for v in gn(X6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]  # x - mean = 0


def test_groupnorm_gradcheck_with_non_trivial_parameters():
    gn = nn.GroupNorm(3, 6, eps=1e-2)
    for i, p in enumerate(gn.parameters()):
        p.data += 0.1 * ((i * 7) % 5 - 2)
    assert gradcheck(lambda xs: Value.dot(gn(xs), C6), X6)


def test_groupnorm_parameters_and_repr():
    gn = nn.GroupNorm(2, 4)
    assert len(gn.parameters()) == 8
    assert sorted(gn.state_dict()) == ["beta", "gamma"]
    assert "2 groups, 4 channels" in repr(gn)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((4, 6), {}, "num_groups must divide num_channels, got 4 groups for 6 channels"),
        ((0, 6), {}, "GroupNorm: num_groups must be a positive int, got 0"),
        ((2, 6.0), {}, "GroupNorm: num_channels must be a positive int"),
        ((2, 6), {"eps": 0.0}, "GroupNorm: eps"),
    ],
)
def test_groupnorm_refuses_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.GroupNorm(*args, **kwargs)


def test_groupnorm_refuses_a_sample_of_the_wrong_size():
    with pytest.raises(ValueError, match="GroupNorm: expected 6 features, got 4"):
        nn.GroupNorm(2, 6)([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(TypeError, match="GroupNorm: expected a list of 6 values"):
        nn.GroupNorm(2, 6)(3.0)


def test_groupnorm_live_against_torch():
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(0).normal(size=(4, 12))
    for groups in (1, 2, 3, 4, 6, 12):
        expected = torch.nn.GroupNorm(groups, 12, dtype=torch.float64)(torch.tensor(data))
        ours = nn.GroupNorm(groups, 12)
        np.testing.assert_allclose(
            [[v.data for v in ours(row)] for row in data.tolist()],
            expected.tolist(),
            rtol=1e-10,
            atol=1e-12,
        )
