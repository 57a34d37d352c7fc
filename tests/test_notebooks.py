"""The course: one notebook per article, each runs top to bottom without an error
(nbclient, the python3 kernel) and is committed without outputs."""

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


def test_one_notebook_per_article_in_order_with_both_titles():
    assert [p.name[:3] for p in NOTEBOOKS] == ["000", "001", "002", "003", "004"]
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
    assert "Try this" in nb.cells[-1].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(FOLDER)}}
    )
    client.execute()  # raises CellExecutionError naming the cell and the error
