"""The public face of compiled mode: ``compile`` and ``Compiled``.

A ``Compiled`` runs the stages on its first call (trace -> schedule -> codegen), keeps
the schedule and the program, and then runs the program on every batch: it reads
``p.data`` of every parameter (optimizer updates are seen without tracing again),
runs forward and backward, and adds the gradient of the batch's mean (or sum) of
``fn`` into ``p.grad``, so any optimizer works unchanged. ``compiled.flat()`` moves
the trainable parameters into one NumPy vector instead (``FlatParameters``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..autograd.tracing import CompileError, Watch, watch
from ..autograd.value import Value
from . import runtime
from .batch import Seen, check_labels, read_batch, remember, seen_again
from .codegen import Program, generate
from .flat import Bridge, FlatParameters, data_of
from .runtime import Batch
from .schedule import Schedule, describe, schedule, summary
from .trace import trace

REDUCTIONS = ("mean", "sum")
# Held while a call adds its gradients into the Values' grad: calls from several
# threads (of one compiled function, or of two sharing parameters) take turns, so
# every call's gradient is counted.
_ADDING = threading.Lock()


def compile(
    fn: Callable[..., Value | Sequence[Value]],
    params: Iterable[Value],
    *,
    labels: Mapping[int, Sequence[float]] | None = None,
    reduction: str = "mean",
    sample_is_batch: bool = False,
) -> Compiled:
    """Compile ``fn``, a function of ONE sample, into a function of a batch of samples.

    ``fn`` takes one argument per array passed to the compiled function: a sample of
    shape () arrives as a Value, (n,) as a list of n Values, (n, m) as nested lists.
    It returns a Value (a per-sample loss, which may include parameter-only terms such
    as a weight penalty) or a list of Values. ``compiled(*batch)`` returns

        loss = reduction_i fn(batch[0][i], batch[1][i], ...)   (mean or sum over i)

    and adds d loss / d p into ``p.grad`` of every parameter, as ``loss.backward()``
    would. ``labels`` maps an argument position to the values it can take (class
    indices, -1/+1): that argument reaches ``fn`` as a plain number, and ``fn`` is
    traced once per value (losses of ``nn.functional`` need their targets as numbers).

    The graph is traced at the first call, on that batch's first sample: Python
    control flow on ``.data`` inside ``fn`` is frozen there. Refused with an error
    naming the node: a leaf that requires grad but is not in ``params``, and a random
    ``fn`` (Dropout in training mode), found by tracing twice. Layers that normalise
    over the batch (BatchNorm1d in training) raise while tracing one sample.

    The program reads the Values it was traced with (a frozen parameter's number at
    every call) and replays the modules as they were. A parameter frozen or unfrozen
    later, a module switched between ``train()`` and ``eval()``, or a Value or layer
    replaced on a Module (``layer.b = Value(1.0)``) makes the next call of the
    compiled functions that read it trace again; tracing then refuses a new Value that
    requires grad but is not in ``params`` (compile again with the model's new
    parameters). An item replaced inside a list (``neuron.w[0] = Value(1.0)``) is not
    seen: compile again after one. Calls from several threads add up.
    Results equal eager mode's to about 1e-12, not bit for bit: a dense layer's sum
    is a matrix product, which adds in another order. Both modes take relu'(0) = 0
    (PyTorch's convention) at a kink, but a pre-activation that is exactly 0 in one
    mode may be 1e-17 in the other, and then the two take different sides of it.
    A domain error (log of 0, the derivative of sqrt at 0) raises the error eager
    mode raises, naming the op, the input and the sample.

    ``sample_is_batch=True`` says that one "sample" of ``fn`` is a whole mini-batch
    (each call then gets a batch of mini-batches): layers that normalise over the
    batch may be traced. Their side effects happen once, at tracing (as in one eager
    call on the first mini-batch, whatever the number of labels): BatchNorm1d's
    running statistics are not updated by the calls.
    """
    return Compiled(fn, params, labels=labels, reduction=reduction, sample_is_batch=sample_is_batch)


class Compiled:
    """A per-sample function traced once and run over batches; see ``compile``."""

    def __init__(
        self,
        fn: Callable[..., Value | Sequence[Value]],
        params: Iterable[Value],
        *,
        labels: Mapping[int, Sequence[float]] | None = None,
        reduction: str = "mean",
        sample_is_batch: bool = False,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"compile: fn must be callable, got {type(fn).__name__} {fn!r}")
        if isinstance(params, Value):
            raise TypeError("compile: params must be an iterable of Values; wrap one in a list")
        self.params = list(dict.fromkeys(params))
        for p in self.params:
            if not isinstance(p, Value):
                raise TypeError(f"compile: params must be Values, got {type(p).__name__} {p!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"compile: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if not isinstance(sample_is_batch, bool):
            raise TypeError(
                f"compile: sample_is_batch must be True or False, got {sample_is_batch!r}"
            )
        self.fn, self.reduction, self.sample_is_batch = fn, reduction, sample_is_batch
        self.name = getattr(fn, "__name__", type(fn).__name__)
        self._labels = check_labels(labels)
        self.labels = self._labels.values
        self._traced: _Traced | None = None
        self._tracing = threading.RLock()  # one thread traces; the others wait for it
        self._flat: FlatParameters | None = None
        self._bridge: tuple[_Traced, FlatParameters, Bridge] | None = None
        self._kept: _Kept | None = None  # the last batch, checked, and its seed

    # --- public calls ----------------------------------------------------------------

    def __call__(self, *batch: Any) -> float:
        """Forward and backward over ``batch``: the reduced loss; d loss/d p added to p.grad
        (to ``flat.grad`` while a ``flat()`` view is active)."""
        traced, checked = self._start(batch, training=True)
        flat = self._active_flat()
        loss, grads = runtime.forward_backward(
            traced.program,
            self._parameter_column(traced, flat),
            checked,
            self.reduction,
            self._seed(traced, checked),
        )
        if flat is None:
            _add_grads(self.name, traced.plan, grads)
        else:
            flat.accumulate(self._flat_bridge(traced, flat).gradient(grads))
        return loss

    def forward(self, *batch: Any) -> np.ndarray:
        """fn on every sample, no gradients: shape (batch,), or (batch, k) for k outputs."""
        traced, checked = self._start(batch, training=False)
        column = self._parameter_column(traced, self._active_flat())
        return runtime.outputs(traced.program, column, checked)

    def flat(self) -> FlatParameters:
        """The trainable parameters as one float64 vector: the active view, made on
        first use from the Values' current numbers. See ``FlatParameters``."""
        flat = self._active_flat()
        if flat is None:
            with self._tracing:  # two threads asking at once get the same view
                flat = self._active_flat()
                if flat is None:
                    flat = self._flat = FlatParameters(self.params, self.name)
        return flat

    def value_and_grad(self, flat_params: Sequence[float], *batch: Any) -> tuple[float, np.ndarray]:
        """The reduced loss and its gradient at ``flat_params`` (one number per parameter,
        in ``params`` order), without reading or writing any Value: a pure function
        for array optimizers (and scipy.optimize)."""
        theta = np.asarray(flat_params, dtype=np.float64)
        if theta.shape != (len(self.params),):
            raise ValueError(
                f"value_and_grad: expected {len(self.params)} parameters, got shape {theta.shape}"
            )
        traced, checked = self._start(batch, training=True)
        # The program's parameter slot is in params order: theta is that slot.
        column = theta.reshape(-1, 1)
        loss, grads = runtime.forward_backward(
            traced.program, column, checked, self.reduction, self._seed(traced, checked)
        )
        return loss, grads[:, 0] * traced.plan.trainable

    def describe(self) -> str:
        """The lowered program, one line per group: level, op, nodes, batch or once."""
        if self._traced is None:
            return f"compiled {self.name}: not traced yet (it is traced at the first call)"
        return describe(self._traced.plan, self.name)

    @property
    def source(self) -> str | None:
        """The generated Python of forward and backward (None until the first call)."""
        return None if self._traced is None else self._traced.program.source

    def __repr__(self) -> str:
        if self._traced is None:
            return f"Compiled({self.name}, not traced yet)"
        return f"Compiled({self.name}, {summary(self._traced.plan)})"

    # --- the stages --------------------------------------------------------------------

    def _start(self, batch: tuple, training: bool) -> tuple[_Traced, Batch]:
        traced = self._traced  # read once: another thread may trace meanwhile
        kept = self._kept
        if (
            kept is not None
            and kept.traced is traced
            and seen_again(kept.seen, batch)
            and _current(kept.traced)
        ):
            checked = kept.seen.batch  # the same arrays as the last call: checked then
        else:
            shapes = None if traced is None else traced.plan.graph.shapes
            checked, first = read_batch(self.name, self._labels, batch, shapes)
            if traced is None or not _current(traced):
                traced = self._trace(traced, first)
            seen = remember(self._labels, batch, checked)
            self._kept = None if seen is None else _Kept(seen, traced)
        program = traced.program
        if training and program.outputs_per_sample != 1:
            raise TypeError(
                f"compiled {self.name}: fn returns {program.outputs_per_sample} values per "
                "sample; training needs one (a loss). forward() gives every output."
            )
        return traced, checked

    def _trace(self, seen: _Traced | None, first: list) -> _Traced:
        """Trace, schedule and generate (again, when ``seen`` is out of date)."""
        with self._tracing:
            traced = self._traced
            if traced is not None and traced is not seen and _current(traced):
                return traced  # another thread traced it meanwhile
            flat = self._active_flat()
            if flat is not None and traced is not None:
                self._check_view(flat, traced)
            graph = trace(self.fn, self.name, self.params, first, self.labels, self.sample_is_batch)
            plan = schedule(graph)
            program = generate(plan, self.name)
            # param i is node i; a parameter frozen now was traced as a constant
            frozen = tuple(p for p, node in zip(self.params, graph.nodes) if not node.grad)
            traced = self._traced = _Traced(
                plan, program, frozen, watch([*self.params, *graph.modules])
            )
            return traced

    def _check_view(self, flat: FlatParameters, traced: _Traced) -> None:
        """Refuse to trace again while the ``flat()`` view holds other parameters than
        the trainable ones: its vector and the new program would disagree on them."""
        p = next((p for p in traced.frozen if p.requires_grad), None)
        if p is not None:
            raise CompileError(
                f"compiled {self.name}: parameter {p!r} was frozen when {self.name} was "
                "traced and requires grad now, so the program treats it as a constant: "
                "close() the flat() view, then call again (the function is traced again)"
            )
        p = next((p for p in flat.params if not p.requires_grad), None)
        if p is not None:
            raise CompileError(
                f"compiled {self.name}: parameter {p!r} was frozen while the flat() view "
                "was active, which holds it as trainable (an optimizer on the view would "
                "keep training it): close() the view (the parameter stays frozen), then "
                "call again (the function is traced again)"
            )

    def _seed(self, traced: _Traced, checked: Batch) -> runtime.Seed:
        """The seed of backward for this batch, kept with the batch for the next calls."""
        kept = self._kept
        if kept is None or kept.traced is not traced or kept.seen.batch is not checked:
            return runtime.seed(traced.program, checked, self.reduction)
        if kept.seed is None:
            kept.seed = runtime.seed(traced.program, checked, self.reduction)
        return kept.seed

    def _active_flat(self) -> FlatParameters | None:
        """The ``flat()`` view while it is active (None once it was closed)."""
        flat = self._flat
        if flat is not None and not flat.active:
            flat = self._flat = None
        return flat

    def _flat_bridge(self, traced: _Traced, flat: FlatParameters) -> Bridge:
        bridged = self._bridge  # made once per program and view
        if bridged is None or bridged[0] is not traced or bridged[1] is not flat:
            bridged = self._bridge = (traced, flat, Bridge(traced.plan, flat.params))
        return bridged[2]

    def _parameter_column(self, traced: _Traced, flat: FlatParameters | None) -> np.ndarray:
        """The parameters' numbers as the program's (rows, 1) slot: from the active
        ``flat()`` view, else from the Values."""
        if flat is not None:
            return self._flat_bridge(traced, flat).params(flat.data)
        return data_of(traced.plan.layout).reshape(-1, 1)


class _Traced(NamedTuple):
    """What one tracing made: the schedule and program, the parameters traced as
    constants (frozen then), and the watch of the Values and modules fn read."""

    plan: Schedule
    program: Program
    frozen: tuple[Value, ...]
    watch: Watch


class _Kept:
    """The last call's batch (see ``batch.Seen``), the program it was checked for, and
    the seed of backward (made at the first training call on it)."""

    __slots__ = ("seed", "seen", "traced")

    def __init__(self, seen: Seen, traced: _Traced) -> None:
        self.seen, self.traced = seen, traced
        self.seed: runtime.Seed | None = None


def _current(traced: _Traced) -> bool:
    """Whether the program still replays fn: nothing it watches changed, and every
    parameter frozen at tracing still is."""
    return not traced.watch.stale and not (
        traced.frozen and any(p.requires_grad for p in traced.frozen)
    )


def _add_grads(name: str, plan: Schedule, grads: np.ndarray) -> None:
    """p.grad += gradient for every trainable parameter (p.grad = gradient for one
    whose gradient is None, as backward does): one tight loop, the cheapest way to
    touch thousands of Values (use ``flat()`` to touch none). A parameter frozen
    since tracing is skipped; a gradient that is not a number is refused."""
    pairs = zip(plan.trainable_params, grads[plan.trainable_rows, 0].tolist())
    with _ADDING:
        for p, g in pairs:
            old = p.grad
            if old is None:
                if p.requires_grad:  # else frozen since tracing: no gradient
                    p.grad = g
                continue
            try:
                p.grad = old + g
            except TypeError:
                label = "" if p.label is None else f" ({p.label})"
                raise TypeError(
                    f"compiled {name}: cannot add a gradient into the parameter of data "
                    f"{p.data!r}{label}: its grad is {type(p.grad).__name__} {p.grad!r}, "
                    "not a number"
                ) from None
