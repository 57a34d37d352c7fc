"""Running one demo from a test, as ``python -m demos NAME ARGS`` would."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path


def run_demo(name: str, out: Path, argv: list[str]) -> dict:
    """Parse ``argv`` with the demo's own options and run it, writing into ``out``."""
    module = importlib.import_module(f"demos.{name}")
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv), Path(out))
