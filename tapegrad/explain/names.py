"""Names for a graph's parameters, from a model, a mapping or pairs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..autograd.value import Value


def shown_label(label: object) -> str:
    """A Value's label as drawn: its text, with control characters (which Graphviz and
    a page cannot show) written as escapes, ``\\x1b``."""
    text = str(label)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
