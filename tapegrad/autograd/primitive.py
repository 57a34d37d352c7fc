"""User-defined primitives: ``tapegrad.primitive`` makes an entry of the op table.

A primitive is an ``Op`` like the built-in ones: its forward and derivative rule are
written against a namespace ``m`` (see ``mathlib``), so the same two functions run on
floats (eager forward, ``backward()``), on Values (``grad(create_graph=True)``,
``hessian``, ``jvp`` through Values) and on NumPy arrays (``tapegrad.compile``, which
calls ``op.forward`` and ``op.grad`` of every node it meets). The explain page and
``draw_graph`` read its name and symbol from the entry. Nothing is registered
anywhere: the engine finds the op on each node it records.
"""

from __future__ import annotations

import inspect
import keyword
import math
import numbers
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from .mathlib import FLOATS
from .ops import OPS, Op
from .value import Value, _lift, _node, _number, made_fallible

# Where a definition is probed: fractions of the domain, tried in turn until the
# forward is defined at one (a domain may include points where it is not).
_PROBES = (0.5, 0.3, 0.7, 0.1, 0.9, 0.45, 0.55)
_KINK_MARGIN = 1e-3


class Primitive(Op):
    """An op defined with ``tapegrad.primitive``: call it on Values (or numbers) to
    record one node of it."""

    def __repr__(self) -> str:
        return f"Primitive({self.name})"

    def __call__(self, *inputs: Value | float) -> Value:
        """The node of this primitive over ``inputs`` (a plain number is a constant)."""
        if len(inputs) != self.arity:
            raise TypeError(f"{self.name}: takes {_count(self.arity, 'input')}, got {len(inputs)}")
        parents = tuple(x if isinstance(x, Value) else _lift(x, self) for x in inputs)
        numbers_in = [p._data for p in parents]
        try:
            data = self.on_floats(*numbers_in)  # type: ignore[misc]  # set by Op.__post_init__
        except (ArithmeticError, ValueError) as error:
            raise type(error)(f"{_call(self.name, numbers_in)}: {error}") from error
        if data.__class__ is not float:
            data = _result(self.name, numbers_in, data)
        made_fallible()
        return _node(self, data, parents, None)


def primitive(
    name: str,
    forward: Callable[..., Any],
    grad: Callable[..., Any],
    *,
    symbol: str | None = None,
    domain: tuple[float, float] = (-5.0, 5.0),
    avoid: Iterable[float] = (),
) -> Primitive:
    """A new primitive operation, used as a function of Values: ``name(x, ...)``.

    ``forward(m, *inputs)`` computes the result and ``grad(m, g, out, *inputs)`` returns
    a tuple with the gradient reaching each input, given the upstream gradient ``g`` and
    the node's output ``out``, both written with the functions of the namespace ``m``
    (``m.exp``, ``m.log``, ``m.sigmoid``, ... and the operators), as the op table's
    entries are. The rule then runs on floats (``backward``), on Values (derivatives of
    any order) and on arrays (``tapegrad.compile``); explain and draw_graph name it.

    ``symbol`` is what diagrams draw in the op's node (the name by default);
    ``domain`` is where the primitive is defined and smooth and ``avoid`` its kinks:
    ``tapegrad.testing`` draws inputs there. The definition is tried once at a point of
    the domain, so a rule that returns the wrong number of gradients is refused here.
    """
    if not isinstance(name, str):
        raise TypeError(f"primitive: name must be a string, got {type(name).__name__} {name!r}")
    if not name.isidentifier() or keyword.iskeyword(name):
        # Compiled mode names its kernels after the op, in generated Python.
        raise ValueError(f"primitive: name must be a Python identifier, got {name!r}")
    if name in OPS:
        raise ValueError(
            f"primitive: {name!r} is already a built-in op of the table; choose another name"
        )
    for role, function in (("forward", forward), ("grad", grad)):
        if not callable(function):
            raise TypeError(
                f"primitive {name}: {role} must be a function, got "
                f"{type(function).__name__} {function!r}"
            )
    if symbol is not None and not isinstance(symbol, str):
        raise TypeError(
            f"primitive {name}: symbol must be a string, got {type(symbol).__name__} {symbol!r}"
        )
    lo, hi = _domain(name, domain)
    kinks = _kinks(name, avoid)
    arity = _arity(name, forward)
    _check_grad_signature(name, grad, arity)
    op = Primitive(
        name,
        name if symbol is None else symbol,
        arity,
        forward,
        _checked(name, grad),  # the engine's accumulator for its arity is built from it
        domain=(lo, hi),
        avoid=kinks,
        on_floats=partial(forward, FLOATS),
        ordered=arity > 1,
        fallible=True,
    )
    _probe(op, grad)
    return op


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _listed(inputs: Iterable[float]) -> str:
    return ", ".join(map(repr, inputs))


def _call(name: str, inputs: Iterable[float]) -> str:
    return f"{name}({_listed(inputs)})"


def _result(name: str, inputs: list[float], data: object) -> float:
    """The forward's result as a float (a NumPy scalar or an int is accepted)."""
    if isinstance(data, Value) or not isinstance(data, numbers.Real):
        raise TypeError(
            f"{_call(name, inputs)}: forward must return a number on floats, got "
            f"{type(data).__name__} {data!r}"
        )
    return _number(data, name)


def _domain(name: str, domain: object) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in domain)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise TypeError(
            f"primitive {name}: domain must be a pair of numbers (lo, hi), got {domain!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"primitive {name}: domain must be finite with lo < hi, got {domain!r}")
    return lo, hi


def _kinks(name: str, avoid: object) -> tuple[float, ...]:
    if isinstance(avoid, numbers.Real):
        avoid = (avoid,)
    try:
        kinks = tuple(float(x) for x in avoid)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise TypeError(
            f"primitive {name}: avoid must be a sequence of numbers (its kinks), got {avoid!r}"
        ) from None
    return tuple(sorted(kinks))


def _arity(name: str, forward: Callable) -> int:
    """The number of inputs: the forward's positional parameters after ``m``."""
    try:
        parameters = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        raise TypeError(
            f"primitive {name}: cannot read the parameters of forward {forward!r}; "
            "write it as a function forward(m, x, ...)"
        ) from None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        raise TypeError(
            f"primitive {name}: forward must take a fixed number of inputs, "
            "forward(m, x) or forward(m, a, b), not *inputs"
        )
    inputs = [p for p in parameters if p.kind in positional and p.default is p.empty]
    if len(inputs) < 2:
        raise TypeError(
            f"primitive {name}: forward must take the namespace and at least one input, "
            "forward(m, x)"
        )
    return len(inputs) - 1


def _check_grad_signature(name: str, grad: Callable, arity: int) -> None:
    try:
        signature = inspect.signature(grad)
    except (TypeError, ValueError):
        return  # a callable without a readable signature: the probe calls it
    try:
        signature.bind(*range(3 + arity))
    except TypeError:
        inputs = ", ".join(f"x{i}" for i in range(arity))
        raise TypeError(
            f"primitive {name}: grad must take (m, g, out, {inputs}) for a forward of "
            f"{_count(arity, 'input')}, got grad{signature}"
        ) from None


def _gradients(name: str, local: object, n: int) -> tuple:
    """The rule's result, checked: a tuple (or list) of ``n`` gradients."""
    expected = (
        f"primitive {name}: grad must return a tuple of {_count(n, 'gradient')}, one per input"
    )
    if not isinstance(local, (tuple, list)):
        raise TypeError(f"{expected}, got {type(local).__name__} {local!r}; write (g * ...,)")
    if len(local) != n:
        raise ValueError(f"{expected}, got {_count(len(local), 'gradient')}")
    return tuple(local)


def _checked(name: str, rule: Callable) -> Callable[..., tuple]:
    """The user's rule with its result checked, wherever it runs (backward, higher
    order, forward mode, compiled mode): a built-in op's rule is trusted, a user's is
    not, since a rule that returned too few gradients would go unnoticed in a zip."""

    def grad(m: Any, g: Any, out: Any, *inputs: Any) -> tuple:
        return _gradients(name, rule(m, g, out, *inputs), len(inputs))

    return grad


def _probe(op: Primitive, rule: Callable) -> None:
    """Run the forward and the user's ``rule`` once on floats, at a point of the domain
    away from the kinks where both are defined: a rule of the wrong shape fails here."""
    lo, hi = op.domain
    points = [lo + (hi - lo) * t for t in _PROBES]
    points = [x for x in points if all(abs(x - k) > _KINK_MARGIN for k in op.avoid)]
    last = ""  # why the last point tried was skipped
    for i, x in enumerate(points):
        # Distinct inputs, so that a rule swapping its gradients is not hidden by symmetry.
        xs = [points[(i + j) % len(points)] for j in range(op.arity)]
        try:
            out = op.forward(FLOATS, *xs)
        except (ArithmeticError, ValueError) as error:
            last = f"forward at {_listed(xs)}: {error}"
            continue
        except Exception as error:
            raise TypeError(
                f"primitive {op.name}: forward failed on floats at {_listed(xs)}: "
                f"{type(error).__name__}: {error}"
            ) from error
        out = _result(op.name, xs, out)
        try:
            local = rule(FLOATS, 1.0, out, *xs)
        except (ArithmeticError, ValueError) as error:
            last = f"grad at {_listed(xs)}: {error}"
            continue  # the rule is undefined here though the forward is: try elsewhere
        except Exception as error:
            raise TypeError(
                f"primitive {op.name}: grad failed on floats at {_listed(xs)}: "
                f"{type(error).__name__}: {error}"
            ) from error
        for gradient in _gradients(op.name, local, op.arity):
            if isinstance(gradient, Value) or not isinstance(gradient, numbers.Real):
                raise TypeError(
                    f"primitive {op.name}: grad must return numbers on floats, got "
                    f"{type(gradient).__name__} {gradient!r}"
                )
        return
    raise ValueError(
        f"primitive {op.name}: forward or grad is undefined at every point tried in its "
        f"domain {op.domain} (last, {last}); give domain=(lo, hi) where both are defined"
    )
