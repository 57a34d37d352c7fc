"""Layers built from Values: Neuron, Linear (Layer), MLP, Dropout, BatchNorm1d, LayerNorm,
GroupNorm.

Calling convention: a model takes ONE sample, a list of Values or numbers, and
returns a list of Values; a layer always returns a list, even of one element.
BatchNorm1d is the exception, because it normalises across samples: it takes a
mini-batch (a list of samples, each a list) and returns a list of samples.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import ClassVar, cast

import numpy as np

from ..autograd import Value
from ..autograd.tracing import refuse_tracing, tracing_again
from . import functional as F
from .init import Initializer, _positive, make_rng
from .init import get as get_init
from .module import Module, StateEntry

Activation = str | Callable[[Value], Value]
Sample = Sequence[Value | float]


# A layer of scalar Values wider than this would not fit in memory.
MAX_WIDTH = 1_000_000


def _count(name: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")
    count = int(n)  # exact for an Integral
    if count > MAX_WIDTH:
        raise ValueError(f"{name} must be at most {MAX_WIDTH:,}, got {n!r}")
    return count


def _activation(spec: Activation) -> tuple[str, Callable[[Value], Value] | None]:
    """(name, function) for an activation given by name or as a function; None = linear."""
    if callable(spec):
        return getattr(spec, "__name__", "custom"), spec
    fn = F.activation(spec)
    return spec, None if fn is F.linear else fn


def _input(where: Callable[[], str], i: int, x: object, what: str = "input") -> Value:
    """Input ``i`` of a layer as a Value (a number becomes a constant); ``where()``
    names the layer in an error, ``what`` the input."""
    if isinstance(x, Value):
        return x
    if not isinstance(x, numbers.Real):
        raise TypeError(
            f"{where()}: {what} {i} must be a real number or a Value, got {type(x).__name__} {x!r}"
        )
    try:
        return Value(x, requires_grad=False)  # type: ignore[arg-type]  # it takes any Real
    except OverflowError:
        raise OverflowError(f"{where()}: {what} {i} ({x!r}) is too large for a float") from None


def _probability(name: str, p: object) -> float:
    # typeshed's numbers.Real has < and <= but not their mirrors > and >=.
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:  # type: ignore[operator]
        raise ValueError(f"{name} must be a number in [0, 1], got {p!r}")
    return float(p)


class Neuron(Module):
    """One unit: activation(w . x + b), recorded as two nodes whatever the number of
    inputs: one ``Value.dot(w, x, b)`` (the affine map, bias included) and the
    activation (none for "linear"). Returns one Value.

    Weights come from ``init`` (a name or function of :mod:`nn.init`; ``"auto"`` is
    He for ReLU-family activations, LeCun's 1/fan_in otherwise), the bias starts at 0.
    ``fan_out`` is the width of the layer the neuron belongs to (Glorot's fan-average
    schemes use it).
    """

    # Whether some subclass defines its own forward. While none does, Linear builds
    # every neuron's nodes at once without looking at their classes: asking each neuron
    # for its forward cost 14% of an eager training step.
    _forward_overridden: ClassVar[bool] = False

    def __init__(
        self,
        nin: int,
        activation: Activation = "relu",
        *,
        init: str | Initializer = "auto",
        bias: bool = True,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
        fan_out: int = 1,
    ) -> None:
        self.nin = _count("Neuron: nin", nin)
        self.activation, self._act = _activation(activation)
        weights = get_init(init, self.activation)(nin, fan_out, nin, make_rng(rng, seed))
        self.w = [Value(x) for x in weights]
        self.b = Value(0.0) if bias else None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:  # Linear then asks each neuron for its forward
            Neuron._forward_overridden = True

    def forward(self, x: Sample) -> Value:
        out = Value.dot(self.w, x, self.b)
        return out if self._act is None else self._act(out)

    @staticmethod
    def forward_all(neurons: Sequence[Neuron], x: Sample) -> list[Value]:
        """The outputs of ``neurons`` (whose forward is this class's) on the same
        inputs ``x``: the nodes each one's ``forward`` builds, made for all at once
        with the inputs read once (``Value.dots``), as Linear does."""
        outs = Value.dots([n.w for n in neurons], x, [n.b for n in neurons])
        return [v if n._act is None else n._act(v) for n, v in zip(neurons, outs)]

    def extra_repr(self) -> str:
        return f"{self.nin} inputs, {self.activation}"


class Linear(Module):
    """A dense layer of ``nout`` neurons over the same ``nin`` inputs:
    y_j = activation(w_j . x + b_j), neuron j's ``forward`` (a Neuron subclass put in
    ``neurons`` computes its way). Returns a list of ``nout`` Values.

    ``activation`` defaults to "linear" (none), as torch.nn.Linear.
    """

    _repr_children = False

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: Activation = "linear",
        *,
        init: str | Initializer = "auto",
        bias: bool = True,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        self.nin = _count("Linear: nin", nin)
        self.nout = _count("Linear: nout", nout)
        rng = make_rng(rng, seed)
        self.neurons = [
            Neuron(nin, activation, init=init, bias=bias, rng=rng, fan_out=nout)
            for _ in range(nout)
        ]

    def forward(self, x: Sample) -> list[Value]:
        if x.__class__ is not list and (isinstance(x, (str, bytes)) or not isinstance(x, Sequence)):
            raise TypeError(
                f"{self._where()}: expected one sample, a list of {self.nin} "
                f"numbers or Values, got {type(x).__name__} {x!r}"
            )
        if len(x) != self.nin:
            raise ValueError(f"{self._where()}: got {len(x)} inputs")
        if x[0].__class__ is not Value:  # raw numbers: make them constants once, not per neuron
            x = [_input(self._where, i, v) for i, v in enumerate(x)]
        neurons = self.neurons
        if Neuron._forward_overridden and any(
            n.__class__.forward is not Neuron.forward for n in neurons
        ):
            return [n(x) for n in neurons]  # a neuron of its own kind computes its way
        return Neuron.forward_all(neurons, x)

    def _where(self) -> str:
        """How errors name this layer (built only when one is raised)."""
        return f"Linear({self.nin} -> {self.nout})"

    def extra_repr(self) -> str:
        return f"{self.nin} -> {self.nout}, {self.neurons[0].activation}"


Layer = Linear


class MLP(Module):
    """A multi-layer perceptron: Linear layers of the given ``sizes``, ``activation``
    after every hidden layer and ``output_activation`` after the last.

    ``MLP(784, [16, 16, 10])`` has 784*16 + 16*16 + 16*10 = 12,960 weights and
    16 + 16 + 10 = 42 biases: 13,002 parameters (article 002).
    """

    def __init__(
        self,
        nin: int,
        sizes: Sequence[int],
        activation: Activation = "relu",
        output_activation: Activation = "linear",
        *,
        init: str | Initializer = "auto",
        bias: bool = True,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(sizes, (int, str, bytes)) or not isinstance(sizes, Sequence) or not sizes:
            raise ValueError(f"MLP: sizes must be a non-empty list of layer widths, got {sizes!r}")
        _activation(activation)  # checked even when there is no hidden layer
        rng = make_rng(rng, seed)
        dims = [_count("MLP: nin", nin)] + [_count("MLP: layer size", n) for n in sizes]
        last = len(sizes) - 1
        self.layers = [
            Linear(
                dims[i],
                dims[i + 1],
                activation if i < last else output_activation,
                init=init,
                bias=bias,
                rng=rng,
            )
            for i in range(len(sizes))
        ]

    def forward(self, x: Sample) -> list[Value]:
        for layer in self.layers:
            x = layer.forward(x)
        return cast("list[Value]", x)  # the output of the last layer (there is one)

    def extra_repr(self) -> str:
        return f"{self.layers[0].nin} -> {[layer.nout for layer in self.layers]}"


class Dropout(Module):
    """Inverted dropout: in training each input is zeroed with probability ``p`` and
    the survivors are scaled by 1/(1-p), so the expected output equals the input; in
    eval mode the input passes through unchanged.

    Article 001 describes the other form: drop in training without scaling, then
    multiply every output by the keep ratio (1-p) at test time. Both give layers
    after the dropout the same expected input; scaling during training keeps the
    test-time network untouched. Masks come from ``rng``/``seed`` only.
    """

    def __init__(
        self,
        p: float = 0.5,
        *,
        rng: np.random.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        self.p = _probability("Dropout: p", p)
        self._rng = make_rng(rng, seed)

    def forward(self, x: Sample) -> list[Value | float]:
        if not self.training or self.p == 0.0:
            return list(x)
        refuse_tracing(
            "Dropout in training mode draws a new random mask for every sample and "
            "step, which a compiled graph cannot replay: call eval() on it before "
            "compiling, or train this model in eager mode"
        )
        # Checked before the mask is drawn: a refused input leaves the generator as it was.
        for i, v in enumerate(x):
            if not isinstance(v, (Value, numbers.Real)):
                raise TypeError(
                    f"Dropout: input {i} must be a real number or a Value, got "
                    f"{type(v).__name__} {v!r}"
                )
        keep = (self._rng.random(len(x)) >= self.p).tolist()
        scale = 1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0
        return [v * scale if k else Value(0.0, requires_grad=False) for v, k in zip(x, keep)]

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _Elementwise(Module):
    """An activation of ``nn.functional`` as a module: applied to each input of one
    sample, no parameters."""

    _name: ClassVar[str]

    def forward(self, x: Sample) -> list[Value]:
        name = type(self).__name__
        if isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
            raise TypeError(f"{name}: expected one sample, a list of numbers or Values, got {x!r}")
        fn = F.ACTIVATIONS[self._name]
        return [fn(_input(lambda: name, i, v)) for i, v in enumerate(x)]


class ReLU(_Elementwise):
    """max(0, x) of each input, as torch.nn.ReLU (the activation ``"relu"`` as a layer)."""

    _name = "relu"


class Tanh(_Elementwise):
    """tanh(x) of each input, as torch.nn.Tanh."""

    _name = "tanh"


class Sigmoid(_Elementwise):
    """1 / (1 + e^-x) of each input, as torch.nn.Sigmoid."""

    _name = "sigmoid"


def _check_features(name: str, sample: object, n: int, index: int | None = None) -> None:
    where = "" if index is None else f" sample {index}"
    if not isinstance(sample, (list, tuple)):
        raise TypeError(f"{name}:{where} expected a list of {n} values, got {sample!r}")
    if len(sample) != n:
        raise ValueError(f"{name}:{where} expected {n} features, got {len(sample)}")


def _features(name: str, index: int, sample: Sample) -> list[Value]:
    """The features of sample ``index`` as Values (numbers become constants)."""

    def where() -> str:
        return f"{name}: sample {index}"

    return [_input(where, j, x, "feature") for j, x in enumerate(sample)]


class BatchNorm1d(Module):
    """Batch normalisation (article 001, 6.3) of each feature over a mini-batch:

    y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta

    Call it with a BATCH (a list of samples, each a list of ``num_features`` values)
    and it returns a batch. In training, mean_B and the biased variance var_B come
    from the batch (at least 2 samples), and the running statistics are updated as
    in PyTorch: running = (1 - momentum) * running + momentum * batch statistic, with
    the unbiased variance. In eval mode the running statistics are used instead, so a
    batch of one works. ``eps`` is PyTorch's default 1e-5 (article 001 suggests ~1e-7).
    gamma and beta are learned when ``affine``.

    ``running_mean`` and ``running_var`` are registered buffers, saved with the
    parameters. ``num_batches_tracked`` counts the training batches, as PyTorch's
    (it is exchanged with PyTorch's state dicts, not kept in tapegrad's: with a
    momentum set it changes nothing computed).
    """

    running_mean: list[float]
    running_var: list[float]

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ) -> None:
        self.num_features = _count("BatchNorm1d: num_features", num_features)
        self.eps = _positive("BatchNorm1d: eps", eps)
        self.momentum = _probability("BatchNorm1d: momentum", momentum)
        self.gamma = [Value(1.0) for _ in range(num_features)] if affine else None
        self.beta = [Value(0.0) for _ in range(num_features)] if affine else None
        self.register_buffer("running_mean", [0.0] * num_features)
        self.register_buffer("running_var", [1.0] * num_features)
        self.num_batches_tracked = 0

    def takes_batch(self) -> bool:
        """True: BatchNorm1d normalises over a mini-batch."""
        return True

    def forward(self, batch: Sequence[Sample]) -> list[list[Value]]:
        name, n = "BatchNorm1d", self.num_features
        if not isinstance(batch, (list, tuple)) or not batch:
            raise ValueError(f"{name}: expected a non-empty list of samples, got {batch!r}")
        for i, sample in enumerate(batch):
            _check_features(name, sample, n, i)
        # Every value is checked before anything is computed or a statistic updated.
        batch = [_features(name, i, sample) for i, sample in enumerate(batch)]
        m = len(batch)
        if self.training:
            refuse_tracing(
                "BatchNorm1d in training mode normalises over the mini-batch, which a "
                "per-sample compiled graph cannot express: call eval() on it before "
                "compiling (it then uses its running statistics), compile a function of "
                "a whole mini-batch (compile(..., sample_is_batch=True)), or train in "
                "eager mode",
                couples_samples=True,
            )
        if self.training and m < 2:
            raise ValueError(
                f"{name}: training needs a batch of at least 2 samples to compute a "
                f"variance, got {m} (use eval() to normalise single samples)"
            )
        columns = []
        statistics: list[tuple[float, float]] = []  # the batch's mean and variance
        mean: Value | float  # the batch's in training, the running one in eval
        inv_std: Value | float
        for j, column in enumerate(zip(*batch)):
            if self.training:
                mean = Value.sum(column) / m
                centered = [x - mean for x in column]
                var = Value.sum([c * c for c in centered]) / m
                inv_std = (var + self.eps) ** -0.5
                statistics.append((mean.data, var.data))
            else:
                mean = self.running_mean[j]
                # A number minus a number is a number: lifted first, it gives a Value (a
                # constant), as training mode and LayerNorm do.
                centered = [
                    (x if isinstance(x, Value) else Value(x, requires_grad=False)) - mean
                    for x in column
                ]
                inv_std = 1.0 / math.sqrt(self.running_var[j] + self.eps)
            scale = inv_std if self.gamma is None else inv_std * self.gamma[j]
            ys = [c * scale for c in centered]
            if self.beta is not None:
                ys = [y + self.beta[j] for y in ys]
            columns.append(ys)
        # Only once every feature is computed: an error leaves the statistics unchanged.
        # Compile traces forward on one batch several times: it updates them once.
        mom = self.momentum
        if statistics and not tracing_again():
            self.num_batches_tracked += 1
            means, variances = self.running_mean, self.running_var
            for j, (batch_mean, batch_var) in enumerate(statistics):
                means[j] = (1 - mom) * means[j] + mom * batch_mean
                variances[j] = (1 - mom) * variances[j] + mom * batch_var * m / (m - 1)
        return [list(row) for row in zip(*columns)]

    def _buffer_problem(self, name: str, value: StateEntry) -> str | None:
        if name == "running_var" and isinstance(value, (list, tuple)):
            negative = [i for i, x in enumerate(value) if x < 0]
            if negative:
                i = negative[0]
                return f"element {i} is {value[i]!r}; a variance cannot be negative"
        return None

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


BatchNorm = BatchNorm1d


class LayerNorm(Module):
    """Layer normalisation of one sample over its features (article 002):

    y_i = gamma_i * (x_i - mean(x)) / sqrt(var(x) + eps) + beta_i, var biased,
    as torch.nn.LayerNorm over the last dimension. Same in training and eval.
    """

    def __init__(
        self, num_features: int, eps: float = 1e-5, elementwise_affine: bool = True
    ) -> None:
        self.num_features = _count("LayerNorm: num_features", num_features)
        self.eps = _positive("LayerNorm: eps", eps)
        self.gamma = [Value(1.0) for _ in range(num_features)] if elementwise_affine else None
        self.beta = [Value(0.0) for _ in range(num_features)] if elementwise_affine else None

    def forward(self, x: Sample) -> list[Value]:
        _check_features("LayerNorm", x, self.num_features)
        return _affine(_standardize(x, self.eps), self.gamma, self.beta)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


def _standardize(x: Sample, eps: float) -> list[Value]:
    """(x_i - mean(x)) / sqrt(var(x) + eps) over the list x, variance biased."""
    n = len(x)
    mean = Value.sum(x) / n
    centered = [v - mean for v in x]
    inv_std = (Value.sum([c * c for c in centered]) / n + eps) ** -0.5
    return [c * inv_std for c in centered]


def _affine(ys: list[Value], gamma: list[Value] | None, beta: list[Value] | None) -> list[Value]:
    """gamma_i * y_i + beta_i, or ys unchanged without learned parameters."""
    if gamma is None or beta is None:  # both are, or neither
        return ys
    return [y * g + b for y, g, b in zip(ys, gamma, beta)]


class GroupNorm(Module):
    """Group normalisation (Wu and He, 2018) of one sample's ``num_channels`` features:
    the channels are cut into ``num_groups`` consecutive groups of equal size and each
    group is normalised on its own,

        y_i = gamma_i * (x_i - mean_g) / sqrt(var_g + eps) + beta_i,  i in group g,

    var_g biased, gamma and beta per channel (learned when ``affine``), as
    torch.nn.GroupNorm on an (N, C) input. One group is LayerNorm; ``num_channels``
    groups normalise every channel alone. Same in training and eval.
    """

    def __init__(
        self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True
    ) -> None:
        self.num_groups = _count("GroupNorm: num_groups", num_groups)
        self.num_channels = _count("GroupNorm: num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_groups must divide num_channels, got {num_groups} groups "
                f"for {num_channels} channels"
            )
        self.eps = _positive("GroupNorm: eps", eps)
        self.gamma = [Value(1.0) for _ in range(num_channels)] if affine else None
        self.beta = [Value(0.0) for _ in range(num_channels)] if affine else None

    def forward(self, x: Sample) -> list[Value]:
        _check_features("GroupNorm", x, self.num_channels)
        size = self.num_channels // self.num_groups
        ys = [
            y
            for start in range(0, self.num_channels, size)
            for y in _standardize(x[start : start + size], self.eps)
        ]
        return _affine(ys, self.gamma, self.beta)

    def extra_repr(self) -> str:
        return f"{self.num_groups} groups, {self.num_channels} channels, eps={self.eps}"
