"""What every demo shares: matplotlib without a screen, progress bars, saving figures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

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
