"""What every demo shares: matplotlib without a screen, progress bars, saving figures,
a model's outputs over a plot grid and a classifier's accuracy."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

import nn
from autograd import Compiled, no_grad

T = TypeVar("T")

_MISSING = (
    "the demos draw with matplotlib and show progress with tqdm; install them with\n"
    "  pip install -e \".[demos]\""
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


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """A tqdm progress bar on the terminal; silent when TAPEGRAD_QUIET is set (tests)."""
    from tqdm import tqdm

    quiet = bool(os.environ.get("TAPEGRAD_QUIET"))
    return iter(tqdm(iterable, desc=desc, total=total, disable=quiet, file=sys.stdout,
                     leave=False, dynamic_ncols=True))


def grid_outputs(model: nn.Module, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """The model's first output at every point of the mesh (xx, yy), shaped as xx."""
    with no_grad():
        zz = [model(p)[0].data for p in np.c_[xx.ravel(), yy.ravel()].tolist()]
    return np.array(zz).reshape(xx.shape)


def argmax_accuracy(scores: Compiled, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of the rows of X whose highest score (a compiled scoring program) is their label."""
    return float(np.mean(scores.forward(X).argmax(axis=1) == y))
