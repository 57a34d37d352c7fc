"""``python -m demos`` lists the demos; ``python -m demos NAME [options]`` runs one."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import ARTICLES, DEMOS
from ._common import require_plotting


def _module(name: str):
    return importlib.import_module(f"demos.{name}")


def _summary(name: str) -> str:
    doc = _module(name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def list_demos() -> str:
    """One line per demo, its name and what it shows, under the article it belongs to."""
    width = max(len(n) for n in DEMOS)
    lines = ["python -m demos NAME [--help]   runs one of:"]
    for article, names in ARTICLES:
        lines.append(f"\narticle {article}")
        lines += [f"  {n.replace('_', '-'):<{width}}  {_summary(n)}" for n in names]
    return "\n".join(lines)


def demo_parser(name: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The options of demo ``name``: ``--out``, ``--seed`` unless the demo draws no
    random numbers (its module sets ``DETERMINISTIC = True``), then its own."""
    module = _module(name)
    parser = argparse.ArgumentParser(prog=prog, description=_summary(name))
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo_output") / name,
        help="folder for the figures (default: %(default)s)",
    )
    if not getattr(module, "DETERMINISTIC", False):
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help="random seed of the data and the initial weights (default: %(default)s)",
        )
    module.add_arguments(parser)
    return parser


def run_demo(name: str, options: list[str]) -> dict:
    """Run demo ``name`` with its command-line ``options`` and return the numbers it
    measured (what ``python -m demos NAME OPTIONS`` runs)."""
    require_plotting()
    module = _module(name.replace("-", "_"))
    args = demo_parser(name.replace("-", "_"), prog=f"python -m demos {name}").parse_args(options)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = module.run(args, args.out)
    print(f"\ndone in {time.perf_counter() - start:.1f} s; figures in {args.out.resolve()}")
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "list"):
        print(list_demos())
        return 0
    if argv[0].replace("-", "_") not in DEMOS:
        print(f"unknown demo {argv[0]!r}\n\n{list_demos()}", file=sys.stderr)
        return 2
    run_demo(argv[0], argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
