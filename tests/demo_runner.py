"""Running demos from tests, as ``python -m demos NAME ARGS`` would, and checking
their files."""

from __future__ import annotations

import importlib
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
    name -> (the numbers it returned, its output folder)."""
    done = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TAPEGRAD_QUIET", "1")
        for name, argv in settings.items():
            out = tmp_path_factory.mktemp(name)
            done[name] = (run_demo(name, out, argv), out)
    return done


def assert_files_written(out: Path, files: list[str]) -> None:
    """Every file of ``files`` exists in ``out`` and is more than a stub."""
    for file in files:
        assert (out / file).stat().st_size > 1000, file
