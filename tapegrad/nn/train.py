"""fit: the training loop every demo and notebook would otherwise write by hand.

    history = nn.fit(model, F.cross_entropy, (X, y), optim.SGD(model.parameters(), lr=0.1),
                     epochs=20, batch_size=32, val=(X_val, y_val), accuracy="argmax")
    history.plot()

Each epoch shuffles the training set into mini-batches and, for every batch::

    optimizer.zero_grad()
    loss = loss_fn([model(x) for x in xb], yb)   # eager: a Value
    loss.backward()
    optimizer.step()

then measures the epoch (validation loss, accuracies) and steps the scheduler. A
compiled loss runs the same loop at array speed, each batch one call on arrays (see
``BatchLoss``; the engine's compiler is never imported here)::

    loss = tapegrad.compile(lambda x, t: F.cross_entropy([model(x)], [t]), params,
                            labels={1: range(10)})
    scores = tapegrad.compile(model, params)      # only to measure accuracy
    history = nn.fit(scores, loss, (X, y), optim.SGD([loss.flat()], lr=0.1), epochs=20,
                     batch_size=32, val=(X_val, y_val), accuracy="argmax")
"""

from __future__ import annotations

import inspect
import math
import numbers
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np

from ..autograd import Value, no_grad
from .data import DataLoader
from .module import Module

if TYPE_CHECKING:  # matplotlib is optional: imported by History.plot when it runs
    from matplotlib.figure import Figure

Metric = Callable[[np.ndarray, np.ndarray], float]


@runtime_checkable
class BatchLoss(Protocol):
    """A loss over a whole batch of arrays, as ``tapegrad.compile`` makes one.

    ``loss(X, y)`` returns the mean loss as a float after adding its gradient into the
    parameters (or into a ``flat()`` vector); ``loss.forward(X, y)`` returns the
    per-sample losses without touching any gradient.
    """

    def __call__(self, *batch: np.ndarray) -> float: ...

    def forward(self, *batch: np.ndarray) -> np.ndarray: ...


@dataclass
class History:
    """What ``fit`` measured. Per update: ``step_loss``. Per epoch (``epochs`` = 1, 2,
    ...): ``lr`` (the first parameter group's rate in that epoch), ``train_loss`` (mean
    of the epoch's batch losses, weighted by batch size), ``val_loss``, ``train_acc``,
    ``val_acc`` (empty when not measured). ``best_epoch`` has the lowest validation loss (training
    loss without validation); ``stopped_early`` says whether early stopping ended it.
    """

    step_loss: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False

    def row(self, i: int = -1) -> str:
        """Epoch ``i`` as one printed line: epoch, rate, losses, accuracies."""
        parts = [
            f"epoch {self.epochs[i]:3d}",
            f"lr {self.lr[i]:.3g}",
            f"train loss {self.train_loss[i]:.4f}",
        ]
        if self.val_loss:
            parts.append(f"val loss {self.val_loss[i]:.4f}")
        if self.train_acc:
            parts.append(f"train acc {self.train_acc[i]:.1%}")
        if self.val_acc:
            parts.append(f"val acc {self.val_acc[i]:.1%}")
        return "  ".join(parts)

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(no epochs)"
        stop = ", stopped early" if self.stopped_early else ""
        return (
            f"History({len(self.epochs)} epochs, best epoch {self.best_epoch}{stop}; "
            f"last: {self.row()})"
        )

    def plot(self, title: str = "training") -> Figure:
        """Draw loss (per update and per epoch), accuracy (if measured) and the learning
        rate against the epoch; returns the matplotlib Figure."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "History.plot needs matplotlib: pip install matplotlib "
                '(or pip install -e ".[demos]" in a clone)'
            ) from None
        if not self.epochs:
            raise ValueError("History.plot: nothing to plot, no epoch was recorded")
        panels = 3 if self.train_acc else 2
        dots = len(self.epochs) <= 40  # markers on short runs; on long ones they make a band
        train, val = ("o-", "s-") if dots else ("-", "-")
        fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4))
        ax = axes[0]
        steps = len(self.step_loss)
        per_epoch = steps / len(self.epochs)
        ax.plot(
            [(k + 1) / per_epoch for k in range(steps)],
            self.step_loss,
            color="tab:blue",
            alpha=0.35,
            lw=1,
            label="each update",
        )
        ax.plot(
            self.epochs,
            self.train_loss,
            train,
            color="tab:blue",
            ms=3,
            label="training (epoch mean)",
        )
        if self.val_loss:
            ax.plot(self.epochs, self.val_loss, val, color="tab:orange", ms=3, label="validation")
            ax.axvline(
                self.best_epoch,
                color="gray",
                ls=":",
                lw=1,
                label=f"lowest validation loss (epoch {self.best_epoch})",
            )
        ax.set(xlabel="epoch", ylabel="loss", title="loss")
        if min(self.step_loss + self.train_loss) > 0 and _spans_decades(self.step_loss):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        if self.train_acc:
            ax = axes[1]
            ax.plot(self.epochs, self.train_acc, train, color="tab:blue", ms=3, label="training")
            if self.val_acc:
                ax.plot(
                    self.epochs, self.val_acc, val, color="tab:orange", ms=3, label="validation"
                )
            ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
            ax.legend(fontsize=8)
        ax = axes[-1]
        ax.plot(self.epochs, self.lr, train, color="tab:green", ms=3, label="learning rate")
        ax.set(xlabel="epoch", ylabel="learning rate", title="learning rate")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        fig.suptitle(title)
        fig.tight_layout()
        return fig


def _spans_decades(xs: list[float]) -> bool:
    return max(xs) > 30 * min(xs)


def _count(name: str, n: object, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < minimum:
        raise ValueError(f"fit: {name} must be an int >= {minimum}, got {n!r}")
    return int(n)


def _pair(name: str, data: object) -> tuple[Sequence, Sequence]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"fit: {name} must be a pair (X, y), got {type(data).__name__}")
    X, y = data
    if len(X) != len(y):
        raise ValueError(f"fit: {name} has {len(X)} inputs but {len(y)} targets")
    if len(X) == 0:
        raise ValueError(f"fit: {name} is empty")
    return X, y


def _argmax(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of samples whose highest output is at their label's index."""
    return float(np.mean(outputs.argmax(axis=1) == targets))


def _sign(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of samples whose single output has the sign of their target (a target
    above 0 is the positive class: labels 1 of {0, 1} and +1 of {-1, +1})."""
    return float(np.mean((outputs[:, 0] > 0) == (targets > 0)))


def _threshold(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of samples whose single output, read as the probability of class 1
    (a sigmoid output), is above 1/2 exactly when their label is 1."""
    return float(np.mean((outputs[:, 0] > 0.5) == (targets == 1)))


ACCURACIES: dict[str, Metric] = {"argmax": _argmax, "sign": _sign, "threshold": _threshold}


def _metric(accuracy: str | Metric | None) -> Metric | None:
    if accuracy is None or callable(accuracy):
        return accuracy
    try:
        return ACCURACIES[accuracy]
    except (KeyError, TypeError):
        raise ValueError(
            f"fit: accuracy must be a function (outputs, targets) -> float or one of "
            f"{sorted(ACCURACIES)}, got {accuracy!r}"
        ) from None


class _Trainer:
    """One run of ``fit``: the step and the measurements, for eager or compiled losses."""

    def __init__(self, model: Any, loss_fn: Any, optimizer: Any, metric: Metric | None) -> None:
        self.model, self.loss_fn, self.optimizer, self.metric = model, loss_fn, optimizer, metric
        self.compiled = isinstance(loss_fn, BatchLoss)
        self.module = model if isinstance(model, Module) else None

    def mode(self, training: bool) -> None:
        if self.module is not None:
            self.module.train(training)

    def step(self, xb: list, yb: list) -> float:
        self.optimizer.zero_grad()
        if self.compiled:
            loss = self.loss_fn(np.asarray(xb), np.asarray(yb))
        else:
            loss = self.loss_fn([self.model(x) for x in xb], yb)
            if not isinstance(loss, Value):
                raise TypeError(
                    f"fit: loss_fn must return a Value, got {type(loss).__name__} {loss!r}"
                )
            loss.backward()
            loss = loss.data
        self.optimizer.step()
        return float(loss)

    def sync(self) -> None:
        """Write a flat parameter vector (``compiled.flat()``) back into the Values, so
        the eager model reads the trained numbers."""
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                if not isinstance(p, Value) and hasattr(p, "sync"):
                    p.sync()

    def loss(self, X: Sequence, y: Sequence) -> float:
        """The mean loss over a whole set, no gradients."""
        if self.compiled:
            return float(np.mean(self.loss_fn.forward(np.asarray(X), np.asarray(y))))
        with no_grad():
            return float(self.loss_fn([self.model(x) for x in X], y).data)

    def outputs(self, X: Sequence) -> np.ndarray:
        """The model's outputs, one row per sample (from the Values: synced first)."""
        self.sync()
        if self.module is not None:
            with no_grad():
                rows = [self.model(x) for x in X]
            return np.array(
                [[o.data] if isinstance(o, Value) else [v.data for v in o] for o in rows]
            )
        return np.asarray(self.model.forward(np.asarray(X)), dtype=float).reshape(len(X), -1)

    def accuracy(self, X: Sequence, y: Sequence) -> float:
        metric = cast(Metric, self.metric)  # fit measures accuracy only when given a metric
        return float(metric(self.outputs(X), np.asarray(y)))


def _check(
    model: Any,
    loss_fn: Any,
    optimizer: Any,
    metric: Metric | None,
    scheduler: Any,
    patience: int | None,
    val: Any,
) -> None:
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    if not isinstance(loss_fn, BatchLoss) and not isinstance(model, Module):
        raise TypeError(
            f"fit: model must be an nn.Module for an eager loss_fn, got {type(model).__name__}"
        )
    if metric is not None and not isinstance(model, Module) and not hasattr(model, "forward"):
        raise TypeError(
            "fit: accuracy needs the model's outputs: pass an nn.Module or a compiled "
            f"scoring program (with forward(X)) as model, got {type(model).__name__}"
        )
    for name in ("zero_grad", "step", "param_groups"):
        if not hasattr(optimizer, name):
            raise TypeError(
                f"fit: optimizer must be an optim.Optimizer, got {type(optimizer).__name__}"
            )
    if scheduler is not None and (
        not hasattr(scheduler, "step") or getattr(scheduler, "optimizer", None) is not optimizer
    ):
        raise ValueError("fit: scheduler must be a learning-rate schedule of this optimizer")
    if patience is not None and val is None:
        raise ValueError("fit: early_stopping watches the validation loss; pass val=(X_val, y_val)")


def _wants_metric(scheduler: Any) -> bool:
    """Whether ``scheduler.step`` takes the epoch's metric (ReduceLROnPlateau)."""
    parameters = inspect.signature(scheduler.step).parameters.values()
    return any(
        p.default is inspect.Parameter.empty and p.kind is not p.VAR_POSITIONAL for p in parameters
    )


def _progress_bar(batches: Iterable, enabled: bool | None, desc: str):
    """tqdm over ``batches`` when asked (None: only if stderr is a terminal and tqdm is
    installed); otherwise the batches themselves and no bar."""
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return batches, print
    try:
        from tqdm import tqdm
    except ImportError:
        if enabled:
            raise ImportError("fit: progress=True needs tqdm: pip install tqdm") from None
        return batches, print
    return tqdm(batches, desc=desc, leave=False, file=sys.stderr), tqdm.write


def fit(
    model: Any,
    loss_fn: Callable[[list, Sequence], Value] | BatchLoss,
    data: tuple[Sequence, Sequence],
    optimizer: Any,
    *,
    epochs: int = 1,
    batch_size: int | None = None,
    val: tuple[Sequence, Sequence] | None = None,
    accuracy: str | Metric | None = None,
    scheduler: Any = None,
    early_stopping: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    verbose: bool = False,
    progress: bool | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``data = (X, y)``; return a History.

    ``loss_fn(predictions, targets) -> Value`` is an eager loss such as
    ``F.cross_entropy`` (predictions are ``[model(x) for x in xb]``), or a compiled
    loss (``BatchLoss``): then each batch is one call on arrays and ``model`` is only
    used to measure accuracy (an nn.Module, or a compiled scoring program; None if no
    accuracy is asked). ``batch_size`` None trains on the full batch; batches are
    reshuffled every epoch from ``seed`` when ``shuffle``.

    After each epoch: ``val`` (X_val, y_val) is scored (its mean loss, and accuracy);
    ``accuracy`` ("argmax": highest output is the label, "sign": the single output's
    sign is the target's, "threshold": the single output, a probability, is above 1/2
    for label 1 only, or a function (outputs (n, k) array, targets) -> float) is
    measured on the training set and ``val`` at the epoch's end; ``scheduler.step()``
    runs (``step(val loss)``, or the training loss without ``val``, for
    ReduceLROnPlateau); with ``early_stopping=patience`` training stops once the
    validation loss has not reached a new minimum for ``patience`` epochs.
    ``verbose`` prints one row per epoch; ``progress`` shows a tqdm bar per epoch
    (None: only when stderr is a terminal), printed rows never break into it.
    A flat parameter vector (``compiled.flat()``) in the optimizer is written back
    into the model's Values before the model is evaluated and when fit returns.
    """
    X, y = _pair("data", data)
    epochs = _count("epochs", epochs)
    batch_size = len(X) if batch_size is None else _count("batch_size", batch_size)
    validation = _pair("val", val) if val is not None else None
    patience = None if early_stopping is None else _count("early_stopping", early_stopping)
    metric = _metric(accuracy)
    _check(model, loss_fn, optimizer, metric, scheduler, patience, val)
    trainer = _Trainer(model, loss_fn, optimizer, metric)
    plateau = scheduler is not None and _wants_metric(scheduler)
    batches = DataLoader(X, y, batch_size, shuffle=shuffle, seed=seed)
    was_training = getattr(model, "training", True)
    history, best, since_best = History(), math.inf, 0
    try:
        for epoch in range(1, epochs + 1):
            history.epochs.append(epoch)
            history.lr.append(float(optimizer.param_groups[0]["lr"]))
            trainer.mode(True)
            bar, write = _progress_bar(batches, progress, f"epoch {epoch}/{epochs}")
            total = 0.0
            for xb, yb in bar:
                loss = trainer.step(xb, yb)
                history.step_loss.append(loss)
                total += loss * len(xb)
            history.train_loss.append(total / len(X))
            trainer.mode(False)
            if validation is not None:
                history.val_loss.append(trainer.loss(*validation))
            if metric is not None:
                history.train_acc.append(trainer.accuracy(X, y))
                if validation is not None:
                    history.val_acc.append(trainer.accuracy(*validation))
            watched = (history.val_loss or history.train_loss)[-1]
            if plateau:
                scheduler.step(watched)
            elif scheduler is not None:
                scheduler.step()
            if verbose:
                write(history.row())
            if watched < best:
                best, since_best, history.best_epoch = watched, 0, epoch
            else:
                since_best += 1
            if patience is not None and since_best >= patience:
                history.stopped_early = epoch < epochs
                break
    finally:
        trainer.sync()
        if trainer.module is not None:
            trainer.module.train(was_training)
    return history
