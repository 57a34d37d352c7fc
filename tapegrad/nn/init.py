"""Weight initialisation schemes, by name or as functions.

An initialiser is a function ``(fan_in, fan_out, count, rng) -> list[float]`` that
draws ``count`` weights for a unit with ``fan_in`` inputs in a layer of ``fan_out``
units. The factories below build them; :func:`get` turns a name into one.

| name | distribution | variance |
|---|---|---|
| ``zeros`` | all 0 (shows article 001's symmetry problem) | 0 |
| ``normal`` | N(0, 1); ``normal(std)`` for other widths (article 001's 0.01) | std^2 |
| ``uniform`` | U(-1, 1), micrograd's choice; ``uniform(low, high)`` | (high-low)^2/12 |
| ``lecun_normal`` | N(0, 1/fan_in): article 001's "Xavier", "std sqrt(1/n)" | 1/fan_in |
| ``lecun_uniform`` | U(-a, a), a = sqrt(3/fan_in) | 1/fan_in |
| ``xavier``, ``xavier_normal``, ``glorot_normal`` | N(0, 2/(fan_in+fan_out)): Glorot's, torch.nn.init.xavier_normal_ | 2/(fan_in+fan_out) |
| ``xavier_uniform``, ``glorot_uniform`` | U(-a, a), a = sqrt(6/(fan_in+fan_out)), torch's xavier_uniform_ | 2/(fan_in+fan_out) |
| ``he``, ``he_normal``, ``kaiming_normal`` | N(0, 2/fan_in): article 001's "He", "std sqrt(2/n)"; torch's kaiming_normal_ | 2/fan_in |
| ``he_uniform``, ``kaiming_uniform`` | U(-a, a), a = sqrt(6/fan_in), torch's kaiming_uniform_ | 2/fan_in |
| ``auto`` | ``he_normal`` before relu/leaky_relu, ``lecun_normal`` otherwise | |

The names mean what they mean in PyTorch: ``xavier_*`` is Glorot's scheme (in earlier
versions of tapegrad it named the 1/fan_in scheme, now ``lecun_*``), ``kaiming_*`` takes
PyTorch's ``a``, ``mode`` and ``nonlinearity``, ``xavier_*`` its ``gain``
(:func:`calculate_gain`); ``glorot_*`` and ``he_*`` are the same functions.

Randomness comes only from the ``numpy.random.Generator`` passed in (see
:func:`make_rng`): the same seed gives the same weights, and nothing global is touched.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

__all__ = [
    "INITIALIZERS",
    "RELU_FAMILY",
    "Initializer",
    "calculate_gain",
    "constant",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "make_rng",
    "normal",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

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


# The square of PyTorch's gain per nonlinearity (calculate_gain); leaky_relu's depends
# on its negative slope.
_GAIN_SQUARED = {"linear": 1.0, "sigmoid": 1.0, "tanh": 25 / 9, "relu": 2.0, "selu": 9 / 16}


def _gain_squared(nonlinearity: str, param: float | None = None) -> float:
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {param} not a valid number")
        return 2.0 / (1 + slope**2)
    try:
        return _GAIN_SQUARED[nonlinearity]
    except (KeyError, TypeError):
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}") from None


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """PyTorch's recommended gain for an activation: 1 for "linear" and "sigmoid", 5/3
    for "tanh", sqrt(2) for "relu", sqrt(2 / (1 + slope^2)) for "leaky_relu" (``param``
    its negative slope, 0.01 if None), 3/4 for "selu" (torch.nn.init.calculate_gain)."""
    return math.sqrt(_gain_squared(nonlinearity, param))


def _gain(name: str, gain: float) -> float:
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real):
        raise TypeError(
            f"{name}: gain must be a real number, got {type(gain).__name__} {gain!r} "
            "(xavier_* is PyTorch's Glorot scheme and takes no mode; for variance "
            "1/fan_in use lecun_normal or lecun_uniform)"
        )
    return _positive(f"{name}: gain", gain)


def _check_fan_mode(mode: str) -> str:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    return mode


def lecun_normal() -> Initializer:
    """LeCun: N(0, 1/fan_in), article 001's "Xavier" (std sqrt(1/n), n the inputs of a
    unit). A plain normal (Keras and JAX draw their lecun_normal from a truncated one)."""

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        return rng.normal(0.0, math.sqrt(1.0 / fan_in), count).tolist()

    return init


def lecun_uniform() -> Initializer:
    """LeCun, uniform: U(-a, a) with a = sqrt(3/fan_in), variance 1/fan_in."""

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        a = math.sqrt(3.0 / fan_in)
        return rng.uniform(-a, a, count).tolist()

    return init


def xavier_normal(gain: float = 1.0) -> Initializer:
    """Xavier / Glorot, PyTorch's ``xavier_normal_``: N(0, std^2) with
    std = gain * sqrt(2 / (fan_in + fan_out)). (Article 001's "Xavier", variance
    1/fan_in, is :func:`lecun_normal`.)"""
    gain = _gain("xavier_normal", gain)

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        return rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), count).tolist()

    return init


def xavier_uniform(gain: float = 1.0) -> Initializer:
    """Xavier / Glorot, uniform, PyTorch's ``xavier_uniform_``: U(-a, a) with
    a = gain * sqrt(6 / (fan_in + fan_out)) (computed as PyTorch does, sqrt(3) * std)."""
    gain = _gain("xavier_uniform", gain)

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        a = math.sqrt(3.0) * (gain * math.sqrt(2.0 / (fan_in + fan_out)))
        return rng.uniform(-a, a, count).tolist()

    return init


def _kaiming_std(a: float, mode: str, nonlinearity: str) -> Callable[[int, int], float]:
    """std = gain / sqrt(fan) as a function of (fan_in, fan_out), checking the arguments
    now. It is computed as sqrt(gain^2 / fan): with the defaults, sqrt(2 / fan_in) to
    the last bit (gain / sqrt(fan) can differ from it there)."""
    _check_fan_mode(mode)
    gain_squared = _gain_squared(nonlinearity, a)

    def std(fan_in: int, fan_out: int) -> float:
        return math.sqrt(gain_squared / (fan_in if mode == "fan_in" else fan_out))

    return std


def kaiming_normal(
    a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Initializer:
    """Kaiming / He, PyTorch's ``kaiming_normal_``: N(0, std^2) with std = gain / sqrt(fan),
    gain = ``calculate_gain(nonlinearity, a)`` (``a`` the negative slope of a leaky_relu)
    and fan = fan_in or fan_out (``mode``). The defaults give sqrt(2 / fan_in), article
    001's "He" for ReLU nets."""
    std = _kaiming_std(a, mode, nonlinearity)

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        return rng.normal(0.0, std(fan_in, fan_out), count).tolist()

    return init


def kaiming_uniform(
    a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Initializer:
    """Kaiming / He, uniform, PyTorch's ``kaiming_uniform_``: U(-b, b) with b = sqrt(3) * std,
    std as in :func:`kaiming_normal` (defaults: b = sqrt(6 / fan_in))."""
    std = _kaiming_std(a, mode, nonlinearity)

    def init(fan_in: int, fan_out: int, count: int, rng: np.random.Generator) -> list[float]:
        bound = math.sqrt(3.0) * std(fan_in, fan_out)
        return rng.uniform(-bound, bound, count).tolist()

    return init


# Other names of the same schemes (Glorot & Bengio, He et al.): the very same functions.
glorot_normal = xavier_normal
glorot_uniform = xavier_uniform
he_normal = kaiming_normal
he_uniform = kaiming_uniform

INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros(),
    "normal": normal(),
    "uniform": uniform(),
    "lecun_normal": lecun_normal(),
    "lecun_uniform": lecun_uniform(),
    "xavier": xavier_normal(),
    "xavier_normal": xavier_normal(),
    "xavier_uniform": xavier_uniform(),
    "glorot_normal": glorot_normal(),
    "glorot_uniform": glorot_uniform(),
    "he": kaiming_normal(),
    "he_normal": he_normal(),
    "he_uniform": he_uniform(),
    "kaiming_normal": kaiming_normal(),
    "kaiming_uniform": kaiming_uniform(),
}


def get(spec: str | Initializer, activation: str = "linear") -> Initializer:
    """The initialiser named ``spec`` (or ``spec`` itself if it is a function).

    ``"auto"`` picks He (``he_normal``) for ReLU-family activations and article 001's
    "Xavier" (``lecun_normal``) otherwise, as article 001 recommends.
    """
    if callable(spec):
        return spec
    if spec == "auto":
        return INITIALIZERS["he_normal" if activation in RELU_FAMILY else "lecun_normal"]
    try:
        return INITIALIZERS[spec]
    except (KeyError, TypeError):
        names = ", ".join(["auto", *INITIALIZERS])
        raise ValueError(f"unknown init {spec!r}; choose one of: {names}") from None
