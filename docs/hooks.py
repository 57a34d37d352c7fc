"""Build hooks of the docs site (mkdocs.yml's ``hooks:``): pages made from the clone's
own files at build time, with nothing fetched.

* The course notebooks stay in notebooks/, where the course runs them; each is added to
  the site as ``course/NAME.ipynb`` for mkdocs-jupyter, which renders it without
  executing it. Their TeX (``$...$``, ``$$...$$``) is turned into MathML first, which
  browsers draw themselves, so the pages need no math script from elsewhere.
* nbconvert's template loads MathJax and Mermaid from a CDN: those scripts are dropped.
* The explain pages are written by tapegrad: ``course/backprop/NAME.html`` for the
  example of the home page and the three graphs of ``python -m demos backprop``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from latex2mathml.converter import convert as _mathml
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
COURSE = "course"  # the notebooks' folder in the site

# Code spans and fenced blocks are left alone; math is looked for between them.
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?=\S)((?:[^$\n]|\n(?!\n))+?)(?<=\S)\$")  # within a paragraph
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)
_scratch: list[Path] = []  # the converted notebooks of the build under way


def math_to_mathml(markdown: str) -> str:
    """``markdown`` with each $$display$$ and $inline$ formula as MathML."""
    parts = _CODE.split(markdown)
    for i in range(0, len(parts), 2):  # the even parts lie outside code
        text = _DISPLAY.sub(lambda m: _mathml(m[1].strip(), display="block"), parts[i])
        parts[i] = _INLINE.sub(lambda m: _mathml(m[1]), text)
    return "".join(parts)


def _write_with_mathml(source: Path, target: Path) -> None:
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = math_to_mathml("".join(cell["source"]))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")


def _explain_pages() -> dict[str, str]:
    """Page name -> the self-contained HTML that ``explain(root).save_html`` writes."""
    if str(ROOT) not in sys.path:  # tapegrad and demos/ from this clone
        sys.path.insert(0, str(ROOT))
    from demos import backprop
    from tapegrad import Value, explain

    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    e = a * b
    e.label = "e"
    L = e * 8.0 + a
    L.label = "L"
    network, model = backprop.network_loss(seed=0)
    return {
        "home-example": explain(L).to_html(),
        # Article 003's loop: forward, backward, then one step of gradient descent.
        "blackbox": explain(backprop.black_box_loss()[0], lr=0.1).to_html(),
        "network": explain(network, names=model, lr=0.5).to_html(),
        "reused-input": explain(backprop.reused_input()[0]).to_html(),
    }


@event_priority(100)  # before mkdocs-jupyter looks for notebooks among the files
def on_files(files: Files, config) -> Files:
    folder = Path(tempfile.mkdtemp(prefix="tapegrad-docs-"))
    _scratch.append(folder)
    for source in sorted(NOTEBOOKS.glob("*.ipynb")):
        # A file of its own folder, not a generated one: mkdocs-jupyter reads the
        # notebook from the file's source folder.
        uri = f"{COURSE}/{source.name}"
        _write_with_mathml(source, folder / uri)
        files.append(File(uri, str(folder), config.site_dir, config.use_directory_urls))
    for name, html in _explain_pages().items():
        files.append(File.generated(config, f"{COURSE}/backprop/{name}.html", content=html))
    return files


def _fetches(script: re.Match) -> bool:
    """Whether a script element loads code from elsewhere: MathJax (``src`` a URL, or
    empty, and its configuration) or Mermaid (imported from a URL)."""
    attributes, body = script[1], script[2]
    return (
        re.search(r'\bsrc="(https?:|")', attributes) is not None
        or "text/x-mathjax-config" in attributes
        or re.search(r"""import\(?\s*["']https?://""", body) is not None
    )


def on_page_content(html: str, page, config, files) -> str:
    if page.file.src_uri.endswith(".ipynb"):
        return _SCRIPT.sub(lambda m: "" if _fetches(m) else m[0], html)
    return html


def _remove_scratch() -> None:
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)


def on_post_build(config) -> None:
    _remove_scratch()


def on_build_error(error) -> None:
    _remove_scratch()


def on_serve(server, config, builder):
    server.watch(str(NOTEBOOKS))
    return server
