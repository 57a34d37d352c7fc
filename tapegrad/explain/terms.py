"""Formulas as text, from the op table's own rules.

``TERMS`` is a namespace like ``FLOATS``: running an op's forward or derivative rule on
it with named inputs (``Term.named("a", 2.0)``) returns a ``Term`` that holds the same
expression twice, once in names (``b``) and once in numbers (``-3``). The record of a
pass prints formulas this way, so no formula is written a second time by hand.

A derivative is written simplified (``1 * b`` is ``b``); a forward formula is written
whole, every operation and operand shown (``n7 / 1``, ``q - 0``): its inputs are
``verbatim`` Terms, and an expression with one keeps every identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..autograd.mathlib import FLOATS
from ..autograd.ops import OPS, Op
from ..autograd.primitive import Primitive

# Binding strength of each kind of expression, loosest first.
_SUM, _PRODUCT, _NEGATION, _POWER, _ATOM = 1, 2, 3, 4, 5
# A formula longer than this is cut with an ellipsis (a dot over hundreds of inputs).
MAX_CHARS = 160


def number(x: float) -> str:
    """A float for reading: four significant digits, no trailing ``.0``."""
    return f"{x:.4g}"


def _verbatim(*terms: Term) -> bool:
    return any(t.verbatim for t in terms)


def _wrap(t: Term, strength: int) -> tuple[str, str]:
    """``t`` in names and in numbers, each in brackets where it binds looser than
    ``strength``."""
    names = f"({t.names})" if t.strength < strength else t.names
    numbers = f"({t.numbers})" if t.number_strength < strength else t.numbers
    return names, numbers


def _join(a: Term, symbol: str, b: Term, strength: int, right: int) -> Term:
    if len(a.names) > MAX_CHARS:  # already cut: the rest is left out
        if a.names.endswith("…"):
            return a
        return Term(a.names + " …", a.numbers + " …", strength, strength, verbatim=a.verbatim)
    an, anum = _wrap(a, strength)
    bn, bnum = _wrap(b, right)
    # "2 - -3" and "2 + -3" read badly; "2 + -1 * 3" is clear enough.
    negative_atom = b.number_strength == _NEGATION
    if bnum.startswith("-") and (symbol == "-" or (symbol == "+" and negative_atom)):
        bnum = f"({bnum})"
    return Term(
        f"{an} {symbol} {bn}",
        f"{anum} {symbol} {bnum}",
        strength,
        strength,
        verbatim=_verbatim(a, b),
    )


def _add(a, b) -> Term:
    if type(a) is int and a == 0:  # the start of Python's sum(): no operand
        return Term.of(b)
    a, b = Term.of(a), Term.of(b)
    if a.const is not None and b.const is not None:
        return Term.of(a.const + b.const)
    if _verbatim(a, b):
        return _join(a, "+", b, _SUM, _SUM)
    if a.const == 0.0:
        return b
    if b.const == 0.0:
        return a
    return _join(a, "+", b, _SUM, _SUM)


def _sub(a, b) -> Term:
    a, b = Term.of(a), Term.of(b)
    if a.const is not None and b.const is not None:
        return Term.of(a.const - b.const)
    if b.const == 0.0 and not _verbatim(a, b):
        return a
    return _join(a, "-", b, _SUM, _PRODUCT)


def _mul(a, b) -> Term:
    a, b = Term.of(a), Term.of(b)
    if a.const is not None and b.const is not None:
        return Term.of(a.const * b.const)
    if _verbatim(a, b):
        return _join(a, "*", b, _PRODUCT, _NEGATION)
    for one, other in ((a, b), (b, a)):
        if one.const == 1.0:
            return other
        if one.const == -1.0:
            return _neg(other)
    return _join(a, "*", b, _PRODUCT, _NEGATION)


def _div(a, b) -> Term:
    a, b = Term.of(a), Term.of(b)
    if a.const is not None and b.const is not None and b.const != 0.0:
        return Term.of(a.const / b.const)
    if b.const == 1.0 and not _verbatim(a, b):
        return a
    return _join(a, "/", b, _PRODUCT, _NEGATION)


def _neg(a) -> Term:
    a = Term.of(a)
    if a.const is not None:
        return Term.of(-a.const)
    names, numbers = _wrap(a, _NEGATION + 1)
    if numbers.startswith("-"):
        numbers = f"({numbers})"
    return Term(f"-{names}", f"-{numbers}", _NEGATION, _NEGATION, verbatim=a.verbatim)


def _pow(a, b) -> Term:
    a, b = Term.of(a), Term.of(b)
    if not _verbatim(a, b):
        if b.const == 1.0:
            return a
        if b.const == 0.0:
            return Term.of(1.0)
    an, anum = _wrap(a, _POWER + 1)
    bn, bnum = _wrap(b, _POWER)
    return Term(f"{an} ** {bn}", f"{anum} ** {bnum}", _POWER, _POWER, verbatim=_verbatim(a, b))


def _reflected(function):
    """``function`` with its two arguments swapped: ``other <op> self`` as a method."""

    def method(self, other) -> Term:
        return function(other, self)

    return method


@dataclass(frozen=True)
class Term:
    """An expression in names and in numbers; ``const`` is its value when it is a
    plain number (folded at once: ``1 * b`` is ``b``); ``verbatim``: written whole,
    identities kept (``b * 1``), as a forward formula shows its operation."""

    names: str
    numbers: str
    strength: int = _ATOM
    # How tightly the numbers bind: a name standing for -3 is a negation in numbers.
    number_strength: int = _ATOM
    const: float | None = None
    verbatim: bool = False

    @staticmethod
    def named(name: str, value: float, verbatim: bool = False) -> Term:
        """A Value's name standing for its number."""
        text = number(value)
        strength = _NEGATION if text.startswith("-") else _ATOM
        return Term(name, text, _ATOM, strength, verbatim=verbatim)

    @staticmethod
    def of(x: Term | float) -> Term:
        """A plain number as a Term (a Term is returned as it is)."""
        if isinstance(x, Term):
            return x
        x = float(x)
        text = number(x)
        strength = _NEGATION if text.startswith("-") else _ATOM
        return Term(text, text, strength, strength, x)

    # --- arithmetic, as the rules use it -------------------------------------------

    __add__, __radd__ = _add, _reflected(_add)
    __sub__, __rsub__ = _sub, _reflected(_sub)
    __mul__, __rmul__ = _mul, _reflected(_mul)
    __truediv__, __rtruediv__ = _div, _reflected(_div)
    __neg__ = _neg
    __pow__ = _pow


def _written(name: str, notation: str | None):
    """A function of the namespace as a formula writes it: by ``notation`` (one ``{}``
    per argument), else as a call ``name(x, ...)``."""

    def function(*args) -> Term:
        terms = [Term.of(x) for x in args]
        names, numbers = [t.names for t in terms], [t.numbers for t in terms]
        verbatim = _verbatim(*terms)
        if notation is None:
            return Term(
                f"{name}({', '.join(names)})", f"{name}({', '.join(numbers)})", verbatim=verbatim
            )
        return Term(notation.format(*names), notation.format(*numbers), verbatim=verbatim)

    return function


def _leaky_step(x, slope) -> Term:
    """The derivative of leaky_relu, ``(1 if x > 0 else slope)``."""
    x, below = Term.of(x), number(slope)
    return Term(f"(1 if {x.names} > 0 else {below})", f"(1 if {x.numbers} > 0 else {below})")


def _step(x) -> Term:
    """The derivative of relu, ``(0 if x <= 0 else 1)``: written as the rule decides,
    so that a NaN input (derivative 1, as PyTorch) reads true."""
    x = Term.of(x)
    return Term(f"(0 if {x.names} <= 0 else 1)", f"(0 if {x.numbers} <= 0 else 1)")


class TermMath:
    """The op table's namespace on Terms: every function the forwards and rules call.

    Arithmetic is written with operators; any other function of the namespace is
    written as the op of its name says (its ``notation``: ``σ(x)``, ``|x|``), or as a
    call ``exp(x)``: a new primitive needs no line here.
    """

    add = staticmethod(_add)
    sub = staticmethod(_sub)
    mul = staticmethod(_mul)
    div = staticmethod(_div)
    neg = staticmethod(_neg)
    pow = staticmethod(_pow)
    step = staticmethod(_step)
    leaky_step = staticmethod(_leaky_step)

    @staticmethod
    def pow_slope(x, k) -> Term:
        """The power rule k * x ** (k - 1); 0 for k = 0."""
        k = Term.of(k)
        if k.const == 0.0:
            return Term.of(0.0)
        return _mul(k, _pow(x, _sub(k, 1.0)))

    def xlog(self, y, x) -> Term:
        """y * log(x): the derivative of x ** k with respect to k, where y = x ** k."""
        return _mul(y, self.log(x))

    def __getattr__(self, name: str):
        # Called only for names not defined above. Looked up on every use, not kept:
        # the table is read as it is now.
        if name.startswith("_") or not hasattr(FLOATS, name):
            raise AttributeError(f"TermMath has no function {name!r}")
        op = OPS.get(name)
        return _written(name, op.notation if op is not None else None)


TERMS = TermMath()


def forward_formula(op: Op, inputs: list[Term], arg: float | None) -> Term:
    """The formula of one node of ``op``: its forward run on Terms; a user's primitive
    is written as a call of its name, ``softplus(x)``, as a built-in op is."""
    if isinstance(op, Primitive):
        return _written(op.name, op.notation)(*inputs)
    return op.forward(TERMS, *inputs, arg) if op.has_arg else op.forward(TERMS, *inputs)
