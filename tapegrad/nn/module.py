"""Module: parameters, train/eval, state dicts and model files, found by attribute.

A Module's parameters are discovered from its attributes, in assignment order: a
``Value``, a list or tuple of Values, another Module, or a list of Modules (nested
lists work too). Attributes whose names start with ``_`` are private and skipped.
Parameter names are the dotted attribute path, list positions included:
``layers.0.neurons.3.w.2`` is weight 2 of neuron 3 of layer 0.

The state dict groups a list of Values into one entry, so its keys are the
"tensors" of the model: ``{"layers.0.neurons.3.w": [..16 floats..],
"layers.0.neurons.3.b": 0.0, ...}``, plus the non-learned state a module registers
with ``register_buffer`` (BatchNorm's running statistics).

Model file (``save``/``load``): UTF-8 JSON, one state entry per line, written to a
temporary file in the same directory and renamed over the target, so a crash never
leaves a half-written model behind (see ``_write_atomically`` for links, permissions
and the leftovers of a killed save)::

    {
      "format": "tapegrad-module",
      "version": 1,
      "module": "MLP",
      "parameters": 337,
      "state": {
        "layers.0.neurons.0.w": [0.83, -1.2],
        "layers.0.neurons.0.b": 0.0,
        ...
      }
    }
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import numbers
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import repeat
from typing import Any, NamedTuple, cast

from ..autograd import Value
from ..autograd.mode import FAST
from ..autograd.tracing import changed, module_called, watching

FORMAT = "tapegrad-module"
FORMAT_VERSION = 1
# The largest model file ``load`` reads: about ten million parameters, more than a
# model of scalar Values can hold in memory. A larger file is refused unread.
MAX_FILE_BYTES = 256 * 2**20

StateEntry = float | list[float]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` found: the module's entries the state lacked
    (``missing_keys``) and the state's entries the module does not have
    (``unexpected_keys``), as PyTorch's ``_IncompatibleKeys``."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class _Buffer:
    """A non-learned state entry: attribute ``name`` of ``module`` (a float or list)."""

    __slots__ = ("module", "name")

    def __init__(self, module: Module, name: str) -> None:
        self.module, self.name = module, name


def _holds_parameters(x: object) -> bool:
    """Whether ``x`` is a Value, a Module, or a list or tuple holding one."""
    if isinstance(x, (Value, Module)):
        return True
    return isinstance(x, (list, tuple)) and any(map(_holds_parameters, x))


def _all_values(seq: list | tuple) -> bool:
    """Whether ``seq`` is a non-empty list of Values (one state entry)."""
    return bool(seq) and all(map(isinstance, seq, repeat(Value)))


class Module:
    """Base class of layers and models: subclasses assign parameters and sub-modules
    as attributes in ``__init__`` and define ``forward``; ``model(x)`` calls it."""

    training: bool = True
    # Whether __repr__ lists the child modules (a Linear summarises its neurons).
    _repr_children: bool = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not FAST.default:  # some thread may be tracing: a compiled function notes us
            module_called(self)
        return self.forward(*args, **kwargs)

    def __setattr__(self, name: str, value: object) -> None:
        # Replacing a parameter or a sub-module (layer.b = Value(1.0)) changes which
        # Values the model reads, and train()/eval() what a module computes: compiled
        # functions traced before, that read this module's Values or called its
        # modules (or, for the training flag, called this one), trace again.
        if watching():
            if name == "training":
                if value != getattr(self, "training", value):
                    changed((self,))
            elif name in self.__dict__ and (
                _holds_parameters(self.__dict__[name]) or _holds_parameters(value)
            ):
                changed([*self.parameters(), *self.modules()])
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """What the module computes; every subclass defines it."""
        raise TypeError(
            f"{type(self).__name__} does not define forward(): a Module subclass computes "
            "its output in forward(self, x)"
        )

    # --- discovery -----------------------------------------------------------------

    def _attributes(self) -> Iterator[tuple[str, object]]:
        for key, value in vars(self).items():
            if not key.startswith("_"):
                yield key, value

    def takes_batch(self) -> bool:
        """Whether ``forward`` takes a mini-batch (a list of samples) instead of one
        sample: BatchNorm1d does, and a Sequential holding one hands it the whole batch."""
        return False

    def named_children(self) -> list[tuple[str, Module]]:
        """The direct sub-modules, with their names (``layers.0`` for a list entry)."""
        out: list[tuple[str, Module]] = []

        def visit(value: object, name: str) -> None:
            if isinstance(value, Module):
                out.append((name, value))
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    visit(v, f"{name}.{i}")

        for key, value in self._attributes():
            visit(value, key)
        return out

    def children(self) -> list[Module]:
        """The direct sub-modules, in the order of ``named_children()``."""
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix: str = "") -> list[tuple[str, Module]]:
        """This module (named ``prefix``) and every module below it, depth first;
        a module reachable twice is listed once."""
        out: list[tuple[str, Module]] = []
        seen: set[int] = set()

        def visit(name: str, module: Module) -> None:
            if id(module) not in seen:
                seen.add(id(module))
                out.append((name, module))
                for key, child in module.named_children():
                    visit(f"{name}.{key}" if name else key, child)

        visit(prefix, self)
        return out

    def modules(self) -> list[Module]:
        """This module and every module below it."""
        return [m for _, m in self.named_modules()]

    def apply(self, fn: Callable[[Module], object]) -> Module:
        """Call ``fn`` on every sub-module, children before their parent (as PyTorch),
        then on this module; returns this module."""
        if not callable(fn):
            raise TypeError(f"apply: fn must be callable, got {type(fn).__name__} {fn!r}")
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- buffers -------------------------------------------------------------------

    def register_buffer(self, name: str, value: StateEntry) -> None:
        """Keep ``value`` (a number or a list of numbers) as attribute ``name``, saved and
        loaded with the parameters but never learned (BatchNorm's running statistics)."""
        if not isinstance(name, str):
            raise TypeError(f"register_buffer: name must be a str, got {type(name).__name__}")
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(
                f"register_buffer: name must be an identifier not starting with '_', got {name!r}"
            )
        buffers = self.__dict__.setdefault("_buffers", [])
        if name not in buffers and (name in self.__dict__ or hasattr(type(self), name)):
            raise ValueError(
                f"register_buffer: {type(self).__name__} already has an attribute {name!r}"
            )
        problem = _size_problem(value, len(value) if isinstance(value, (list, tuple)) else None)
        if problem:
            raise ValueError(f"register_buffer: {name}: {problem}")
        setattr(
            self,
            name,
            [float(x) for x in value] if isinstance(value, (list, tuple)) else float(value),
        )
        if name not in buffers:
            buffers.append(name)

    def named_buffers(self) -> list[tuple[str, StateEntry]]:
        """Every buffer of this module and the modules below it, with its dotted name
        (``norm.running_mean``); a list is the buffer itself, not a copy."""
        return [
            (name, getattr(entry.module, entry.name))
            for name, entry in self._state_entries()
            if isinstance(entry, _Buffer)
        ]

    def buffers(self) -> list[StateEntry]:
        """Every buffer, in the order of ``named_buffers()``."""
        return [value for _, value in self.named_buffers()]

    def _state_entries(self) -> list[tuple[str, Value | list[Value] | _Buffer]]:
        """(name, entry) for every Value, list of Values and buffer, in attribute order."""
        out: list[tuple[str, Value | list[Value] | _Buffer]] = []
        seen: set[int] = set()

        def visit(value: object, name: str) -> None:
            if isinstance(value, Value):
                out.append((name, value))
            elif isinstance(value, Module):
                if id(value) in seen:
                    return
                seen.add(id(value))
                dot = f"{name}." if name else ""
                for key, v in value._attributes():
                    visit(v, dot + key)
                for key in value.__dict__.get("_buffers", ()):
                    out.append((dot + key, _Buffer(value, key)))
            elif isinstance(value, (list, tuple)):
                if _all_values(value):
                    out.append((name, list(value)))
                else:
                    for i, v in enumerate(value):
                        visit(v, f"{name}.{i}")

        visit(self, "")
        return out

    def named_parameters(self) -> list[tuple[str, Value]]:
        """Every parameter once, with its dotted name (``layers.0.neurons.3.w.2``)."""
        out: dict[Value, str] = {}
        for name, entry in self._state_entries():
            if isinstance(entry, Value):
                out.setdefault(entry, name)
            elif isinstance(entry, list):
                for i, p in enumerate(entry):
                    out.setdefault(p, f"{name}.{i}")
        return [(name, p) for p, name in out.items()]

    def parameters(self) -> list[Value]:
        """Every parameter once, in the order of ``named_parameters()``."""
        # The same walk as _state_entries without building names: models call this
        # every step, and a scalar model has thousands of parameters.
        out: list[Value] = []
        seen: set[int] = set()

        def visit(value: object) -> None:
            if isinstance(value, Value):
                out.append(value)
            elif isinstance(value, Module):
                if id(value) not in seen:
                    seen.add(id(value))
                    for key, v in vars(value).items():
                        if key[:1] != "_":
                            visit(v)
            elif isinstance(value, (list, tuple)):
                if _all_values(value):
                    out.extend(value)
                else:
                    for v in value:
                        visit(v)

        visit(self)
        return list(dict.fromkeys(out))  # a Value shared by two modules counts once

    # --- training ------------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: None (PyTorch's default since 2.0; an
        optimizer then skips a parameter the next backward does not reach), or 0.0
        with ``set_to_none=False`` (for the gradients that are set, as PyTorch)."""
        # Written out, not a call of Value.zero_grad per parameter (that takes half as
        # long again).
        if set_to_none:
            for p in self.parameters():
                p.grad = None
        else:
            for p in self.parameters():
                if p.grad is not None:
                    p.grad = 0.0

    def train(self, mode: bool = True) -> Module:
        """Put this module and every module below it in training mode (or eval mode)."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: Dropout passes inputs through, BatchNorm uses running stats."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (False freezes them all); returns
        this module."""
        if not isinstance(requires_grad, bool):
            raise TypeError(f"requires_grad_: expected a bool, got {requires_grad!r}")
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    # --- state ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, StateEntry]:
        """A copy of every parameter and buffer as plain floats, keyed by name."""
        state: dict[str, StateEntry] = {}
        for name, entry in self._state_entries():
            if isinstance(entry, Value):
                state[name] = entry.data
            elif isinstance(entry, list):
                state[name] = [p.data for p in entry]
            else:
                value = getattr(entry.module, entry.name)
                state[name] = list(value) if isinstance(value, (list, tuple)) else value
        return state

    def load_state_dict(
        self, state: Mapping[str, StateEntry], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy ``state`` into this module's parameters and buffers; returns the
        ``(missing_keys, unexpected_keys)`` found, as PyTorch.

        With ``strict`` every name must match; with ``strict=False`` the entries whose
        names match are loaded and the others listed. Every entry loaded must have the
        right size. Otherwise nothing is changed and a ValueError lists all the
        differences.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state).__name__}")
        if not isinstance(strict, bool):
            raise TypeError(f"load_state_dict: strict must be a bool, got {strict!r}")
        entries = self._state_entries()
        names = {name for name, _ in entries}
        problems = []
        missing = [name for name, _ in entries if name not in state]
        unexpected = [name for name in state if name not in names]
        if strict and missing:
            problems.append(f"missing {len(missing)} entries: {_preview(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected {len(unexpected)} entries: {_preview(unexpected)}")
        entries = [(name, entry) for name, entry in entries if name in state]
        for name, entry in entries:
            problem = _size_problem(state[name], _size(entry))
            if problem is None and isinstance(entry, _Buffer):
                problem = entry.module._buffer_problem(entry.name, state[name])
            if problem:
                problems.append(f"{name}: {problem}")
        if problems:
            raise ValueError(
                f"load_state_dict: state does not fit this {type(self).__name__}:\n  "
                + "\n  ".join(problems)
            )
        # Every value now has its entry's size (one number, or a list of them).
        for name, entry in entries:
            value = state[name]
            if isinstance(entry, Value):
                entry.data = float(cast(float, value))
            elif isinstance(entry, list):
                for p, x in zip(entry, cast("Sequence[float]", value)):
                    p.data = float(x)
            elif isinstance(value, (list, tuple)):
                setattr(entry.module, entry.name, [float(x) for x in value])
            else:
                setattr(entry.module, entry.name, float(value))
        return IncompatibleKeys(missing, [str(name) for name in unexpected])

    def save(self, path: str | os.PathLike) -> None:
        """Write the state dict to ``path`` as a JSON model file, atomically."""
        path = os.fspath(path)
        state = self.state_dict()
        for name, value in state.items():
            for x in value if isinstance(value, list) else (value,):
                if not math.isfinite(x):
                    raise ValueError(f"save: {name} holds {x!r}; only finite numbers can be saved")
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "module": type(self).__name__,
            "parameters": len(self.parameters()),
        }
        lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
        lines.append('  "state": {')
        body = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in state.items()]
        lines.append(",\n".join(body))
        lines += ["  }", "}", ""]
        _write_atomically(path, "\n".join(lines))

    def load(self, path: str | os.PathLike) -> Module:
        """Load a model file written by ``save`` into this module; returns the module.

        A file that is truncated, not a tapegrad model file, of another format version,
        or made for a different model is refused with a ValueError saying which.
        """
        path = os.fspath(path)
        document = read_model_file(path)
        if document["module"] != type(self).__name__:
            raise ValueError(f"{path!r} holds a {document['module']}, not a {type(self).__name__}")
        try:
            self.load_state_dict(document["state"])
        except ValueError as error:
            raise ValueError(f"{path!r} does not match this model: {error}") from None
        return self

    def _buffer_problem(self, name: str, value: StateEntry) -> str | None:
        """What makes ``value``, of the right size, unfit for buffer ``name`` (None: nothing).

        A module whose buffers have a domain (a variance is at least 0) says so here, so
        that loading refuses the value instead of every later forward failing.
        """
        return None

    # --- printing ------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The module's settings, shown inside the parentheses of its repr."""
        return ""

    def __repr__(self) -> str:
        count = len(self.parameters())
        inside = [s for s in (self.extra_repr(), f"{count:,} parameters" if count else "") if s]
        head = f"{type(self).__name__}({', '.join(inside)})"
        if not self._repr_children:
            return head
        lines = [head]
        for name, child in self.named_children():
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines)


def _preview(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _size(entry: Value | list[Value] | _Buffer) -> int | None:
    """Number of floats in a state entry, None for a single number."""
    if isinstance(entry, Value):
        return None
    if isinstance(entry, list):
        return len(entry)
    value = getattr(entry.module, entry.name)
    return len(value) if isinstance(value, (list, tuple)) else None


def _is_number(x: object) -> bool:
    """A finite real number that a float can hold (an int of 400 digits is not one)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _size_problem(value: object, size: int | None) -> str | None:
    """What is wrong with ``value`` for an entry of ``size`` floats (None: one number)."""
    if size is None:
        if isinstance(value, (list, tuple)):
            return f"expected one number, got a list of {len(value)}"
        if not _is_number(value):
            return f"expected a finite number, got {value!r}"
        return None
    if not isinstance(value, (list, tuple)):
        return f"expected a list of {size} numbers, got {value!r}"
    if len(value) != size:
        return f"expected {size} numbers, got {len(value)}"
    bad = [i for i, x in enumerate(value) if not _is_number(x)]
    if bad:
        return f"element {bad[0]} is {value[bad[0]]!r}, not a finite number"
    return None


# A save writes "<dir>/.<name>.<pid>.<8 random characters>.tapegrad-save" first (the
# random part is mkstemp's: lower-case letters, digits and "_"): the process id says
# whose it is, so the next save to the same path can remove the leftovers of a killed
# one. Only that exact shape is matched: ".ckpt.json.99999999.<pid>..." is a save of
# "ckpt.json.99999999" by process <pid>, not one of "ckpt.json" by process 99999999.
_TEMP_SUFFIX = ".tapegrad-save"
_TEMP_NAME = r"\.{name}\.([0-9]+)\.[a-z0-9_]{{8}}" + re.escape(_TEMP_SUFFIX)


def _write_atomically(path: str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``.

    A symbolic link is followed (the target is written, the link stays), the file
    keeps the permission bits of the one it replaces (a new file gets what the umask
    gives), and temporary files left by a save that was killed are removed.
    """
    path = os.path.realpath(path)
    directory, name = os.path.split(path)
    _remove_stale_temporaries(directory, name)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Remove temporary files of earlier saves to ``name`` whose process is gone."""
    shape = re.compile(_TEMP_NAME.format(name=re.escape(name)))
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        match = shape.fullmatch(entry)
        if match and not _process_alive(int(match[1])):
            # removed by another save meanwhile, or not ours to remove
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def read_model_file(path: str | os.PathLike) -> dict:
    """The checked contents of a model file: its header fields and ``"state"``.

    Raises ValueError naming the problem: empty, truncated or corrupt JSON, not a
    tapegrad model file, an unsupported format version, or a malformed state.
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    if not raw.strip():
        raise ValueError(f"{path!r} is empty; expected a tapegrad model file")
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path!r} is not a text file; expected a tapegrad model file") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path!r} is not valid JSON (truncated or corrupt?): {error}") from None
    except (RecursionError, ValueError) as error:  # nested too deep; an integer too long
        raise ValueError(
            f"{path!r} is not a tapegrad model file: its JSON cannot be read ({error})"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f'{path!r} is not a tapegrad model file (it lacks "format": "{FORMAT}")')
    version = document.get("version")
    # The integer itself: true and 1.0 equal 1 in Python, but are not a version.
    if type(version) is not int or version != FORMAT_VERSION:
        shown = json.dumps(version)
        shown = shown if len(shown) <= 40 else shown[:40] + "..."
        raise ValueError(
            f"{path!r} has format version {shown}; this tapegrad reads version {FORMAT_VERSION}"
        )
    if not isinstance(document.get("module"), str) or not isinstance(document.get("state"), dict):
        raise ValueError(f'{path!r} lacks the "module" name or the "state" object')
    return document


_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _not_a_file(path: str, mode: int) -> str:
    kind = _FILE_KINDS.get(stat.S_IFMT(mode), "not a file")
    return f"{path!r} is not a regular file ({kind}); expected a tapegrad model file"


def _read_bytes(path: str) -> bytes:
    """The bytes of the regular file ``path``; ValueError for anything else (a device,
    a pipe, a directory) and for more than ``MAX_FILE_BYTES``."""
    # Non-blocking, so that opening a named pipe returns at once instead of waiting
    # for a writer; the kind of file is then checked on the open file itself, which a
    # rename between a check and the open cannot change.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno != errno.ENXIO:  # a missing file, no permission: as open() says
            raise
        # A socket (or a device without a driver) cannot be opened at all.
        raise ValueError(_not_a_file(path, os.stat(path).st_mode)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(_not_a_file(path, info.st_mode))
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(
                f"{path!r} is {info.st_size:,} bytes; a model file has at most "
                f"{MAX_FILE_BYTES:,} (tapegrad.nn.module.MAX_FILE_BYTES)"
            )
        with open(fd, "rb", closefd=False) as f:
            # One byte more than allowed: a file that reports less than it holds (those
            # of /proc report 0) or that grows while it is read is refused all the same.
            raw = f.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(
            f"{path!r} has more than {MAX_FILE_BYTES:,} bytes; a model file has at most "
            f"{MAX_FILE_BYTES:,} (tapegrad.nn.module.MAX_FILE_BYTES)"
        )
    return raw
