"""The docs site: every page of mkdocs.yml's navigation exists, every page and notebook is
in it, every figure shown exists and every figure in docs/images/ is shown; and (slow) the
site builds with ``mkdocs build --strict`` and loads nothing from elsewhere.

The Python examples and links of the pages are tested by test_readme.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOKS = ROOT / "notebooks"
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
# A nav entry: "- path" or "- Title: path", the path a page of the site.
NAV_ENTRY = re.compile(r"^\s*-\s+(?:.*:\s+)?([\w./-]+\.(?:md|ipynb))\s*(?:#.*)?$")


def nav_pages(config: str) -> list[str]:
    """The pages of the ``nav:`` section of an mkdocs.yml text, in order."""
    lines = config.splitlines()
    start = lines.index("nav:") + 1
    end = next((i for i in range(start, len(lines)) if re.match(r"\S", lines[i])), len(lines))
    return [m[1] for line in lines[start:end] if (m := NAV_ENTRY.match(line))]


def source(page: str) -> Path:
    """The file a page of the nav is built from: the notebooks of the course come from
    notebooks/ (docs/hooks.py adds them), everything else from docs/."""
    if page.startswith("course/") and page.endswith(".ipynb"):
        return NOTEBOOKS / page.removeprefix("course/")
    return DOCS / page


NAV = nav_pages((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_nav_is_read_from_mkdocs_yml() -> None:
    config = (
        "site_name: x\n"
        "nav:\n"
        "  - Home: index.md\n"
        "  - Course:\n"
        '      - "000 A": course/a.ipynb\n'
        "      - b.md  # a comment\n"
        "plugins:\n"
        "  - search\n"
    )
    assert nav_pages(config) == ["index.md", "course/a.ipynb", "b.md"]
    assert "index.md" in NAV and "guarantees.md" in NAV


def test_every_page_of_the_nav_exists() -> None:
    missing = [page for page in NAV if not source(page).is_file()]
    assert not missing, f"mkdocs.yml's nav names pages that do not exist: {missing}"
    assert len(set(NAV)) == len(NAV), "a page is in the nav twice"


def test_every_docs_page_is_in_the_nav() -> None:
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    left_out = [p for p in pages if p not in NAV]
    assert not left_out, f"pages no reader can reach from the site's navigation: {left_out}"


def test_the_course_lists_every_notebook_in_the_articles_order() -> None:
    course = [p.removeprefix("course/") for p in NAV if p.endswith(".ipynb")]
    assert course == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def _shown_images() -> dict[Path, list[Path]]:
    """Each image file a Markdown page shows -> the pages that show it."""
    shown: dict[Path, list[Path]] = {}
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for target in IMAGE.findall(page.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+:", target):
                shown.setdefault((page.parent / target).resolve(), []).append(page)
    return shown


def test_every_figure_shown_exists_and_every_figure_is_shown() -> None:
    shown = _shown_images()
    missing = sorted(str(p.relative_to(ROOT)) for p in shown if not p.is_file())
    assert not missing, f"pages show figures that do not exist: {missing}"
    figures = sorted((DOCS / "images").glob("*.png"))
    assert figures
    unused = [p.name for p in figures if p.resolve() not in shown]
    assert not unused, f"figures in docs/images/ that no page shows: {unused}"


def test_the_readme_shows_no_image_by_a_relative_path() -> None:
    """The package index shows the README without the repository's files beside it."""
    images = IMAGE.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert [t for t in images if not re.match(r"[a-z]+:", t)] == []


def _can_build() -> str | None:
    """Why the site cannot be built here, or None."""
    for module in (
        "mkdocs",
        "material",
        "mkdocstrings_handlers.python",
        "mkdocs_jupyter",
        "latex2mathml",
    ):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[docs]')"
    return None


@pytest.mark.slow
def test_site_builds_strict_and_offline(tmp_path: Path) -> None:
    reason = _can_build()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert "WARNING" not in built.stderr, built.stderr[-3000:]

    # Nothing is loaded from elsewhere: no script, style, font, image or frame by URL.
    remote = re.compile(
        r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']https?:"
        r"|<link\b[^>]*\bhref=[\"']https?:"
        r"|@import\s+(?:url\()?[\"']?https?:"
        r"|url\([\"']?https?:"
        r"|import\(\s*[\"']https?:"
    )
    loading = {
        str(p.relative_to(site)): m[0]
        for p in site.rglob("*")
        if p.suffix in (".html", ".css") and (m := remote.search(p.read_text(encoding="utf-8")))
    }
    assert not loading, f"pages that load something from elsewhere: {loading}"

    # The course: every notebook a page, its formulas as MathML, no $TeX$ left.
    for notebook in NOTEBOOKS.glob("*.ipynb"):
        page = (site / "course" / notebook.stem / "index.html").read_text(encoding="utf-8")
        text = "".join(
            re.findall(r'class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>(.*?)</div>', page, re.S)
        )
        assert text and "<math" in text, notebook.name
        assert not re.search(r"\$[^$\s][^$]*\$", text), f"TeX left in {notebook.name}"
    # The explain pages, written by tapegrad at build time, with the stable contract.
    for name in ("home-example", "blackbox", "network", "reused-input"):
        page = (site / "course" / "backprop" / f"{name}.html").read_text(encoding="utf-8")
        assert 'id="next"' in page and "data-grad" in page, name
    # The API reference is generated from the docstrings.
    reference = (site / "reference" / "tapegrad" / "index.html").read_text(encoding="utf-8")
    assert 'id="tapegrad.Value.backward"' in reference
