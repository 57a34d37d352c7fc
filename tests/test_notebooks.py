"""The course: a notebook where the learner builds an engine, then one notebook per
article; each runs top to bottom without an error (nbclient, the python3 kernel) and is
committed without outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the notebooks run in a Jupyter kernel (minutes)

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))


def test_the_engine_notebook_then_one_per_article_in_order_with_both_titles():
    assert NOTEBOOKS[0].name == "0000_build_your_own_engine.ipynb"
    assert [p.name[:4] for p in NOTEBOOKS[1:]] == ["000_", "001_", "002_", "003_", "004_"]
    for path in NOTEBOOKS:
        first = nbformat.read(path, as_version=4).cells[0]
        title = first.source.splitlines()[0]
        assert first.cell_type == "markdown" and title.startswith("# "), path.name
        assert re.search(r"[\u4e00-\u9fff]", title) and re.search(r"[A-Za-z]{4}", title), title


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_ends_with_exercises(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    # The last section is "Try this": its exercises, then only the cells that check them.
    heading = [i for i, c in enumerate(nb.cells) if re.search(r"^## Try this", c.source, re.M)]
    assert len(heading) == 1 and nb.cells[heading[0]].cell_type == "markdown", path.name
    assert all(c.cell_type == "code" for c in nb.cells[heading[0] + 1 :]), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(FOLDER)}}
    )
    client.execute()  # raises CellExecutionError naming the cell and the error
