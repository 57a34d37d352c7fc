"""Small data sets made in-process, a shuffled train/validation/test split, mini-batches.

Every generator returns ``(X, y)`` as plain Python lists: ``X`` one list of floats
per sample (a model's input), ``y`` one label or target per sample. Randomness comes
only from an explicit ``rng`` (numpy Generator) or ``seed``; nothing global is used.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from typing import cast

import numpy as np

from .init import make_rng

__all__ = [
    "MAX_SAMPLES",
    "DataLoader",
    "Dataset",
    "black_box",
    "make_circles",
    "make_moons",
    "make_sine",
    "make_spirals",
    "train_val_test_split",
]

Dataset = tuple[list[list[float]], list]


# The data sets are plain Python lists: beyond this many samples they would not fit.
MAX_SAMPLES = 10_000_000


def _count(name: str, n: object, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {n!r}")
    count = int(n)  # exact for an Integral
    if count > MAX_SAMPLES:
        raise ValueError(f"{name} must be at most {MAX_SAMPLES:,} (plain lists), got {n!r}")
    return count


def _noise(name: str, noise: object) -> float:
    # typeshed's numbers.Real has < and <= but not their mirrors > and >=.
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0:  # type: ignore[operator]
        raise ValueError(f"{name}: noise must be a number >= 0, got {noise!r}")
    return float(noise)


def _shuffled(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> Dataset:
    order = rng.permutation(len(X))
    return X[order].tolist(), y[order].tolist()


def _two_classes(
    outer: np.ndarray, inner: np.ndarray, noise: float, rng: np.random.Generator
) -> Dataset:
    """Points ``outer`` (label 0) and ``inner`` (label 1), plus N(0, noise^2) on each
    coordinate, shuffled."""
    X = np.concatenate([outer, inner])
    y = np.concatenate([np.zeros(len(outer), dtype=int), np.ones(len(inner), dtype=int)])
    return _shuffled(X + rng.normal(0.0, noise, X.shape), y, rng)


def make_moons(
    n_samples: int = 100,
    noise: float = 0.1,
    *,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> Dataset:
    """Two interleaving half circles (labels 0 and 1), as sklearn's make_moons:
    outer (cos t, sin t), inner (1 - cos t, 1/2 - sin t), t in [0, pi], plus
    N(0, noise^2) on each coordinate, shuffled. For the hinge loss use 2*y - 1."""
    n = _count("make_moons: n_samples", n_samples, 2)
    noise = _noise("make_moons", noise)
    rng = make_rng(rng, seed)
    n_out = n // 2
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n - n_out)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = np.stack([1 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)
    return _two_classes(outer, inner, noise, rng)


def make_circles(
    n_samples: int = 100,
    noise: float = 0.05,
    factor: float = 0.5,
    *,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> Dataset:
    """A circle of radius 1 (label 0) around one of radius ``factor`` (label 1),
    as sklearn's make_circles, with N(0, noise^2) added, shuffled."""
    n = _count("make_circles: n_samples", n_samples, 2)
    noise = _noise("make_circles", noise)
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < 1:
        raise ValueError(f"make_circles: factor must be in (0, 1), got {factor!r}")
    rng = make_rng(rng, seed)
    n_out = n // 2
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n - n_out, endpoint=False)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)
    return _two_classes(outer, inner, noise, rng)


def make_spirals(
    n_per_class: int = 100,
    n_classes: int = 3,
    noise: float = 0.2,
    *,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> Dataset:
    """``n_classes`` interleaved spiral arms (labels 0..n_classes-1), CS231n style:
    arm k has radius r in [0, 1] and angle 4k + 4r + N(0, noise^2), shuffled."""
    n = _count("make_spirals: n_per_class", n_per_class, 1)
    k = _count("make_spirals: n_classes", n_classes, 2)
    noise = _noise("make_spirals", noise)
    rng = make_rng(rng, seed)
    r = np.linspace(0.0, 1.0, n)
    arms = []
    for c in range(k):
        t = np.linspace(4.0 * c, 4.0 * (c + 1), n) + rng.normal(0.0, noise, n)
        arms.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
    y = np.repeat(np.arange(k), n)
    return _shuffled(np.concatenate(arms), y, rng)


def black_box() -> Dataset:
    """Article 003's black-box table: x = 1, 1.1, 1.2, 2 -> y = 2.21, 2.431, 2.652, 4.42."""
    return [[1.0], [1.1], [1.2], [2.0]], [2.21, 2.431, 2.652, 4.42]


def make_sine(n_samples: int = 100, low: float = -2.0, high: float = 2.0) -> Dataset:
    """Article 004's target: y = 1 + sin(pi/4 * p) at ``n_samples`` evenly spaced p in
    [low, high] (100 points on [-2, 2] by default). Deterministic."""
    n = _count("make_sine: n_samples", n_samples, 2)
    ps = np.linspace(low, high, n).tolist()
    return [[p] for p in ps], [1.0 + math.sin(math.pi / 4 * p) for p in ps]


def _fraction(name: str, f: object) -> float:
    # typeshed's numbers.Real has < and <= but not their mirrors > and >=.
    if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 <= f < 1:  # type: ignore[operator]
        raise ValueError(f"train_val_test_split: {name} must be in [0, 1), got {f!r}")
    return float(f)


def train_val_test_split(
    X: Sequence,
    y: Sequence,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    *,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> tuple[Dataset, Dataset, Dataset]:
    """Shuffle, then cut into (train, validation, test), each an (X, y) pair.

    Article 001 (6.5): shuffle before splitting so that an ordered data set does not
    bias the parts; tune hyper-parameters on validation, touch test once at the end.
    The validation and test parts get round(fraction * n) samples, train the rest.
    """
    if len(X) != len(y):
        raise ValueError(f"train_val_test_split: {len(X)} inputs but {len(y)} targets")
    n = len(X)
    n_val = round(_fraction("val_fraction", val_fraction) * n)
    n_test = round(_fraction("test_fraction", test_fraction) * n)
    if n_val + n_test >= n:
        raise ValueError(
            f"train_val_test_split: {n_val} validation + {n_test} test samples leave "
            f"no training data out of {n}"
        )
    order = make_rng(rng, seed).permutation(n).tolist()
    parts = order[: n - n_val - n_test], order[n - n_val - n_test : n - n_test], order[n - n_test :]
    train, val, test = (([X[i] for i in part], [y[i] for i in part]) for part in parts)
    return train, val, test


class DataLoader:
    """Mini-batches of (X, y): each ``for xb, yb in loader`` is one epoch.

    In order by default, as PyTorch's DataLoader; with ``shuffle=True`` the order is
    redrawn from ``rng``/``seed`` at the start of every epoch. A ``seed`` or ``rng``
    without ``shuffle`` is refused (it would be ignored: the default was to shuffle in
    earlier versions of tapegrad). Last-batch policy: when ``batch_size`` does not
    divide the data set, the last batch is smaller; ``drop_last=True`` drops it instead
    (as PyTorch).
    """

    def __init__(
        self,
        X: Sequence | np.ndarray,
        y: Sequence | np.ndarray,
        batch_size: int,
        *,
        shuffle: bool | None = None,
        drop_last: bool = False,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        if len(X) != len(y):
            raise ValueError(f"DataLoader: {len(X)} inputs but {len(y)} targets")
        if len(X) == 0:
            raise ValueError("DataLoader: empty data set")
        if shuffle is None and (rng is not None or seed is not None):
            raise ValueError(
                "DataLoader: a seed or rng without shuffle; the default is shuffle=False "
                "(as PyTorch): pass shuffle=True to shuffle every epoch"
            )
        if shuffle is not None and not isinstance(shuffle, bool):
            raise TypeError(f"DataLoader: shuffle must be True or False, got {shuffle!r}")
        self.X, self.y = X, y
        self.batch_size = _count("DataLoader: batch_size", batch_size)
        shuffle = bool(shuffle)
        self.shuffle, self.drop_last = shuffle, drop_last
        self._rng = make_rng(rng, seed) if shuffle else None

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[list, list]]:
        n = len(self.X)
        # With shuffle, the constructor made the generator.
        rng = cast(np.random.Generator, self._rng)
        order = rng.permutation(n).tolist() if self.shuffle else range(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield [self.X[i] for i in idx], [self.y[i] for i in idx]
