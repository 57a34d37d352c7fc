"""Random hyper-parameter search whose trials are plain data that any executor can run.

A run trains ``MLP(nin, [*hidden, classes])`` with SGD at one learning rate and one
weight decay (compiled with ``tapegrad.compile``) and scores a validation set after
every epoch. ``search`` is the method of "Deep Learning from Scratch", chapter 6:
sample settings at random from ranges on a log scale (lr = 10^U(a, b)), train each
for a few epochs, keep the best and narrow the ranges to them, round after round.
Three guards keep it honest: a range whose best trial sits at its edge is widened past
that edge (the optimum may lie outside); every trial the validation set cannot tell
from the best (within two binomial standard errors) is kept with the best, so noise
does not narrow the range; and each setting may be trained from several seeds and
averaged (one run's accuracy is noisy too).

Runs go through any ``concurrent.futures.Executor``: a thread or process pool, or a
Dask cluster's ``client.get_executor()``. A ``Task`` holds its data as arrays and
``run_task`` is a top-level function, so a worker needs only ``tapegrad`` installed.
"""

from __future__ import annotations

import math
import numbers
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np

from . import nn, optim
from .compiler import Compiled, compile
from .nn import functional as F

NAMES = ("lr", "weight_decay")
"""The hyper-parameters a search samples, in this order."""

LR_RANGE = (1e-6, 1e-2)
"""The book's starting range for the learning rate: lr = 10^U(-6, -2)."""

WEIGHT_DECAY_RANGE = (1e-8, 1e-4)
"""The book's starting range for the weight decay: lambda = 10^U(-8, -4)."""

Range = tuple[float, float]


@dataclass(frozen=True, eq=False)
class Task:
    """One training run: ``MLP(nin, [*hidden, classes], seed=seed)`` trained with
    ``SGD(lr, weight_decay)`` on (X, y) in mini-batches (shuffled with ``seed``) for
    ``epochs``, scored on (X_val, y_val) after every epoch.

    X and X_val are arrays (samples, nin); y and y_val hold class indices 0 .. classes-1.
    Checked when made; ``run_task(task)`` trains it.
    """

    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    lr: float
    weight_decay: float = 0.0
    hidden: tuple[int, ...] = (50, 50)
    classes: int = 10
    epochs: int = 30
    batch_size: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("Task", "lr", self.lr)
        _positive("Task", "weight_decay", self.weight_decay, zero=True)
        checked = _settings(
            "Task",
            self.X,
            self.y,
            self.X_val,
            self.y_val,
            self.hidden,
            self.classes,
            self.epochs,
            self.batch_size,
            self.seed,
        )
        for name, value in zip(("X", "y", "X_val", "y_val", "hidden"), checked):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "weight_decay", float(self.weight_decay))


@dataclass(frozen=True)
class Run:
    """What ``run_task`` returns: the task's settings and seed, the validation accuracy
    after each epoch (``curve``; ``accuracy`` is the last) and whether the training
    loss became infinite or NaN (``diverged``: training stopped there, and the later
    epochs score the network as it was left)."""

    lr: float
    weight_decay: float
    seed: int
    curve: tuple[float, ...]
    diverged: bool = False

    @property
    def accuracy(self) -> float:
        """The validation accuracy after the last epoch."""
        return self.curve[-1]


@dataclass(frozen=True)
class Trial:
    """One sampled setting and its runs (one per seed): ``accuracy`` and ``curve`` are
    their means, ``spread`` the standard error of that mean over the seeds
    (std / sqrt(runs), 0 for one run); ``diverged`` if any run diverged."""

    lr: float
    weight_decay: float
    runs: tuple[Run, ...]

    @property
    def accuracy(self) -> float:
        """Mean validation accuracy over the runs."""
        return float(np.mean([r.accuracy for r in self.runs]))

    @property
    def curve(self) -> tuple[float, ...]:
        """Mean validation accuracy after each epoch."""
        return tuple(np.mean([r.curve for r in self.runs], axis=0).tolist())

    @property
    def diverged(self) -> bool:
        """True if any of the runs diverged."""
        return any(r.diverged for r in self.runs)

    @property
    def spread(self) -> float:
        """Standard error of ``accuracy`` over the seeds: std (ddof 1) / sqrt(runs)."""
        n = len(self.runs)
        return 0.0 if n < 2 else float(np.std([r.accuracy for r in self.runs], ddof=1) / n**0.5)


@dataclass(frozen=True)
class Round:
    """One round of ``search``: the ``ranges`` it sampled from, its ``trials`` (best
    first), ``noise`` (the binomial standard error of the best accuracy on the
    validation set), how many of the trials were ``kept`` (the ``keep`` best and all
    within 2 * noise of the best), the ``next_ranges`` they span, and ``widened``:
    (name, "up" or "down") for each range whose best trial sat at its edge, so its
    next range reaches past it."""

    number: int
    ranges: dict[str, Range]
    trials: tuple[Trial, ...]
    noise: float
    kept: int
    next_ranges: dict[str, Range]
    widened: tuple[tuple[str, str], ...] = ()

    @property
    def best(self) -> Trial:
        """The round's best trial."""
        return self.trials[0]


_LOCAL = threading.local()  # each worker thread (or process) keeps its own programs


def _programs(nin: int, hidden: tuple[int, ...], classes: int) -> tuple[nn.MLP, Compiled, Compiled]:
    """The model, its compiled cross-entropy and its compiled scores: traced once per
    worker (thread or process), then reused by every run with new initial weights."""
    cache = _LOCAL.__dict__.setdefault("programs", {})
    key = (nin, hidden, classes)
    if key not in cache:
        model = nn.MLP(nin, [*hidden, classes])
        params = model.parameters()
        step = compile(
            lambda x, t: F.cross_entropy([model(x)], [t]), params, labels={1: range(classes)}
        )
        scores = compile(lambda x: model(x), params)
        step.forward(np.zeros((1, nin)), np.zeros(1))  # trace now, once per worker
        scores.forward(np.zeros((1, nin)))
        cache[key] = model, step, scores
    return cache[key]


def run_task(task: Task) -> Run:
    """Train the task's network and score it after every epoch (see ``Task``).

    The same task gives the same numbers in any thread, process or machine with the
    same NumPy: the seed fixes the initial weights and the batch order.
    """
    if not isinstance(task, Task):
        raise TypeError(f"run_task: expected a Task, got {type(task).__name__}")
    model, step, scores = _programs(task.X.shape[1], task.hidden, task.classes)
    model.load_state_dict(
        nn.MLP(task.X.shape[1], [*task.hidden, task.classes], seed=task.seed).state_dict()
    )
    flat = step.flat()  # all parameters as one array for the optimizer
    flat.reload()
    # SGD's weight_decay adds lambda * w to each gradient: the derivative of the
    # 1/2 lambda W^2 penalty (PyTorch's convention: biases are decayed too).
    optimizer = optim.SGD([flat], lr=task.lr, weight_decay=task.weight_decay)
    batches = nn.data.DataLoader(task.X, task.y, task.batch_size, shuffle=True, seed=task.seed)
    curve: list[float] = []
    diverged = False
    # A rate too large makes the loss overflow: that is a result of the search (the
    # run diverged), not an error, so NumPy's overflow warnings are not shown.
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(task.epochs):
            if not diverged:
                diverged = _train_epoch(step, optimizer, batches)
                flat.sync()  # the scoring program reads the Values
            predicted = scores.forward(task.X_val).argmax(axis=1)
            curve.append(float(np.mean(predicted == task.y_val)))
    return Run(task.lr, task.weight_decay, task.seed, tuple(curve), diverged)


def _train_epoch(step: Compiled, optimizer: optim.Optimizer, batches: nn.data.DataLoader) -> bool:
    """One pass over the batches; True (and stop) as soon as the loss is not finite."""
    for xb, yb in batches:
        optimizer.zero_grad()
        try:
            loss = step(np.array(xb), np.array(yb))
        except ArithmeticError:  # an overflow the engine reports instead of giving inf
            return True
        if not math.isfinite(loss):
            return True
        optimizer.step()
    return False


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on n samples: sqrt(p (1 - p) / n).

    Two accuracies on the same n samples that differ by less than about twice this
    are not told apart by the measurement.
    """
    _count("standard_error", "n", n)
    if not isinstance(accuracy, numbers.Real) or not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"standard_error: accuracy must be in [0, 1], got {accuracy!r}")
    return math.sqrt(accuracy * (1.0 - accuracy) / n)


def log_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """n samples of 10^U(log10 low, log10 high)."""
    return 10.0 ** rng.uniform(math.log10(low), math.log10(high), n)


def next_range(
    current: Range, kept: Sequence[float], best: float, edge: float
) -> tuple[Range, str | None]:
    """The range the next round samples, from this round's range and trials.

    It spans the ``kept`` best trials' values. When the best value lies within
    ``edge`` of an end of ``current`` (a fraction of its width on the log scale), the
    optimum may lie beyond that end: the next range reaches past it by half the
    current width (in decades). Returns the range and "up", "down" or None.
    """
    low, high = min(kept), max(kept)
    a, b = math.log10(current[0]), math.log10(current[1])
    width = b - a
    if width <= 0.0:
        return (low, high), None
    where = (math.log10(best) - a) / width  # 0 at the low end, 1 at the high end
    if where >= 1.0 - edge:
        return (low, current[1] * 10.0 ** (width / 2)), "up"
    if where <= edge:
        return (current[0] / 10.0 ** (width / 2), high), "down"
    return (low, high), None


def search(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    rounds: int = 3,
    trials: int = 16,
    keep: int = 4,
    repeats: int = 1,
    lr_range: Range = LR_RANGE,
    weight_decay_range: Range = WEIGHT_DECAY_RANGE,
    edge: float = 0.1,
    hidden: Sequence[int] = (50, 50),
    classes: int = 10,
    epochs: int = 30,
    batch_size: int = 20,
    seed: int = 0,
    executor: Executor | None = None,
    on_run: Callable[[int, int, int], None] | None = None,
) -> list[Round]:
    """Random search of lr and weight decay, narrowed round by round.

    Each round samples ``trials`` settings lr = 10^U(log10 lr_range), weight decay
    = 10^U(log10 weight_decay_range), trains each from ``repeats`` seeds (seed,
    seed + 1, ...: the same seeds for every setting, so that settings are compared
    on the same initial weights and batch orders) and ranks the settings by their
    mean validation accuracy. The next round samples from the span of the ``keep``
    best and of every other setting within two standard errors of the best (the
    validation set cannot rank those: ``standard_error``), widened past an end where
    the best sits within ``edge`` of it
    (``next_range``). Runs go through ``executor`` (any ``concurrent.futures.Executor``;
    by default a process pool with one worker per CPU); ``on_run(round, done, total)``
    is called as each finishes. The same arguments give the same numbers whatever
    the executor. Returns one ``Round`` per round.

    A failed run, an exception from ``on_run`` or Ctrl-C stops the search at once
    and cancels the runs still queued (on a user's executor too, which stays open);
    the default pool is shut down with its queue cancelled.
    """
    for name, n in (("rounds", rounds), ("trials", trials), ("repeats", repeats)):
        _count("search", name, n)
    _count("search", "keep", keep)
    if keep > trials:
        raise ValueError(f"search: keep must be between 1 and trials ({trials}), got {keep}")
    if not isinstance(edge, numbers.Real) or not 0.0 <= edge < 0.5:
        raise ValueError(f"search: edge must be in [0, 0.5), got {edge!r}")
    ranges = {
        "lr": _range("lr_range", lr_range),
        "weight_decay": _range("weight_decay_range", weight_decay_range),
    }
    X, y, X_val, y_val, hidden = _settings(
        "search", X, y, X_val, y_val, hidden, classes, epochs, batch_size, seed
    )
    seeds = [seed + k for k in range(repeats)]
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=os.cpu_count() or 1)
    rng = np.random.default_rng(seed)
    history = []
    futures: list[Future] = []
    try:
        for number in range(1, rounds + 1):
            settings = list(
                zip(
                    log_uniform(rng, *ranges["lr"], trials).tolist(),
                    log_uniform(rng, *ranges["weight_decay"], trials).tolist(),
                )
            )
            futures = []
            for lr, wd in settings:
                for s in seeds:
                    task = Task(
                        X,
                        y,
                        X_val,
                        y_val,
                        lr=lr,
                        weight_decay=wd,
                        hidden=hidden,
                        classes=classes,
                        epochs=epochs,
                        batch_size=batch_size,
                        seed=s,
                    )
                    futures.append(executor.submit(run_task, task))
            for done, future in enumerate(as_completed(futures), 1):
                future.result()  # a failed run stops the search now, not at the round's end
                if on_run is not None:
                    on_run(number, done, len(futures))
            runs = [f.result() for f in futures]
            found = [
                Trial(lr, wd, tuple(runs[i * repeats : (i + 1) * repeats]))
                for i, (lr, wd) in enumerate(settings)
            ]
            found.sort(key=lambda t: (-t.accuracy, t.lr))
            noise = standard_error(found[0].accuracy, len(y_val))
            kept = [
                t
                for i, t in enumerate(found)
                if i < keep or found[0].accuracy - t.accuracy <= 2.0 * noise
            ]
            next_ranges, widened = {}, []
            for name in NAMES:
                values = [getattr(t, name) for t in kept]
                next_ranges[name], side = next_range(ranges[name], values, values[0], edge)
                if side is not None:
                    widened.append((name, side))
            history.append(
                Round(number, ranges, tuple(found), noise, len(kept), next_ranges, tuple(widened))
            )
            ranges = next_ranges
    except BaseException:
        # Stopped by a failed run, an error in on_run or Ctrl-C: the queued runs would
        # keep the workers busy (a user's Dask cluster too) for results nobody reads.
        for future in futures:
            future.cancel()
        raise
    finally:
        if own:
            executor.shutdown(cancel_futures=True)
    return history


def _count(where: str, name: str, n: object, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an integer, got {type(n).__name__} {n!r}")
    if n < minimum:
        raise ValueError(f"{where}: {name} must be at least {minimum}, got {n}")
    return int(n)


def _positive(where: str, name: str, x: object, zero: bool = False) -> None:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{where}: {name} must be a number, got {type(x).__name__} {x!r}")
    if not math.isfinite(x) or x < 0.0 or (x == 0.0 and not zero):
        kind = "finite and >= 0" if zero else "finite and > 0"
        raise ValueError(f"{where}: {name} must be {kind}, got {x!r}")


def _range(name: str, r: object) -> Range:
    if not isinstance(r, Sequence) or isinstance(r, (str, bytes)) or len(r) != 2:
        raise TypeError(f"search: {name} must be a pair (low, high), got {r!r}")
    for x in r:
        _positive("search", name, x)
    low, high = float(r[0]), float(r[1])
    if low > high:
        raise ValueError(f"search: {name} must have low <= high, got {r!r}")
    return low, high


def _settings(
    where: str,
    X: object,
    y: object,
    X_val: object,
    y_val: object,
    hidden: object,
    classes: object,
    epochs: object,
    batch_size: object,
    seed: object,
) -> tuple:
    """Checked (X, y, X_val, y_val, hidden) of a task or a search, as arrays and a tuple."""
    n_classes = _count(where, "classes", classes, minimum=2)
    _count(where, "epochs", epochs)
    _count(where, "batch_size", batch_size)
    _count(where, "seed", seed, minimum=0)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"{where}: hidden must be a sequence of layer widths, got {hidden!r}")
    for width in hidden:
        _count(where, "hidden width", width)
    X, y = _samples(where, "X", "y", X, y, n_classes)
    X_val, y_val = _samples(where, "X_val", "y_val", X_val, y_val, n_classes)
    if X_val.shape[1] != X.shape[1]:
        raise ValueError(
            f"{where}: X_val has {X_val.shape[1]} features per sample, X has {X.shape[1]}"
        )
    return X, y, X_val, y_val, tuple(int(w) for w in hidden)


def _samples(
    where: str, xname: str, yname: str, X: object, y: object, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    try:
        X = np.asarray(X, dtype=np.float64)
        y_in = np.asarray(y)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{where}: {xname} and {yname} must be arrays of numbers: {error}"
        ) from None
    if X.ndim != 2 or len(X) == 0 or X.shape[1] == 0:
        raise ValueError(f"{where}: {xname} must have shape (samples, features), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{where}: {xname} holds NaN or infinite numbers")
    if y_in.shape != (len(X),):
        raise ValueError(
            f"{where}: {yname} must have shape ({len(X)},), one label per row "
            f"of {xname}, got {y_in.shape}"
        )
    if y_in.dtype.kind not in "iu":
        raise TypeError(f"{where}: {yname} must hold integer class indices, got {y_in.dtype}")
    bad = y_in[(y_in < 0) | (y_in >= classes)]
    if len(bad):
        raise ValueError(f"{where}: {yname} must be class indices 0..{classes - 1}, got {bad[0]}")
    return X, y_in
