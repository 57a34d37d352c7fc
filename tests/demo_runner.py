"""Running demos from tests, as ``python -m demos NAME ARGS`` would, and checking
their files."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest


def run_demo(name: str, out: Path, argv: list[str]) -> dict:
    """Parse ``argv`` with the demo's own options and run it, writing into ``out``."""
    module = importlib.import_module(f"demos.{name}")
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv), out)


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
