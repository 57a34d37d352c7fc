"""The hooks that let layers look down only (the import rules themselves are
import-linter contracts in pyproject.toml, checked by ``lint-imports``): a layer refuses
to be traced through the engine's hook (tapegrad.autograd.tracing); optim recognises a
flat parameter vector by its data and grad arrays."""

from __future__ import annotations

import numpy as np
import pytest

from tapegrad import CompileError, Value, compile, nn, optim
from tapegrad.autograd.tracing import ONE_SAMPLE, WHOLE_BATCH, refuse_tracing, tracing


def test_refuse_tracing_does_nothing_outside_tracing_and_raises_inside():
    refuse_tracing("never raised")
    with tracing(ONE_SAMPLE):
        with pytest.raises(CompileError, match="^random layer$"):
            refuse_tracing("random layer")
        with pytest.raises(CompileError, match="^couples$"):
            refuse_tracing("couples", couples_samples=True)
    with tracing(WHOLE_BATCH):
        refuse_tracing("allowed: the traced sample is a batch", couples_samples=True)
        with pytest.raises(CompileError, match="^random layer$"):
            refuse_tracing("random layer")
    refuse_tracing("never raised")
    with pytest.raises(ValueError, match="tracing: kind must be"), tracing("batch"):
        pass


def test_batchnorm_traced_as_one_whole_batch_equals_eager():
    """A mini-batch as ONE sample (sample_is_batch=True): the compiled loss and the
    gradients of gamma and beta equal eager mode's."""
    xb = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    coef = [[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25]]

    def loss_of(bn):
        def loss(batch):
            out = bn(batch)
            return Value.sum([c * y * y + y for row, cs in zip(out, coef) for y, c in zip(row, cs)])

        return loss

    eager_bn, compiled_bn = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    for bn in (eager_bn, compiled_bn):
        bn.gamma[0].data, bn.beta[1].data = 1.5, -0.5
    eager = loss_of(eager_bn)([[Value(x) for x in row] for row in xb.tolist()])
    eager.backward()
    step = compile(loss_of(compiled_bn), compiled_bn.parameters(), sample_is_batch=True)
    assert step(xb[None]) == pytest.approx(eager.data, rel=1e-12)
    for p, q in zip(compiled_bn.parameters(), eager_bn.parameters()):
        assert p.grad == pytest.approx(q.grad, rel=1e-12, abs=1e-12)


def test_batchnorm_per_sample_tracing_is_still_refused():
    bn = nn.BatchNorm1d(1)
    with pytest.raises(CompileError, match="sample_is_batch=True"):
        compile(lambda x: bn([[x], [x * 2.0]])[0][0], bn.parameters())(np.ones(2))


def test_dropout_is_refused_even_when_the_sample_is_a_batch():
    drop = nn.Dropout(0.5, seed=0)
    with pytest.raises(CompileError, match="Dropout in training mode"):
        compile(lambda x: Value.sum(drop(x)), [], sample_is_batch=True)(np.ones((1, 3)))


def test_sample_is_batch_must_be_a_bool():
    with pytest.raises(TypeError, match="compile: sample_is_batch must be True or False"):
        compile(lambda x: x, [], sample_is_batch="yes")


class Vector:
    """Not the compiler's FlatParameters: only the data/grad protocol."""

    def __init__(self, data: list[float], grad: list[float]) -> None:
        self.data, self.grad = np.array(data), np.array(grad)


def test_optimizers_and_clipping_take_any_object_with_data_and_grad_arrays():
    v = Vector([1.0, -2.0], [3.0, 4.0])
    total = optim.clip_grad_norm_([v], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(v.grad, [3.0 / (5.0 + 1e-6), 4.0 / (5.0 + 1e-6)])
    opt = optim.SGD(v, lr=0.5)
    opt.step()
    np.testing.assert_allclose(
        v.data, [1.0 - 0.5 * 3.0 / (5.0 + 1e-6), -2.0 - 0.5 * 4.0 / (5.0 + 1e-6)]
    )
    with pytest.raises(TypeError, match="SGD can only optimize Values"):
        optim.SGD([Vector([1.0], [1.0]), "w"], lr=0.1)


@pytest.mark.parametrize("labels", [None, {1: range(10)}])
def test_tracing_a_whole_batch_updates_batchnorm_statistics_once(labels):
    xb = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]])
    eager_bn, compiled_bn = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    eager_bn([[Value(x) for x in row] for row in xb.tolist()])  # one update

    def loss(batch, label=0):
        return Value.sum([y * (label + 1.0) for row in compiled_bn(batch) for y in row])

    step = compile(loss, compiled_bn.parameters(), labels=labels, sample_is_batch=True)
    step(*((xb[None],) if labels is None else (xb[None], np.array([3]))))
    assert compiled_bn.running_mean == eager_bn.running_mean
    assert compiled_bn.running_var == eager_bn.running_var
