"""The course: a notebook where the learner builds an engine, then one notebook per
article; each runs top to bottom without an error (nbclient, the python3 kernel): the
asserts that check its claims hold, and each "Try this" exercise agrees with what its
check cell measures (an article's, answered from answers.py; the engine notebook's, from
its own answer cells). The notebooks are committed without outputs."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the notebooks run in a Jupyter kernel (minutes)

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
ENGINE = FOLDER / "0000_build_your_own_engine.ipynb"  # the course's first notebook
ANSWERS = runpy.run_path(str(FOLDER / "answers.py"))["ANSWERS"]


def test_the_engine_notebook_then_one_per_article_in_order_with_both_titles():
    assert NOTEBOOKS[0] == ENGINE
    assert [p.name[:4] for p in NOTEBOOKS[1:]] == ["000_", "001_", "002_", "003_", "004_"]
    for path in NOTEBOOKS:
        first = nbformat.read(path, as_version=4).cells[0]
        title = first.source.splitlines()[0]
        assert first.cell_type == "markdown" and title.startswith("# "), path.name
        assert re.search(r"[\u4e00-\u9fff]", title) and re.search(r"[A-Za-z]{4}", title), title


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_ends_with_exercises_each_with_its_check(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    heading = [i for i, c in enumerate(nb.cells) if re.search(r"^## Try this", c.source, re.M)]
    assert len(heading) == 1 and nb.cells[heading[0]].cell_type == "markdown", path.name
    after = nb.cells[heading[0] + 1 :]
    assert all(c.cell_type == "code" for c in after), path.name
    if path == ENGINE:  # its exercises are answered and checked in its own cells
        return
    exercises = re.findall(r"^(\d+)\. ", nb.cells[heading[0]].source, flags=re.M)
    # One check cell per exercise, in order, each answered in answers.py.
    number = path.name[:3]
    checked = [re.search(r'check\(\s*"(\d{3}-\d+)"', c.source)[1] for c in after]
    assert checked == [f"{number}-{k}" for k in exercises] != []
    assert set(checked) <= set(ANSWERS)


def test_the_reference_answers_are_those_of_the_notebooks_exercises():
    checked = set()
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            checked.update(re.findall(r'check\(\s*"(\d{3}-\d+)"', cell.source))
    assert checked == set(ANSWERS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_with_the_reference_answers(path, monkeypatch):
    # Every claim's assert runs, and every exercise is answered from answers.py and
    # checked against what its cell measures.
    monkeypatch.setenv("COURSE_REFERENCE", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(FOLDER)}}
    )
    client.execute()  # raises CellExecutionError naming the cell and the error
    said = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "NOT SO IN THIS RUN" not in said  # every demo's look-for line held
    assert said.count(": right.") == len(re.findall(r"^exercise \d{3}-\d+: ", said, flags=re.M))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_gives_the_articles_terms_in_chinese(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    # The engine notebook, before the articles, says where each term is used in it
    # ("here") and, where they use it, in the articles.
    header = r"\| here \| in the articles \|" if path == ENGINE else r"\| in the article \|"
    table = re.search(rf"^\| English \| 中文 {header}\n(?:\|.*\n?)+", text, flags=re.M)
    assert table, path.name
    rows = table[0].strip().splitlines()[2:]
    assert len(rows) >= 8, rows
    for row in rows:
        english, chinese, where, *_ = (cell.strip() for cell in row.strip("|").split("|"))
        assert re.search(r"[A-Za-z]", english) and re.search(r"[\u4e00-\u9fff]", chinese), row
        assert where, row  # the article's section, table or figure (the engine's: its own)


def test_check_says_right_or_wrong_and_why_and_holds_the_reference_to_the_measure(
    monkeypatch, capsys
):
    monkeypatch.syspath_prepend(str(FOLDER))
    from course import check

    monkeypatch.delenv("COURSE_REFERENCE", raising=False)
    check("000-1", None, "stays", "why")
    assert "put your answer in the cell" in capsys.readouterr().out
    check("000-1", " Stays", "stays", "it flips sign")
    assert capsys.readouterr().out == "exercise 000-1: right. it flips sign\n"
    check("000-2", 59.5, 60, "3600 / 60", tolerance=1)
    assert ": right." in capsys.readouterr().out
    check("000-2", 6, 60, "3600 / 60")
    assert "not quite: the answer is 60. 3600 / 60" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_REFERENCE", "1")
    check("000-1", None, ANSWERS["000-1"], "why")
    assert ": right." in capsys.readouterr().out
    with pytest.raises(AssertionError, match="reference answer 'stays' is not what the code"):
        check("000-1", None, "grows", "why")
