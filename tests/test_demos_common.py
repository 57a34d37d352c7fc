"""What every demo shares: the options ``python -m demos`` gives it and the progress bar."""

from __future__ import annotations

import io
import re

import pytest

from demos import DEMOS
from demos.__main__ import demo_parser

pytestmark = pytest.mark.slow  # tested with the demos, not in the library's quick run

pytest.importorskip("tqdm")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_progress_bar_when_the_output_is_not_a_terminal(monkeypatch, capsys):
    from demos._common import progress

    monkeypatch.delenv("TAPEGRAD_QUIET", raising=False)
    assert list(progress(range(3), "counting")) == [0, 1, 2]
    assert capsys.readouterr().out == ""  # pytest's captured stdout is not a terminal


def test_a_progress_bar_on_a_terminal_unless_quiet(monkeypatch):
    from demos._common import progress

    monkeypatch.delenv("TAPEGRAD_QUIET", raising=False)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    assert list(progress(range(3), "counting")) == [0, 1, 2]
    assert "counting" in terminal.getvalue()
    monkeypatch.setenv("TAPEGRAD_QUIET", "1")
    quiet = _Terminal()
    monkeypatch.setattr("sys.stdout", quiet)
    assert list(progress(range(3), "counting")) == [0, 1, 2]
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("name", ["optimizers", "blackbox"])
def test_deterministic_demos_offer_no_seed(name, capsys):
    parser = demo_parser(name)
    with pytest.raises(SystemExit):
        parser.parse_args(["--seed", "1"])
    assert "unrecognized arguments: --seed 1" in capsys.readouterr().err


@pytest.mark.parametrize("name", [n for n in DEMOS if n not in ("optimizers", "blackbox")])
def test_demos_with_random_data_or_weights_take_a_seed(name):
    assert demo_parser(name).parse_args(["--seed", "7"]).seed == 7


def test_the_demos_are_listed_by_article_in_the_order_of_the_demos_page():
    from pathlib import Path

    from demos import ARTICLES
    from demos.__main__ import list_demos

    page = (Path(__file__).parent.parent / "docs" / "course" / "demos.md").read_text()
    documented = re.findall(r"^### (\S+)$", page, flags=re.M)
    assert [n.replace("_", "-") for n in DEMOS] == documented
    articles = re.findall(r"^## (\d{3}):", page, flags=re.M)
    assert [a.split()[0] for a, _ in ARTICLES] == articles == ["000", "001", "002", "003", "004"]
    listed = [line.split()[0] for line in list_demos().splitlines() if line.startswith("  ")]
    assert listed == documented
