"""What every demo shares: matplotlib without a screen, progress bars, saving figures,
a model's outputs over a plot grid and a classifier's accuracy."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from tapegrad import Compiled, Value, compile, nn, no_grad
from tapegrad.nn import functional as F

T = TypeVar("T")

_MISSING = (
    "the demos draw with matplotlib and show progress with tqdm; install them with\n"
    '  pip install -e ".[demos]"'
)


def require_plotting() -> None:
    """Exit with an install hint when matplotlib or tqdm is missing."""
    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as error:
        raise SystemExit(f"{error}: {_MISSING}") from None


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no window needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out: Path, name: str) -> Path:
    """Write ``fig`` as ``out/name.png``, close it, print and return the path."""
    path = Path(out) / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    print(f"  wrote {path}")
    return path


def bars() -> bool:
    """Whether to show progress bars: only when the output is a terminal (in a log file
    or a notebook cell running ``!python -m demos ...`` a bar's redraws would interleave
    with the printed rows), and not when TAPEGRAD_QUIET is set."""
    return not os.environ.get("TAPEGRAD_QUIET") and sys.stdout.isatty()


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """A tqdm progress bar over ``iterable`` when ``bars()`` says so."""
    from tqdm import tqdm

    return iter(
        tqdm(
            iterable,
            desc=desc,
            total=total,
            disable=not bars(),
            file=sys.stdout,
            leave=False,
            dynamic_ncols=True,
        )
    )


def look_for(text: str, checks: dict[str, bool]) -> dict[str, bool]:
    """Print the demo's one "look for:" line: ``text``, what its figures show with the
    numbers this run measured, then each comparison of ``checks`` (a claim of the text ->
    whether this run bears it out) that this run does not bear out, so the line never
    states what did not happen. Returns the checks for the demo's result: the tests
    require every one of them."""
    checks = {claim: bool(holds) for claim, holds in checks.items()}
    failed = [claim for claim, holds in checks.items() if not holds]
    line = f"look for: {text}"
    if failed:
        line += f"; NOT SO IN THIS RUN (other options or seed): {'; '.join(failed)}"
    print(line)
    return checks


def grid_outputs(model: nn.Module, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """The model's first output at every point of the mesh (xx, yy), shaped as xx."""
    with no_grad():
        zz = [model(p)[0].data for p in np.c_[xx.ravel(), yy.ravel()].tolist()]
    return np.array(zz).reshape(xx.shape)


def classifier_programs(
    model: nn.Module, params: list[Value], classes: int
) -> tuple[Compiled, Compiled]:
    """The model's per-sample cross-entropy for labels 0 .. classes-1 and its scores,
    each compiled: the training step and the evaluation of the classifier demos."""
    loss = compile(
        lambda x, t: F.cross_entropy([model(x)], [t]), params, labels={1: range(classes)}
    )
    return loss, compile(lambda x: model(x), params)


def squared_error_program(model: nn.Module, params: list[Value]) -> Compiled:
    """The model's per-sample squared error (model(x)[0] - t)^2, compiled: the training
    step of the regression demos (its mean over a batch is the mean squared error)."""
    return compile(lambda x, t: (model(x)[0] - t) ** 2, params)


def output_program(model: nn.Module, params: list[Value]) -> Compiled:
    """The model's first output for each row of a batch, compiled."""
    return compile(lambda x: model(x)[0], params)


def weights_of(model: nn.MLP) -> list[Value]:
    """The MLP's weights, without the biases (weight decay penalises W only, article 001)."""
    return [w for layer in model.layers for neuron in layer.neurons for w in neuron.w]


def argmax_accuracy(scores: Compiled, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of the rows of X whose highest score (a compiled scoring program) is their label."""
    return float(np.mean(scores.forward(X).argmax(axis=1) == y))
