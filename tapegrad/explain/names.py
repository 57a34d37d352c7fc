"""What a learner reads for each op and each input: words, not the table's short names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..autograd.value import Value

# The op table's names in words ("powc" is the table's name for x ** k with a number k).
_WORDS = {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "div": "divide",
    "pow": "power",
    "powc": "power",
    "neg": "negate",
    "exp": "exponential",
    "log": "logarithm",
    "sqrt": "square root",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU",
    "abs": "absolute value",
    "sin": "sine",
    "cos": "cosine",
    "sum": "sum",
    "dot": "weighted sum",
}


def op_words(v: Value) -> str | None:
    """The operation that made ``v`` in words ("multiply", "power"), None for a leaf."""
    name = v.op
    return None if name is None else _WORDS.get(name, name)


def parent_roles(v: Value) -> tuple[str, ...]:
    """What each parent of ``v`` is to its op: ``w0, x0, w1, x1, ..., b`` in the
    order of ``v.parents`` for a weighted sum, ``a, b`` for an op of two Values,
    ``x`` for an op of one, ``x0, x1, ...`` for a sum."""
    parents = v.parents
    if v.op == "dot":
        n = len(parents) // 2
        roles = [f"w{i}" for i in range(n)] + [f"x{i}" for i in range(n)]
        return tuple(roles + ["b"] * (len(parents) - 2 * n))
    if v.op == "sum":
        return tuple(f"x{i}" for i in range(len(parents)))
    if len(parents) == 2:
        return ("a", "b")
    return ("x",) * len(parents)


def parameter_names(
    names: Mapping[str, Value] | Iterable[tuple[str, Value]] | object | None,
) -> dict[int, str]:
    """id(Value) -> name, from a model (anything with ``named_parameters()``), a
    mapping name -> Value, or pairs (name, Value); ``{}`` for None."""
    if names is None:
        return {}
    if hasattr(names, "named_parameters"):
        pairs = names.named_parameters()
    elif isinstance(names, Mapping):
        pairs = names.items()
    else:
        pairs = names
    try:
        found = {}
        for name, value in pairs:
            if not isinstance(value, Value):
                raise TypeError(f"names: {name!r} is a {type(value).__name__}, not a Value")
            found[id(value)] = str(name)
        return found
    except (TypeError, ValueError) as error:
        raise TypeError(
            "names: expected a model with named_parameters(), a mapping name -> Value "
            f"or (name, Value) pairs, got {type(names).__name__}: {error}"
        ) from None
