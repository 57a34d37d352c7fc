"""The README and the docs site's pages are tests: their Python examples run, their links
resolve.

Conventions in the Markdown files:

* every ```python block runs, in order, in one namespace per file (so a block may use
  names from the blocks above it), in a temporary working directory;
* a line ``expression  # -> literal`` is checked: the expression must equal the literal
  (floats to a relative 1e-12);
* a python block followed directly by a plain ``` block must print exactly that text.
"""

from __future__ import annotations

import ast
import contextlib
import io
import math
import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
FENCE = re.compile(r"^```(.*)$")
EXPECT = re.compile(r"^(?P<indent>\s*)(?P<expr>\S.*?)\s+# -> (?P<literal>.+?)\s*$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _name(page: Path) -> str:
    """A page as the tests name it: its path in the repository."""
    return page.relative_to(ROOT).as_posix() if page.is_relative_to(ROOT) else page.name


class Block(NamedTuple):
    info: str  # the fence's info string: "python", "bash", "" ...
    first: int  # line number of the first code line
    last: int  # line number of the closing fence
    code: str


def _blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, in order."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        start = FENCE.match(lines[i])
        if start is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append(Block(start.group(1).strip(), i + 2, end + 1, "\n".join(lines[i + 1 : end])))
        i = end + 1
    return blocks


def _same(got: object, expected: object) -> bool:
    if isinstance(expected, float) and isinstance(got, float):
        return math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-300)
    if isinstance(expected, (list, tuple)) and type(got) is type(expected):
        return len(got) == len(expected) and all(map(_same, got, expected))
    return type(got) is type(expected) and got == expected


def _expect(got: object, literal: str, where: str) -> None:
    expected = ast.literal_eval(literal)
    assert _same(got, expected), f"{where}: the example says {literal}, the code gives {got!r}"


def _checked(code: str, path: Path, first_line: int) -> str:
    """The block's code with each ``expr  # -> literal`` line turned into a check."""
    out = []
    for n, line in enumerate(code.splitlines(), start=first_line):
        m = EXPECT.match(line)
        if m is None:
            out.append(line)
            continue
        where = f"{_name(path)}:{n}"
        out.append(f"{m['indent']}_expect(({m['expr']}), {m['literal']!r}, {where!r})")
    return "\n".join(out)


def _python_examples(path: Path) -> list[tuple[Block, str | None]]:
    """Every python block of a page, with the output it must print (or None): the
    plain block right after it, separated by blank lines only."""
    text = path.read_text(encoding="utf-8")
    lines, blocks = text.splitlines(), _blocks(text)
    examples = []
    for block, after in zip(blocks, [*blocks[1:], None]):
        if block.info.split()[:1] != ["python"]:
            continue
        printed = None
        if (
            after is not None
            and after.info == ""
            and not any(s.strip() for s in lines[block.last : after.first - 2])
        ):
            printed = after.code
        examples.append((block, printed))
    return examples


def _pages_with_python() -> list[Path]:
    return [p for p in PAGES if _python_examples(p)]


@pytest.mark.parametrize("page", _pages_with_python(), ids=_name)
def test_python_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__", "_expect": _expect}
    for block, printed in _python_examples(page):
        # Leading newlines keep the page's line numbers in tracebacks.
        source = "\n" * (block.first - 1) + _checked(block.code, page, block.first)
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            exec(compile(source, str(page), "exec"), namespace)
        if printed is not None:
            assert stdout.getvalue().rstrip("\n") == printed, (
                f"{_name(page)}:{block.first}: the block prints something else than the page shows"
            )


def test_expectations_are_checked() -> None:
    """A wrong ``# ->`` literal fails, so the checks above can fail."""
    code = _checked("1 + 1  # -> 3", Path("page.md"), 1)
    with pytest.raises(AssertionError, match="page.md:1: the example says 3"):
        exec(code, {"_expect": _expect})


def test_printed_output_is_the_plain_block_right_after(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nprint(1)\n```\n\n```\n1\n```\n\n"
        "```python\nprint(2)\n```\nsome words\n```\nnot output\n```\n",
        encoding="utf-8",
    )
    assert [(b.first, b.code, printed) for b, printed in _python_examples(page)] == [
        (2, "print(1)", "1"),
        (10, "print(2)", None),
    ]


def _anchors(path: Path) -> set[str]:
    """GitHub's ids of a page's headings: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def _source(linked: Path) -> Path | None:
    """The file a link of a page points to, where the site's build makes it from
    another: ``docs/course/NAME.ipynb`` is ``notebooks/NAME.ipynb``; the explain pages
    under ``docs/course/backprop/`` are written by tapegrad at build time (None: the
    build checks those)."""
    course = DOCS / "course"
    if linked.parent == course and linked.suffix == ".ipynb":
        return ROOT / "notebooks" / linked.name
    if linked.parent == course / "backprop" and linked.suffix == ".html":
        return None
    return linked


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_links_resolve(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL: not checked (no network in tests)
        file, _, anchor = target.partition("#")
        linked = _source(page if not file else (page.parent / file).resolve())
        if linked is None:
            continue
        if not linked.exists() or (
            anchor and linked.suffix == ".md" and anchor not in _anchors(linked)
        ):
            broken.append(target)
    assert not broken, f"{_name(page)}: broken links {broken}"


def test_a_link_to_a_missing_page_or_heading_is_broken(tmp_path: Path) -> None:
    """The link check can fail: a missing file, a missing heading, a notebook that is not
    in notebooks/."""
    page = DOCS / "course" / "page.md"
    assert _source(page.parent / "000_why_we_train.ipynb") == (
        ROOT / "notebooks" / "000_why_we_train.ipynb"
    )
    assert not _source(page.parent / "999_missing.ipynb").exists()
    headings = tmp_path / "page.md"
    headings.write_text("# A page\n\n## One example\n", encoding="utf-8")
    assert _anchors(headings) == {"a-page", "one-example"}


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_articles_cited_by_title_or_number(page: Path) -> None:
    """Users know the articles by title or number, never as "seed 00x"."""
    found = re.findall(r"\bseed (?:\d{3}|articles?)\b", page.read_text(encoding="utf-8"), re.I)
    assert not found, f"{_name(page)} says {found}"
