"""Containers of modules: ``Sequential`` (modules called one after the other) and
``ModuleList`` (a list of modules, for a ``forward`` of one's own).

Both keep their modules as attributes named by their keys (``"0"``, ``"1"``, ... or the
names of the dict a Sequential was made from), so parameter and state-dict names are
PyTorch's: ``0.neurons.0.w``, ``1.running_mean``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

from ..autograd.mode import FAST
from ..autograd.tracing import changed, module_called, watching
from .module import Module


class _Modules(Module):
    """What Sequential and ModuleList share: indexing, length, iteration, append."""

    def _named(self) -> list[tuple[str, Module]]:
        if not FAST.default:  # a compiled function reading the container watches it
            module_called(self)
        return [(k, v) for k, v in vars(self).items() if k[:1] != "_" and isinstance(v, Module)]

    def _add(self, where: str, key: object, module: object) -> None:
        """Add ``module`` under the name ``key`` (checked first)."""
        kind = type(self).__name__
        if not isinstance(module, Module):
            raise TypeError(
                f"{kind}.{where}: expected a Module, got {type(module).__name__} {module!r}"
            )
        if not isinstance(key, str):
            raise TypeError(f"{kind}.{where}: a module's name must be a str, got {key!r}")
        if not key or "." in key or key.startswith("_"):
            raise ValueError(
                f"{kind}.{where}: a module's name must be non-empty, without '.', and not "
                f"start with '_', got {key!r}"
            )
        if key in self.__dict__ or hasattr(type(self), key):
            raise ValueError(f"{kind}.{where}: the name {key!r} is taken")
        setattr(self, key, module)
        if watching():  # a compiled function that called this container traces again
            changed((self,))

    def _position(self, where: str, index: object) -> int:
        """``index`` as a position in 0..len-1 (a negative one counts from the end)."""
        kind = type(self).__name__
        if isinstance(index, bool):
            raise TypeError(f"{kind}.{where}: index must be an int, got {index!r}")
        try:
            i = operator.index(index)  # type: ignore[arg-type]  # checked here
        except TypeError:
            raise TypeError(
                f"{kind}.{where}: index must be an int or a slice, got {type(index).__name__} "
                f"{index!r}"
            ) from None
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{kind}.{where}: index {i} is out of range for {n} modules")
        return i % n

    def __len__(self) -> int:
        return len(self._named())

    def __iter__(self) -> Iterator[Module]:
        return iter([m for _, m in self._named()])

    def __setitem__(self, index: int, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(
                f"{type(self).__name__}[{index!r}] = ...: expected a Module, got "
                f"{type(module).__name__} {module!r}"
            )
        key = self._named()[self._position("__setitem__", index)][0]
        setattr(self, key, module)  # Module.__setattr__ tells compiled functions

    def append(self, module: Module) -> _Modules:
        """Add ``module`` at the end (named by its position); returns this container."""
        self._add("append", str(len(self)), module)
        return self


class Sequential(_Modules):
    """Modules called one after the other, as torch.nn.Sequential: ``Sequential(a, b,
    c)(x)`` is ``c(b(a(x)))``. Built from modules (named ``"0"``, ``"1"``, ...) or from
    an (ordered) dict of names to modules.

    ``seq[i]`` is a module (``seq[-1]`` the last), ``seq[i:j]`` a Sequential of the
    same modules under the same names; ``len``, iteration and ``append`` as a list.

    A Sequential that holds a module taking a mini-batch (BatchNorm1d) takes a
    mini-batch too: it hands the batch to such modules and each sample to the others.
    Otherwise it takes one sample, as a layer.
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for key, module in modules[0].items():
                self._add("__init__", key, module)
        else:
            for i, item in enumerate(modules):
                self._add("__init__", str(i), item)

    @overload
    def __getitem__(self, index: int) -> Module: ...
    @overload
    def __getitem__(self, index: slice) -> Sequential: ...
    def __getitem__(self, index: int | slice) -> Module | Sequential:
        named = self._named()
        if isinstance(index, slice):
            return Sequential(dict(named[index]))
        return named[self._position("__getitem__", index)][1]

    def takes_batch(self) -> bool:
        """Whether one of its modules takes a mini-batch (then the Sequential does)."""
        return any(m.takes_batch() for m in self)

    def forward(self, x: Any) -> Any:
        modules = list(self)
        if not any(m.takes_batch() for m in modules):
            for module in modules:
                x = module(x)
            return x
        if not isinstance(x, (list, tuple)) or not x:
            raise ValueError(
                "Sequential: it holds a module that takes a mini-batch, so it takes one too "
                f"(a non-empty list of samples), got {x!r}"
            )
        for module in modules:
            x = module(x) if module.takes_batch() else [module(sample) for sample in x]
        return x


class ModuleList(_Modules):
    """A list of modules, as torch.nn.ModuleList: their parameters are the list's, named
    ``"0"``, ``"1"``, ...; ``forward`` of the module holding it says how they are used.

    Indexing (negative too; a slice gives a ModuleList), ``len``, iteration,
    ``append``, ``extend`` and ``insert`` as a list. It is not callable.
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        if modules is not None:
            self.extend(modules)

    @overload
    def __getitem__(self, index: int) -> Module: ...
    @overload
    def __getitem__(self, index: slice) -> ModuleList: ...
    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        named = self._named()
        if isinstance(index, slice):
            return ModuleList(m for _, m in named[index])
        return named[self._position("__getitem__", index)][1]

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules``; returns this list."""
        if isinstance(modules, Module) or not isinstance(modules, Iterable):
            raise TypeError(
                f"ModuleList.extend: expected an iterable of Modules, got "
                f"{type(modules).__name__} {modules!r}"
            )
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index``, as ``list.insert``; the modules
        after it are renumbered."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"ModuleList.insert: index must be an int, got {index!r}")
        if not isinstance(module, Module):
            raise TypeError(
                f"ModuleList.insert: expected a Module, got {type(module).__name__} {module!r}"
            )
        modules = [m for _, m in self._named()]
        modules.insert(index, module)
        for key in [str(i) for i in range(len(modules) - 1)]:
            del self.__dict__[key]
        for i, m in enumerate(modules):
            setattr(self, str(i), m)
        if watching():
            changed((self,))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """A ModuleList is not called: a module's own ``forward`` iterates over it."""
        raise TypeError(
            "ModuleList is not callable: iterate over it (or index it) in the forward of "
            "the module that holds it"
        )
