"""Weight initialisation schemes, by name or as functions.

An initialiser is a function ``(fan_in, fan_out, count, rng) -> list[float]`` that
draws ``count`` weights for a unit with ``fan_in`` inputs in a layer of ``fan_out``
units. The factories below build them; :func:`get` turns a name into one.

| name | distribution | variance |
|---|---|---|
| ``zeros`` | all 0 (shows article 001's symmetry problem) | 0 |
| ``normal`` | N(0, 1); ``normal(std)`` for other widths (article 001's 0.01) | std^2 |
| ``uniform`` | U(-1, 1), micrograd's choice; ``uniform(low, high)`` | (high-low)^2/12 |
| ``xavier``, ``xavier_normal`` | N(0, 1/fan_in): article 001's "std sqrt(1/n)" | 1/fan_in |
| ``xavier_uniform`` | U(-a, a), a = sqrt(3/fan_in) | 1/fan_in |
| ``glorot_normal`` | N(0, 2/(fan_in+fan_out)), torch.nn.init.xavier_normal_ | 2/(fan_in+fan_out) |
| ``glorot_uniform`` | U(-a, a), a = sqrt(6/(fan_in+fan_out)), torch's xavier_uniform_ | 2/(fan_in+fan_out) |
| ``he``, ``he_normal``, ``kaiming_normal`` | N(0, 2/fan_in): article 001's "std sqrt(2/n)" | 2/fan_in |
| ``he_uniform``, ``kaiming_uniform`` | U(-a, a), a = sqrt(6/fan_in) | 2/fan_in |
| ``auto`` | ``he_normal`` before relu/leaky_relu, ``xavier_normal`` otherwise | |

Randomness comes only from the ``numpy.random.Generator`` passed in (see
:func:`make_rng`): the same seed gives the same weights, and nothing global is touched.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

Initializer = Callable[[int, int, int, np.random.Generator], list[float]]

RELU_FAMILY = ("relu", "leaky_relu")


def make_rng(
    rng: np.random.Generator | None = None, seed: int | None = None
) -> np.random.Generator:
    """The generator to draw from: ``rng`` itself, a new one seeded with ``seed``,
    or (neither given) a fresh unpredictable one. Never NumPy's global state."""
    if rng is not None and seed is not None:
        raise ValueError("pass either rng or seed, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    return np.random.default_rng(seed)


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_mode(mode: str) -> str:
    if mode not in ("fan_in", "fan_avg"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_avg', got {mode!r}")
    return mode


def _fan(mode: str, fan_in: int, fan_out: int) -> float:
    """The 'n' of a variance-scaling scheme: fan_in, or the average of fan_in and fan_out."""
    return fan_in if mode == "fan_in" else (fan_in + fan_out) / 2


def zeros() -> Initializer:
    """All weights 0."""
    return constant(0.0)


def constant(value: float) -> Initializer:
    """All weights equal to ``value``, a real number (a string is never parsed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"constant: value must be a real number, got {type(value).__name__} {value!r}"
        )
    try:
        value = float(value)
    except OverflowError:
        raise OverflowError(f"constant: value ({value!r}) is too large for a float") from None

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        return [value] * count

    return init


def normal(std: float = 1.0, mean: float = 0.0) -> Initializer:
    """Weights ~ N(mean, std^2)."""
    std = _positive("normal: std", std)

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        return rng.normal(mean, std, count).tolist()

    return init


def uniform(low: float = -1.0, high: float = 1.0) -> Initializer:
    """Weights ~ U(low, high)."""
    if not low < high:
        raise ValueError(f"uniform: need low < high, got low={low!r}, high={high!r}")

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        return rng.uniform(low, high, count).tolist()

    return init


def _scaled_normal(scale: float, mode: str) -> Initializer:
    """Weights ~ N(0, scale / n), n = fan_in or (fan_in + fan_out) / 2."""
    _check_mode(mode)

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        return rng.normal(0.0, math.sqrt(scale / _fan(mode, fan_in, fan_out)), count).tolist()

    return init


def _scaled_uniform(scale: float, mode: str) -> Initializer:
    """Weights ~ U(-a, a) with the same variance scale / n: a = sqrt(3 scale / n)."""
    _check_mode(mode)

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        a = math.sqrt(3.0 * scale / _fan(mode, fan_in, fan_out))
        return rng.uniform(-a, a, count).tolist()

    return init


def xavier_normal(mode: str = "fan_in") -> Initializer:
    """Xavier: N(0, 1/n). ``mode="fan_in"``: n = fan_in, article 001's std sqrt(1/n);
    ``mode="fan_avg"``: n = (fan_in+fan_out)/2, Glorot & Bengio's 2/(fan_in+fan_out)."""
    return _scaled_normal(1.0, mode)


def xavier_uniform(mode: str = "fan_in") -> Initializer:
    """Xavier, uniform: U(-a, a) with a = sqrt(3/n), variance 1/n (n as in xavier_normal)."""
    return _scaled_uniform(1.0, mode)


def he_normal(mode: str = "fan_in") -> Initializer:
    """He / Kaiming: N(0, 2/n), n = fan_in: article 001's std sqrt(2/n) for ReLU nets."""
    return _scaled_normal(2.0, mode)


def he_uniform(mode: str = "fan_in") -> Initializer:
    """He / Kaiming, uniform: U(-a, a) with a = sqrt(6/n), variance 2/n."""
    return _scaled_uniform(2.0, mode)


INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros(),
    "normal": normal(),
    "uniform": uniform(),
    "xavier": xavier_normal(),
    "xavier_normal": xavier_normal(),
    "xavier_uniform": xavier_uniform(),
    "glorot_normal": xavier_normal("fan_avg"),
    "glorot_uniform": xavier_uniform("fan_avg"),
    "he": he_normal(),
    "he_normal": he_normal(),
    "he_uniform": he_uniform(),
    "kaiming_normal": he_normal(),
    "kaiming_uniform": he_uniform(),
}


def get(spec: str | Initializer, activation: str = "linear") -> Initializer:
    """The initialiser named ``spec`` (or ``spec`` itself if it is a function).

    ``"auto"`` picks He for ReLU-family activations and Xavier otherwise (article 001).
    """
    if callable(spec):
        return spec
    if spec == "auto":
        return INITIALIZERS["he_normal" if activation in RELU_FAMILY else "xavier_normal"]
    try:
        return INITIALIZERS[spec]
    except (KeyError, TypeError):
        names = ", ".join(["auto", *INITIALIZERS])
        raise ValueError(f"unknown init {spec!r}; choose one of: {names}") from None
