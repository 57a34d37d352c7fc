"""Activations, softmax, losses and weight penalties, written with ``Value`` only.

Batch convention: every loss takes a list of per-sample predictions and a list of
per-sample targets, and by default returns their mean (``reduction="mean"``, as in
PyTorch); ``"sum"`` returns the sum and ``"none"`` the list of per-sample losses.
A per-sample prediction is a Value (or number), or a list of them such as a model's
output; elementwise losses (mse, the two binary cross-entropies) then average over
every element, exactly like PyTorch on an (N, k) tensor. A one-element prediction
list may be paired with a plain number target: ``mse_loss([model(x) for x in X], Y)``.
Targets are plain numbers (class indices for ``cross_entropy`` and ``nll_loss``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence

from ..autograd import Value

__all__ = [
    "ACTIVATIONS",
    "REDUCTIONS",
    "Prediction",
    "activation",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "hinge_loss",
    "l1_penalty",
    "l2_penalty",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]

# --- activations -----------------------------------------------------------------

relu = Value.relu
leaky_relu = Value.leaky_relu  # slope 0.01 by default, as torch.nn.functional.leaky_relu
sigmoid = Value.sigmoid
tanh = Value.tanh


def linear(x: Value) -> Value:
    """The identity: a neuron with no nonlinearity."""
    return x


ACTIVATIONS: dict[str, Callable[[Value], Value]] = {
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "linear": linear,
}


def activation(name: str) -> Callable[[Value], Value]:
    """The activation function called ``name`` (one of ``ACTIVATIONS``)."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        ) from None


def _shifted_exps(xs: Sequence[Value]) -> tuple[list[Value], list[Value], Value]:
    """x_i - max(x), exp of those, and their sum: the stable core of (log-)softmax."""
    if not xs:
        raise ValueError("softmax: empty input")
    top = max(x.data if isinstance(x, Value) else float(x) for x in xs)
    shifted = [x - top for x in xs]
    exps = [
        s.exp() if isinstance(s, Value) else Value(math.exp(s), requires_grad=False)
        for s in shifted
    ]
    return shifted, exps, Value.sum(exps)


def softmax(xs: Sequence[Value]) -> list[Value]:
    """softmax(x)_i = e^{x_i} / sum_j e^{x_j}, computed with max(x) subtracted first."""
    _, exps, total = _shifted_exps(xs)
    return [e / total for e in exps]


def log_softmax(xs: Sequence[Value]) -> list[Value]:
    """log_softmax(x)_i = x_i - log sum_j e^{x_j} = (x_i - m) - log sum_j e^{x_j - m}."""
    shifted, _, total = _shifted_exps(xs)
    lse = total.log()
    return [s - lse for s in shifted]


# --- losses ----------------------------------------------------------------------

Prediction = Value | float | Sequence[Value | float]
REDUCTIONS = ("mean", "sum", "none")


def _constant(x: object, name: str, what: str) -> Value:
    if isinstance(x, Value):
        return x
    return Value(_number(x, name, what), requires_grad=False)


def _number(x: object, name: str, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name}: {what} must be a number, got {type(x).__name__} {x!r}")
    try:
        return float(x)
    except OverflowError:
        raise OverflowError(f"{name}: {what} ({x!r}) is too large for a float") from None


def _check_batch(name: str, predictions: Sequence, targets: Sequence) -> None:
    if isinstance(predictions, Value) or isinstance(targets, (Value, numbers.Real)):
        raise TypeError(
            f"{name}: expected lists of per-sample predictions and targets; "
            "wrap a single sample in a list"
        )
    for what, batch in (("predictions", predictions), ("targets", targets)):
        if isinstance(batch, (str, bytes)) or not isinstance(batch, Sequence):
            raise TypeError(
                f"{name}: expected a list of per-sample {what}, got "
                f"{type(batch).__name__} {batch!r}"
            )
    if len(predictions) != len(targets):
        raise ValueError(f"{name}: {len(predictions)} predictions but {len(targets)} targets")
    if not predictions:
        raise ValueError(f"{name}: empty batch")


def _flatten(
    name: str, predictions: Sequence[Prediction], targets: Sequence[object]
) -> tuple[list[Value], list[float]]:
    """Pair every predicted element with its target, checking that the shapes agree."""
    _check_batch(name, predictions, targets)
    ps: list[Value] = []
    ts: list[float] = []
    for i, (p, t) in enumerate(zip(predictions, targets)):
        p = p if isinstance(p, (list, tuple)) else (p,)
        t = t if isinstance(t, (list, tuple)) else (t,)
        if len(p) != len(t):
            raise ValueError(
                f"{name}: sample {i} has {len(p)} predicted values but {len(t)} targets"
            )
        for pj, tj in zip(p, t):
            ps.append(pj if isinstance(pj, Value) else _constant(pj, name, f"prediction {i}"))
            ts.append(_number(tj, name, f"target {i}"))
    return ps, ts


def _reduce(name: str, losses: list[Value], reduction: str) -> Value | list[Value]:
    if not isinstance(reduction, str):
        raise TypeError(
            f"{name}: reduction must be one of {REDUCTIONS}, got "
            f"{type(reduction).__name__} {reduction!r}"
        )
    if reduction == "mean":
        return Value.sum(losses) / len(losses)
    if reduction == "sum":
        return Value.sum(losses)
    if reduction == "none":
        return losses
    raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def mse_loss(
    predictions: Sequence[Prediction], targets: Sequence[object], reduction: str = "mean"
) -> Value | list[Value]:
    """Mean squared error: mean_i (p_i - t_i)^2 over every element, as torch's mse_loss.

    The articles' E = 1/2 sum_i (p_i - t_i)^2 (whose derivative is p - t) is
    ``0.5 * mse_loss(p, t, reduction="sum")``.
    """
    ps, ts = _flatten("mse_loss", predictions, targets)
    diffs = [p - t for p, t in zip(ps, ts)]
    return _reduce("mse_loss", [d * d for d in diffs], reduction)


_LOG_FLOOR = -100.0
_EXP_FLOOR = math.exp(_LOG_FLOOR)


def _log1p(y: Value) -> Value:
    """log(1 + y) for y in (-1, 1], to the last digit also where 1 + y rounds (y near 0).

    u = 1 + y drops e = (1 - u) + y, which is exact (|y| <= 1), and
    log(1 + y) = log(u) + log(1 + e / u) = log(u) + e / u to within e^2: the
    correction log1p makes, written in Value ops, so its gradient 1/u - e/u^2 =
    1 / (1 + y) is as exact and compiled mode replays it.
    """
    u = 1.0 + y
    return u.log() + ((1.0 - u) + y) / u


def _floor(p: Value) -> Value:
    """A clamped log, -100, as a function of ``p`` whose gradient is 0: a loss whose
    logs are all clamped still depends on p, so ``backward()`` reaches it."""
    return p * 0.0 + _LOG_FLOOR


def _clamped_log(p: Value) -> Value:
    """max(log p, -100), as torch's binary_cross_entropy; 0 gradient at the floor."""
    return p.log() if p.data > _EXP_FLOOR else _floor(p)


def _clamped_log1m(p: Value) -> Value:
    """max(log(1 - p), -100) computed as log1p(-p), as torch's binary_cross_entropy."""
    # 1 - p is at least 2^-53 for a float p < 1: only p = 1 reaches the floor.
    return _log1p(-p) if p.data < 1.0 else _floor(p)


def binary_cross_entropy(
    predictions: Sequence[Prediction], targets: Sequence[object], reduction: str = "mean"
) -> Value | list[Value]:
    """Binary cross-entropy on probabilities p in [0, 1] and targets t:

    loss = -(t log p + (1 - t) log(1 - p)), with log(1 - p) computed as log1p(-p)
    (every digit for p near 0) and each log clamped below at -100, as in PyTorch, so
    that p = 0 or 1 gives a finite loss. Where a log is clamped the loss is still a
    function of p, with gradient 0 (PyTorch's own backward uses a 1e-12 floor there
    instead).
    """
    ps, ts = _flatten("binary_cross_entropy", predictions, targets)
    losses = []
    for i, (p, t) in enumerate(zip(ps, ts)):
        if not 0.0 <= p.data <= 1.0:
            raise ValueError(
                f"binary_cross_entropy: prediction {i} is {p.data!r}, not a probability "
                "in [0, 1] (for raw scores use binary_cross_entropy_with_logits)"
            )
        if t == 1.0:
            losses.append(-_clamped_log(p))
        elif t == 0.0:
            losses.append(-_clamped_log1m(p))
        else:
            losses.append(-(t * _clamped_log(p) + (1.0 - t) * _clamped_log1m(p)))
    return _reduce("binary_cross_entropy", losses, reduction)


def _softplus(z: Value) -> Value:
    """log(1 + e^z) without overflow and to the last digit: log1p(e^z), or
    z + log1p(e^-z) for z > 0."""
    if z.data <= 0.0:
        return _log1p(z.exp())
    return z + _log1p((-z).exp())


def binary_cross_entropy_with_logits(
    predictions: Sequence[Prediction], targets: Sequence[object], reduction: str = "mean"
) -> Value | list[Value]:
    """Binary cross-entropy on a logit x (p = sigmoid(x)), computed stably:

    loss = (1 - t) x + log(1 + e^-x), finite for any x (as torch's
    binary_cross_entropy_with_logits); for t = 0 it is log(1 + e^x) and for t = 1
    log(1 + e^-x), so a loss near 0 and its gradient sigmoid(x) - t keep every digit.
    """
    ps, ts = _flatten("binary_cross_entropy_with_logits", predictions, targets)
    losses = []
    for x, t in zip(ps, ts):
        if t == 1.0:
            losses.append(_softplus(-x))
        elif t == 0.0:  # not softplus(-x) + x, which cancels to 0 for x << 0
            losses.append(_softplus(x))
        else:
            losses.append(_softplus(-x) + (1.0 - t) * x)
    return _reduce("binary_cross_entropy_with_logits", losses, reduction)


def _class_index(name: str, i: int, t: object, k: int) -> int:
    if isinstance(t, bool) or not isinstance(t, numbers.Integral):
        raise TypeError(f"{name}: target {i} must be a class index (int), got {t!r}")
    index = int(t)  # exact for an Integral
    if not 0 <= index < k:
        raise ValueError(f"{name}: target {i} is {t}, out of range for {k} classes")
    return index


def cross_entropy(
    logits: Sequence[Sequence[Value]], targets: Sequence[int], reduction: str = "mean"
) -> Value | list[Value]:
    """Cross-entropy from raw scores: loss = -log_softmax(z)[t] = log sum_j e^{z_j} - z_t.

    ``logits`` holds one list of class scores per sample, ``targets`` one class index
    per sample. The log-sum-exp subtracts max(z) first, so logits of 1000 stay finite.
    """
    _check_batch("cross_entropy", logits, targets)
    losses = []
    for i, (z, t) in enumerate(zip(logits, targets)):
        t = _class_index("cross_entropy", i, t, len(z))
        shifted, _, total = _shifted_exps(z)
        losses.append(total.log() - shifted[t])
    return _reduce("cross_entropy", losses, reduction)


def nll_loss(
    log_probs: Sequence[Sequence[Value]], targets: Sequence[int], reduction: str = "mean"
) -> Value | list[Value]:
    """Negative log-likelihood: loss = -log_probs[t], as torch's nll_loss.

    With ``log_softmax`` it equals ``cross_entropy`` (split in two steps).
    """
    _check_batch("nll_loss", log_probs, targets)
    losses = []
    for i, (lp, t) in enumerate(zip(log_probs, targets)):
        t = _class_index("nll_loss", i, t, len(lp))
        losses.append(-_constant(lp[t], "nll_loss", f"log-probability {i}"))
    return _reduce("nll_loss", losses, reduction)


def hinge_loss(
    scores: Sequence[Prediction], targets: Sequence[object], reduction: str = "mean"
) -> Value | list[Value]:
    """Max-margin loss for labels y in {-1, +1}: loss = max(0, 1 - y s) = relu(1 - y s).

    The SVM loss of micrograd's two-moons demo (there summed and divided by n).
    """
    ss, ys = _flatten("hinge_loss", scores, targets)
    losses = []
    for i, (s, y) in enumerate(zip(ss, ys)):
        if y == 1.0:
            losses.append((1.0 - s).relu())
        elif y == -1.0:
            losses.append((1.0 + s).relu())
        else:
            raise ValueError(f"hinge_loss: target {i} is {y!r}; labels must be -1 or +1")
    return _reduce("hinge_loss", losses, reduction)


# --- weight penalties ------------------------------------------------------------


def l1_penalty(params: Iterable[Value]) -> Value:
    """sum_i |p_i|, one sum node: add ``lam * l1_penalty(model.parameters())`` to a loss."""
    return Value.sum([p.abs() for p in params])


def l2_penalty(params: Iterable[Value]) -> Value:
    """sum_i p_i^2, a single dot node of the parameters with themselves. Weight decay
    lambda W (article 001's 1/2 lambda W^2 term) is ``0.5 * lam * l2_penalty(params)``;
    micrograd's moons demo adds 1e-4 * this."""
    params = list(params)
    return Value.dot(params, params)
