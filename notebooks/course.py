"""What the course notebooks share: the clone's demos on the import path, running a demo
from a notebook as ``python -m demos NAME OPTIONS`` would, with its figures shown, and the
check that says whether an answer to a "Try this" exercise is right, and why."""

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
REFERENCE = "COURSE_REFERENCE"  # set (by the notebook tests): answer from answers.py


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


def demo(name: str, *options: str, show: tuple[str, ...] | None = None) -> dict:
    """Run the demo as ``python -m demos NAME OPTIONS`` would (its printout appears below
    the cell), show the figures it wrote (those named in ``show``, file names without
    .png, or all), and return the numbers it measured (``"look_for"``: each comparison
    its look-for line states, and whether it held)."""
    import matplotlib
    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    from demos.__main__ import run_demo

    out = OUT / name
    backend = matplotlib.get_backend()
    try:
        result = run_demo(name, [*options, "--out", str(out)])
    finally:  # the demos draw on Agg (files only); the notebook's figures show inline again
        plt.switch_backend(backend)
    for png in sorted(out.glob("*.png")):
        if show is None or png.stem in show:
            display(Image(filename=str(png)))
    return result


def _same(answer: object, truth: object, tolerance: float) -> bool:
    if isinstance(truth, str):
        return isinstance(answer, str) and answer.strip().lower() == truth.lower()
    if isinstance(truth, bool) or not isinstance(truth, (int, float)):
        return answer == truth
    return isinstance(answer, (int, float)) and abs(answer - truth) <= tolerance


def check(exercise: str, answer: object, truth: object, why: str, tolerance: float = 0) -> None:
    """Say whether ``answer`` to ``exercise`` ("000-1": notebook 000, exercise 1) is
    ``truth``, what the cell just measured, and ``why``. ``None`` is no answer yet.

    Under the notebook tests (the environment variable COURSE_REFERENCE set) a missing
    answer is the reference answer of answers.py, and it must be what was measured:
    otherwise AssertionError, so an exercise whose lesson stops being true fails them."""
    if answer is None and os.environ.get(REFERENCE):
        from answers import ANSWERS

        answer = ANSWERS[exercise]
        if not _same(answer, truth, tolerance):
            raise AssertionError(
                f"exercise {exercise}: the reference answer {answer!r} is not what the code "
                f"measured, {truth!r}: {why}"
            )
    if answer is None:
        print(f"exercise {exercise}: put your answer in the cell and run it again")
        return
    verdict = "right" if _same(answer, truth, tolerance) else f"not quite: the answer is {truth!r}"
    print(f"exercise {exercise}: {verdict}. {why}")
