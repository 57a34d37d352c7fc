"""The "Coming from PyTorch" page lists every public name, and every test it cites as
the proof of an agreement exists and exercises a name of that row."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

import tapegrad
import tapegrad.nn.data
import tapegrad.nn.functional
import tapegrad.nn.init
import tapegrad.optim.lr_scheduler
from tapegrad import nn, optim

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "guides" / "coming-from-pytorch.md"
MODULES = (
    tapegrad,
    nn,
    tapegrad.nn.functional,
    tapegrad.nn.init,
    tapegrad.nn.data,
    optim,
    tapegrad.optim.lr_scheduler,
)
CODE = re.compile(r"`([^`]+)`")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CITED_TEST = re.compile(r"`(tests/test_\w+\.py)`")


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table body row of a markdown text."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"\|[-| ]+\|$", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return [row for row in rows if row[0] != "tapegrad"]  # without the header rows


def first_cell_names(row: list[str]) -> set[str]:
    """The identifiers written in code in a row's tapegrad column."""
    return {name for code in CODE.findall(row[0]) for name in NAME.findall(code)}


ROWS = table_rows(PAGE.read_text(encoding="utf-8"))


def test_rows_are_read_from_markdown_tables() -> None:
    text = "| tapegrad | PyTorch | agreement |\n|---|---|---|\n| `a`, `b(x)` | `t.a` | same |\n"
    rows = table_rows(text)
    assert rows == [["`a`, `b(x)`", "`t.a`", "same"]]
    assert first_cell_names(rows[0]) == {"a", "b", "x"}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_name_has_a_row(module: types.ModuleType) -> None:
    listed = set().union(*(first_cell_names(row) for row in ROWS))
    public = {
        name
        for name in module.__all__
        if not isinstance(getattr(module, name), types.ModuleType) or module is tapegrad
    }
    missing = sorted(public - listed)
    assert not missing, f"{module.__name__} names missing from {PAGE.name}: {missing}"


def test_every_cited_test_exists_and_exercises_its_row() -> None:
    cited = [(row, path) for row in ROWS for path in CITED_TEST.findall(row[2])]
    assert len(cited) >= 15
    for row, path in cited:
        source = (ROOT / path).read_text(encoding="utf-8")
        names = first_cell_names(row)
        assert any(re.search(rf"\b{name}\b", source) for name in names), (path, row[0])
        assert "torch" in source.lower(), f"{path} keeps no PyTorch numbers"
