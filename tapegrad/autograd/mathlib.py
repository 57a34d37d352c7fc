"""Elementary functions in three flavours: on floats, on Values, on NumPy arrays.

The op table (``ops.py``) writes each forward and derivative rule once, against a
namespace ``m`` of elementary functions. Passing ``FLOATS`` evaluates a rule on plain
numbers (eager forward, first-order backward), ``VALUES`` builds a new graph from it
(higher-order derivatives), and ``ARRAYS`` runs it over a whole batch (compiled mode).
"""

from __future__ import annotations

import math
import operator

import numpy as np


def _domain_error(op: str, condition: str, x: float) -> ValueError:
    return ValueError(f"{op}: input must be {condition}, got {x!r}")


class _Arithmetic:
    """+, -, * and unary - as functions: the operators work on floats, Values and arrays."""

    add = staticmethod(operator.add)
    sub = staticmethod(operator.sub)
    mul = staticmethod(operator.mul)
    neg = staticmethod(operator.neg)


class FloatMath(_Arithmetic):
    """Elementary functions on Python floats, with domain errors that name the op."""

    @staticmethod
    def exp(x: float) -> float:
        try:
            return math.exp(x)
        except OverflowError:
            return math.inf

    @staticmethod
    def log(x: float) -> float:
        if x <= 0.0:
            raise _domain_error("log", "> 0", x)
        return math.log(x)

    @staticmethod
    def sqrt(x: float) -> float:
        if x < 0.0:
            raise _domain_error("sqrt", ">= 0", x)
        return math.sqrt(x)

    tanh = staticmethod(math.tanh)
    sin = staticmethod(math.sin)
    cos = staticmethod(math.cos)
    abs = staticmethod(abs)

    @staticmethod
    def sigmoid(x: float) -> float:
        # Two branches so that exp never overflows: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) below.
        if x >= 0.0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)

    # The piecewise functions test x so that NaN falls where PyTorch's kernels put it:
    # relu and leaky_relu give NaN for NaN; relu's derivative there is 1 (PyTorch
    # passes the gradient unless the output is <= 0), leaky_relu's is its slope, and
    # sign (abs's derivative) is 0.

    @staticmethod
    def relu(x: float) -> float:
        return 0.0 if x <= 0.0 else x

    @staticmethod
    def step(x: float) -> float:
        """0 where x <= 0, else 1: the derivative of relu (0 at the kink, as PyTorch)."""
        return 0.0 if x <= 0.0 else 1.0

    @staticmethod
    def sign(x: float) -> float:
        return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)

    @staticmethod
    def leaky_relu(x: float, slope: float) -> float:
        return x if x > 0.0 else slope * x

    @staticmethod
    def leaky_step(x: float, slope: float) -> float:
        return 1.0 if x > 0.0 else slope

    @staticmethod
    def pow(x: float, k: float) -> float:
        if x == 0.0 and k < 0:
            raise ZeroDivisionError(f"pow: 0 raised to a negative power ({k!r})")
        # An infinite or NaN exponent is allowed: (-8) ** inf = inf, (-8) ** nan = nan.
        if x < 0.0 and math.isfinite(k) and k != math.floor(k):
            raise ValueError(f"pow: negative base {x!r} with non-integer exponent {k!r}")
        try:
            return x**k
        except OverflowError:
            return math.inf if x > 0 or k % 2 == 0 else -math.inf

    @staticmethod
    def pow_slope(x: float, k: float) -> float:
        """d(x ** k)/dx = k * x ** (k - 1); 0 for k = 0 (x ** 0 is 1, even at x = 0)."""
        return k * FloatMath.pow(x, k - 1.0) if k != 0.0 else 0.0

    @staticmethod
    def xlog(y: float, x: float) -> float:
        """y * log(x), taken as 0 at x = 0: with y = x ** k, d(x ** k)/dk, whose limit
        as x -> 0+ is 0 for k > 0 (PyTorch gives 0 for every k >= 0 there)."""
        return 0.0 if x == 0.0 else y * FloatMath.log(x)

    @staticmethod
    def div(a: float, b: float) -> float:
        if b == 0.0:
            raise ZeroDivisionError(f"div: division by zero ({a!r} / 0)")
        return a / b


def _value_or_float(name: str):
    """``x.name(*args)`` for a Value; the float version for a plain number (a constant
    operand, as in ``2 ** v``)."""
    on_float = getattr(FloatMath, name)

    def function(x, *args):
        return on_float(x, *args) if x.__class__ is float else getattr(x, name)(*args)

    function.__name__ = name
    return function


def _constant_of(name: str):
    """A piecewise-constant derivative as a plain number: its own derivative is zero."""
    on_float = getattr(FloatMath, name)

    def function(x, *args):
        return on_float(float(x), *args)

    function.__name__ = name
    return function


class ValueMath(_Arithmetic):
    """The same functions on Values, recording a graph (for derivatives of derivatives).

    Every function that is also a Value method (exp, log, tanh, relu, ...) is that
    method, found by name on first use: a new primitive needs no line here. Plain
    numbers are accepted too (constant operands); piecewise-constant derivatives
    (step, sign, leaky_step) are plain numbers, constants that a rule multiplies into
    its Value gradient. So this module never makes a Value and imports none.
    """

    pow = staticmethod(lambda x, k: x**k)
    div = staticmethod(lambda a, b: a / b)
    step = staticmethod(_constant_of("step"))
    sign = staticmethod(_constant_of("sign"))
    leaky_step = staticmethod(_constant_of("leaky_step"))

    @staticmethod
    def pow_slope(x, k):
        """k * x ** (k - 1), a constant 0 for k = 0 (see ``FloatMath.pow_slope``)."""
        return k * x ** (k - 1.0) if float(k) != 0.0 else 0.0

    def xlog(self, y, x):
        """y * log(x), a constant 0 at x = 0 (see ``FloatMath.xlog``)."""
        return y * self.log(x) if float(x) != 0.0 else 0.0

    def __getattr__(self, name: str):
        # Called only for names not defined above: the Value method of that name.
        if name.startswith("_") or not hasattr(FloatMath, name):
            raise AttributeError(f"ValueMath has no function {name!r}")
        function = _value_or_float(name)
        setattr(self, name, function)  # found once
        return function


def _check_array(op: str, condition: str, bad, x) -> None:
    if np.any(bad):
        offending = np.broadcast_to(x, np.shape(bad))[bad].flat[0]
        raise _domain_error(op, condition, float(offending))


class ArrayMath(_Arithmetic):
    """The same functions elementwise on float64 NumPy arrays (compiled mode)."""

    exp = staticmethod(np.exp)
    tanh = staticmethod(np.tanh)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    abs = staticmethod(np.abs)

    @staticmethod
    def log(x: np.ndarray) -> np.ndarray:
        _check_array("log", "> 0", x <= 0.0, x)
        return np.log(x)

    @staticmethod
    def sqrt(x: np.ndarray) -> np.ndarray:
        _check_array("sqrt", ">= 0", x < 0.0, x)
        return np.sqrt(x)

    @staticmethod
    def sigmoid(x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))
        return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))

    @staticmethod
    def relu(x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0)

    @staticmethod
    def step(x: np.ndarray) -> np.ndarray:
        return (~(x <= 0.0)).astype(np.float64)  # 1 at NaN, as FloatMath.step

    @staticmethod
    def sign(x: np.ndarray) -> np.ndarray:
        # Not np.sign, which gives NaN for NaN: 0 there, as FloatMath.sign and PyTorch.
        return (x > 0.0).astype(np.float64) - (x < 0.0)

    @staticmethod
    def leaky_relu(x: np.ndarray, slope: float) -> np.ndarray:
        return np.where(x > 0.0, x, slope * x)

    @staticmethod
    def leaky_step(x: np.ndarray, slope: float) -> np.ndarray:
        return np.where(x > 0.0, 1.0, slope)

    @staticmethod
    def pow(x: np.ndarray, k: np.ndarray | float) -> np.ndarray:
        """x ** k elementwise; k may be a number or an array (a Value exponent)."""
        if np.any((x == 0.0) & (np.asarray(k) < 0)):
            raise ZeroDivisionError("pow: 0 raised to a negative power")
        _check_array(
            "pow",
            ">= 0 for a non-integer exponent",
            (x < 0.0) & np.isfinite(k) & (np.floor(k) != k),
            x,
        )
        return np.power(x, k)

    @staticmethod
    def pow_slope(x: np.ndarray, k: np.ndarray | float) -> np.ndarray:
        """k * x ** (k - 1), 0 where k = 0 (see ``FloatMath.pow_slope``)."""
        zero = np.asarray(k) == 0.0
        return np.where(zero, 0.0, k * ArrayMath.pow(np.where(zero, 1.0, x), k - 1.0))

    @staticmethod
    def xlog(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """y * log(x), 0 where x = 0 (see ``FloatMath.xlog``)."""
        _check_array("log", "> 0", x < 0.0, x)
        zero = x == 0.0
        return np.where(zero, 0.0, y * np.log(np.where(zero, 1.0, x)))

    @staticmethod
    def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if np.any(b == 0.0):
            raise ZeroDivisionError("div: division by zero")
        return a / b


FLOATS = FloatMath
VALUES = ValueMath()
ARRAYS = ArrayMath
