"""Running demos from tests, as ``python -m demos NAME ARGS`` would, and checking
their files."""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from pathlib import Path

import pytest

from demos.__main__ import demo_parser


def run_demo(name: str, out: Path, argv: list[str]) -> dict:
    """Parse ``argv`` with the demo's options (as ``python -m demos`` does) and run it,
    writing into ``out``."""
    module = importlib.import_module(f"demos.{name}")
    return module.run(demo_parser(name).parse_args(argv), out)


def run_demos(tmp_path_factory, settings: dict[str, list[str]]) -> dict:
    """Each demo of ``settings`` run once, quietly, with its options:
    name -> (the numbers it returned, its output folder). What it printed is kept in
    the folder as ``stdout.txt`` (and still shown by pytest when a test fails)."""
    done = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAPEGRAD_QUIET", "1")
        for name, argv in settings.items():
            out = tmp_path_factory.mktemp(name)
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                done[name] = (run_demo(name, out, argv), out)
            (out / "stdout.txt").write_text(printed.getvalue())
            sys.stdout.write(printed.getvalue())
    return done


def assert_says_what_to_look_for(result: dict, out: Path) -> None:
    """The demo printed one line starting "look for:" (what its figure shows), and
    every comparison that line states held in this run."""
    lines = (out / "stdout.txt").read_text().splitlines()
    said = [line for line in lines if line.startswith("look for: ")]
    assert len(said) == 1, lines
    checks = result["look_for"]
    assert checks, "the look for line states no comparison the demo checks"
    assert all(checks.values()), [claim for claim, holds in checks.items() if not holds]
    assert "NOT SO IN THIS RUN" not in said[0]


def assert_files_written(out: Path, files: list[str]) -> None:
    """Every file of ``files`` exists in ``out`` and is more than a stub."""
    for file in files:
        assert (out / file).stat().st_size > 1000, file
