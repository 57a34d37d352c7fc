"""What the course notebooks share: the clone's demos on the import path, and running a
demo from a notebook as ``python -m demos NAME OPTIONS`` would, with its figures shown."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

CLONE = Path(__file__).resolve().parent.parent
if str(CLONE) not in sys.path:  # demos/ is run from the clone, it is not installed
    sys.path.insert(0, str(CLONE))
# The demos' progress bars are for terminals; in a notebook they would fill the output.
os.environ.setdefault("TAPEGRAD_QUIET", "1")

OUT = Path(tempfile.mkdtemp(prefix="tapegrad-course-"))


def _inline_figures() -> None:
    """Figures drawn in a notebook show below their cell (the demos switch to Agg, so the
    inline backend must be active before a demo runs to be restored after it)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "kernel"):
        shell.run_line_magic("matplotlib", "inline")


_inline_figures()


def demo(name: str, *options: str, show: tuple[str, ...] | None = None) -> Path:
    """Run ``python -m demos NAME OPTIONS`` (its printout appears below the cell), show
    the figures it wrote (those named in ``show``, file names without .png, or all),
    and return the folder holding them."""
    import matplotlib
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    from demos.__main__ import main

    out = OUT / name
    backend = matplotlib.get_backend()
    try:
        main([name, "--out", str(out), *options])
    finally:  # the demos draw on Agg (files only); the notebook's figures show inline again
        plt.switch_backend(backend)
    for png in sorted(out.glob("*.png")):
        if show is None or png.stem in show:
            display(Image(filename=str(png)))
    return out
