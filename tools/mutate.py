"""Mutation testing of tapegrad: small deliberate bugs that the tests must catch.

Each mutant changes one place of one module: a comparison flipped (``<`` to ``<=``
and to ``>=``, ``==`` to ``!=``, ``is`` to ``is not``, ``in`` to ``not in``), an
operator swapped (``+``/``-``, ``*``/``/``, ``**`` to ``*``, ``and``/``or``, a
unary ``-`` or ``not`` dropped), a constant changed (an integer n to n + 1, a float
x to x + 1, or x * 2 where + 1 would round away, True/False swapped), a statement
deleted (replaced by ``pass``) or a returned value replaced by ``None``. The mutant
runs against that module's tests, in a copy of the checkout under a temporary
directory (the checkout itself is never written), with ``-x`` and a timeout: it is
killed when a test fails or the time runs out, and survives when every test passes.
Survivors are then run against the whole library suite (``-m "not slow"``), so the
score is that of the library's tests.

    python tools/mutate.py                        # the engine core and optim
    python tools/mutate.py --module mathlib --jobs 2
    python tools/mutate.py --module optim/adam --limit 20 --list
    python tools/mutate.py --module value --only "arg"   # mutants whose text has "arg"

Mutants known to be equivalent (no test can tell them from the original) are listed,
each with its reason, in ``tools/mutants_equivalent.txt``; they are reported apart
and left out of the score. A mutant is named by its module, the function holding it
and the change, never by a line number, so the list survives edits elsewhere.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "tools" / "mutants_equivalent.txt"

# The engine's tests, fastest and broadest first: most mutants die in the first file.
_ENGINE = (
    "tests/test_engine.py",
    "tests/test_mutants_engine.py",
    "tests/test_grad_semantics.py",
    "tests/test_ops.py",
    "tests/test_errors.py",
    "tests/test_engine_reliability.py",
    "tests/test_expressions.py",
    "tests/test_primitive.py",
    "tests/test_reliability.py",
    "tests/test_higher_order.py",
    "tests/test_forward.py",
    "tests/test_threads.py",
)
_FUNCTIONAL = (
    "tests/test_mutants_engine.py",
    "tests/test_numeric_grad.py",
    "tests/test_higher_order.py",
    "tests/test_engine.py",
    "tests/test_newton.py",
    "tests/test_engine_reliability.py",
    "tests/test_hostile_modes.py",
)
OPTIM_TESTS = (
    "tests/test_optim.py",
    "tests/test_optim_base.py",
    "tests/test_optim_edges.py",
    "tests/test_clip.py",
    "tests/test_lr_scheduler.py",
    "tests/test_newton.py",
    "tests/test_mutants_optim.py",
    "tests/test_hostile_state.py",
    "tests/test_grad_semantics.py",
)
TESTS: dict[str, tuple[str, ...]] = {
    "tapegrad/autograd/value.py": _ENGINE,
    "tapegrad/autograd/ops.py": (*_ENGINE, "tests/test_explain.py"),  # words, roles
    "tapegrad/autograd/engine.py": _ENGINE,
    "tapegrad/autograd/mathlib.py": (
        *_ENGINE,
        "tests/test_compile.py",
        "tests/test_compile_reliability.py",
        "tests/test_hostile_nan.py",
    ),
    "tapegrad/autograd/functional.py": _FUNCTIONAL,
    "tapegrad/autograd/check.py": (*_FUNCTIONAL, "tests/test_testing.py"),
}
ENGINE_CORE = tuple(TESTS)
QUICK = 2  # test files a mutant runs first, alone (see run_mutant)

_FLIPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitOr,
}
_DELETABLE = (ast.Assign, ast.AugAssign, ast.Expr, ast.Raise, ast.Assert, ast.Delete)


@dataclass(frozen=True)
class Mutant:
    """One change to one module: ``node`` is the index of the changed node in
    ``ast.walk`` order, ``variant`` which change of that node."""

    path: str
    node: int
    variant: int
    kind: str
    where: str  # the enclosing function or class, dotted
    line: int
    before: str
    after: str

    @property
    def name(self) -> str:
        """The mutant's name, without line numbers: path::where::before -> after."""
        return f"{self.path}::{self.where}::{self.before} -> {self.after}"


def _skipped(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: annotations, docstrings, ``if TYPE_CHECKING`` blocks
    and ``__slots__`` (changing them changes no behaviour a test could see), f-strings
    (their parts have no reliable source positions)."""
    skip: set[int] = set()

    def drop(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            drop(node.returns)
            for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
                drop(a.annotation)
            for a in (node.args.vararg, node.args.kwarg):
                if a is not None:
                    drop(a.annotation)
        elif isinstance(node, ast.AnnAssign):
            drop(node.annotation)
        elif (
            isinstance(node, ast.JoinedStr)
            or (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))
            or (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets)
            )
        ):
            drop(node)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                drop(body[0])
    return skip


def _owners(tree: ast.Module) -> dict[int, str]:
    """id of each node -> the dotted name of the function or class around it."""
    owner: dict[int, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = name
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = f"{name}.{child.name}" if name else child.name
            owner[id(child)] = inner or "<module>"
            visit(child, inner)

    visit(tree, "")
    return owner


def _changed_constant(value: object) -> object | None:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        bumped = value + 1.0
        return bumped if bumped - 1.0 == value else value * 2.0 if value else 1.0
    return None  # strings, bytes, None, Ellipsis: not numbers


def _variants(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """Each (kind, replacement) for ``node``; the replacement is a new node."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for flip in _FLIPS.get(type(op), ()):
                new = copy.deepcopy(node)
                new.ops[i] = flip()
                yield "comparison", new
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _SWAPS:
        new = copy.deepcopy(node)
        new.op = _SWAPS[type(node.op)]()
        yield "operator", new
    elif isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "operator", new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        # -1.0 is changed through its constant: dropping the minus too would repeat it.
        if not (isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)):
            yield "operator", copy.deepcopy(node.operand)
    elif isinstance(node, ast.Constant):
        changed = _changed_constant(node.value)
        if changed is not None:
            yield "constant", ast.Constant(changed)
    if (
        isinstance(node, ast.Return)
        and node.value is not None
        and not (isinstance(node.value, ast.Constant) and node.value.value is None)
    ):
        yield "return None", ast.Return(ast.Constant(None))
    if isinstance(node, _DELETABLE) and not (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    ):
        yield "statement deleted", ast.Pass()


_SOURCES: dict[str, str] = {}


def _source(path: str) -> str:
    """The module's source as it was when first read: edits during a run change nothing."""
    if path not in _SOURCES:
        _SOURCES[path] = (ROOT / path).read_text()
    return _SOURCES[path]


def mutants(path: str) -> list[Mutant]:
    """Every mutant of the module at ``path`` (relative to the checkout)."""
    source = _source(path)
    tree = ast.parse(source)
    skip, owner = _skipped(tree), _owners(tree)
    found: list[Mutant] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        before = _short(ast.unparse(node))
        for variant, (kind, new) in enumerate(_variants(node)):
            after = _short(ast.unparse(new))
            key = f"{owner.get(id(node))}::{before} -> {after}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:  # the same change again in the same function
                after += f"  #{seen[key]}"
            found.append(
                Mutant(
                    path,
                    index,
                    variant,
                    kind,
                    owner.get(id(node), "<module>"),
                    node.lineno,
                    before,
                    after,
                )
            )
    return found


def _short(code: str, width: int = 90) -> str:
    """``code`` on one line, cut to ``width`` characters."""
    line = " ".join(code.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def mutated_source(m: Mutant) -> str:
    """The module's source with mutant ``m`` applied, everything else as written."""
    source = _source(m.path)
    tree = ast.parse(source)
    node = list(ast.walk(tree))[m.node]
    new = list(_variants(node))[m.variant][1]
    lines = source.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: node.lineno - 1]) + _byte_col(
        lines, node.lineno, node.col_offset
    )
    end = sum(len(line) for line in lines[: node.end_lineno - 1]) + _byte_col(
        lines, node.end_lineno, node.end_col_offset
    )
    text = ast.unparse(new)
    if not isinstance(new, (ast.stmt,)):
        text = f"({text})"  # the replacement keeps its place whatever the precedence around
    result = source[:start] + text + source[end:]
    compile(result, m.path, "exec")  # a mutant that is not Python is a bug of this tool
    return result


def _byte_col(lines: list[str], lineno: int, col: int) -> int:
    """ast's column offsets count UTF-8 bytes; this is the same place in characters."""
    return len(lines[lineno - 1].encode()[:col].decode())


class Workspace:
    """Copies of the checkout under a temporary directory, one per job."""

    def __init__(self, jobs: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tapegrad-mutants-"))
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        files = [f for f in listed if f and (ROOT / f).is_file()]
        self.free: list[Path] = []
        for i in range(jobs):
            copy_root = self.root / f"job{i}"
            for f in files:
                target = copy_root / f
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / f, target)
            self.free.append(copy_root)
        self.lock = threading.Lock()

    def take(self) -> Path:
        with self.lock:
            return self.free.pop()

    def give(self, copy_root: Path) -> None:
        with self.lock:
            self.free.append(copy_root)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _pytest(copy_root: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float]:
    """Run ``tests`` in ``copy_root``: ("passed" | "failed" | "timeout", seconds)."""
    # Test files added to the checkout after the copy was made are not in it.
    tests = tuple(t for t in tests if (copy_root / t).exists())
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-seed=0",
        "-m",
        "not slow",
        # The examples of the page that reports the runs read the runs' records.
        "--deselect",
        "tests/test_readme.py::test_python_examples_run[docs/mutation.md]",
        *tests,
    ]
    # A fresh example database per run: hypothesis replays the examples that failed
    # before, and one a mutant made fail would otherwise fail every later mutant.
    database = tempfile.mkdtemp(prefix="hypothesis-", dir=copy_root.parent)
    env = {**os.environ, "PYTHONPATH": str(copy_root), "HYPOTHESIS_STORAGE_DIRECTORY": database}
    try:
        return _wait(command, copy_root, env, timeout)
    finally:
        shutil.rmtree(database, ignore_errors=True)


def _wait(command: list[str], copy_root: Path, env: dict, timeout: float) -> tuple[str, float]:
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=copy_root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the test run's own process group
        process.wait()
        return "timeout", time.perf_counter() - start
    # 0: all passed; 5: nothing collected (a deselected file), which kills nothing.
    return ("passed" if code in (0, 5) else "failed"), time.perf_counter() - start


def run_mutant(
    work: Workspace, m: Mutant, tests: tuple[str, ...], timeout: float
) -> tuple[str, float]:
    """Apply ``m`` in a free copy, run ``tests`` there, restore the copy."""
    copy_root = work.take()
    target = copy_root / m.path
    original = _source(m.path)
    cached = Path(importlib.util.cache_from_source(str(target)))
    try:
        # A bytecode cache of another mutant of the same size, written the same second,
        # would pass Python's freshness check: no cache for the mutated module.
        cached.unlink(missing_ok=True)
        target.write_text(mutated_source(m))
        if len(tests) <= QUICK:
            return _pytest(copy_root, tests, timeout)
        # Most mutants fail the first files: those alone first, the rest only if they
        # pass (collecting every file costs a killed mutant more than its tests do).
        outcome, first = _pytest(copy_root, tests[:QUICK], timeout)
        if outcome != "passed":
            return outcome, first
        outcome, rest = _pytest(copy_root, tests[QUICK:], max(1.0, timeout - first))
        return outcome, first + rest
    finally:
        target.write_text(original)
        cached.unlink(missing_ok=True)
        work.give(copy_root)


def tests_for(path: str) -> tuple[str, ...]:
    """The test files a mutant of ``path`` runs against first (those that exist)."""
    tests = OPTIM_TESTS if path.startswith("tapegrad/optim/") else TESTS.get(path, ("tests",))
    return tuple(t for t in tests if (ROOT / t).exists())


def _modules(names: list[str]) -> list[str]:
    """Module paths from names like ``value``, ``optim``, ``optim/adam`` or a path."""
    if not names:
        names = ["core", "optim"]
    paths: list[str] = []
    for name in names:
        if name == "core":
            paths += ENGINE_CORE
        elif name == "optim":
            paths += sorted(
                str(p.relative_to(ROOT))
                for p in (ROOT / "tapegrad" / "optim").glob("*.py")
                if p.name != "__init__.py"
            )
        elif (ROOT / name).is_file():
            paths.append(name)
        elif (ROOT / "tapegrad" / "autograd" / f"{name}.py").is_file():
            paths.append(f"tapegrad/autograd/{name}.py")
        elif (ROOT / "tapegrad" / f"{name}.py").is_file():
            paths.append(f"tapegrad/{name}.py")
        else:
            raise SystemExit(f"mutate: no module {name!r}")
    return list(dict.fromkeys(paths))


def _digest(path: str) -> str:
    return hashlib.sha256(_source(path).encode()).hexdigest()


def equivalent() -> dict[str, str]:
    """Mutant name -> why it is equivalent, from ``tools/mutants_equivalent.txt``:
    blocks of a name line and an indented reason line; # starts a comment line."""
    known: dict[str, str] = {}
    name = None
    for line in EQUIVALENT_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith((" ", "\t")):
            if name is None:
                raise SystemExit(f"mutate: a reason without a mutant: {line.strip()!r}")
            known[name] = line.strip()
            name = None
        else:
            name = line.rstrip()
    return known


def _each(work: Callable[[Mutant], None], ms: list[Mutant], jobs: int) -> None:
    """``work(m)`` for every mutant, ``jobs`` at a time; Ctrl-C cancels those not started."""
    pool = ThreadPoolExecutor(max(1, jobs))
    try:
        list(pool.map(work, ms))
    finally:
        pool.shutdown(cancel_futures=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        help="core, optim, a module name (value, mathlib, optim/adam) or a path; repeatable",
    )
    parser.add_argument("--limit", type=int, help="run only the first N mutants of each module")
    parser.add_argument(
        "--every", type=int, default=1, help="run every K-th mutant of each module (a sample)"
    )
    parser.add_argument("--only", help="run only mutants whose name contains this text")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds a mutant's module tests may take"
    )
    parser.add_argument(
        "--suite-timeout",
        type=float,
        default=900.0,
        help="seconds a survivor's run of the whole suite may take",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--no-confirm", action="store_true", help="do not re-run survivors against the whole suite"
    )
    parser.add_argument("--json", help="write every mutant's outcome to this file")
    parser.add_argument(
        "--resume",
        help="a --json file of an earlier run: its killed mutants of modules unchanged "
        "since are counted killed again, the others run",
    )
    args = parser.parse_args(argv)

    known = equivalent()
    selected: list[Mutant] = []
    for path in _modules(args.module):
        ms = [m for m in mutants(path)[:: args.every] if not args.only or args.only in m.name]
        selected += ms[: args.limit] if args.limit is not None else ms
    if args.list:
        for m in selected:
            print(f"{m.path}:{m.line} [{m.kind}] {m.where}: {m.before} -> {m.after}")
        print(f"{len(selected)} mutants")
        return 0

    todo = [m for m in selected if m.name not in known]
    skipped = len(selected) - len(todo)
    results: dict[Mutant, str] = {}
    hashes = {path: _digest(path) for path in dict.fromkeys(m.path for m in selected)}
    if args.resume:
        earlier = json.loads(Path(args.resume).read_text())
        dead = {
            e["name"]
            for e in earlier["mutants"]
            if e["outcome"] == "failed"  # a timeout runs again: the machine may have been busy
            and earlier["modules"].get(e["name"].split("::")[0]) == hashes[e["name"].split("::")[0]]
        }
        for m in todo:
            if m.name in dead:
                results[m] = "failed"
        todo = [m for m in todo if m not in results]
        print(
            f"{len(results)} mutants killed in {args.resume} (modules unchanged), {len(todo)} to run"
        )
    work = Workspace(max(1, args.jobs))
    try:
        for path in dict.fromkeys(m.path for m in todo):
            outcome, seconds = _pytest(work.free[0], tests_for(path), 600.0)
            if outcome != "passed":
                raise SystemExit(f"mutate: the tests of {path} fail without a mutant")
            print(f"{path}: tests pass unmutated in {seconds:.1f} s", flush=True)
        done = [0]

        def one(m: Mutant, tests: tuple[str, ...]) -> None:
            timeout = args.suite_timeout if tests == ("tests",) else args.timeout
            outcome, seconds = run_mutant(work, m, tests, timeout)
            results[m] = "survived" if outcome == "passed" else outcome
            done[0] += 1
            print(
                f"[{done[0]}/{len(todo)}] {results[m]:8} {seconds:5.1f} s  "
                f"{m.path}:{m.line} {m.before} -> {m.after}",
                flush=True,
            )

        _each(lambda m: one(m, tests_for(m.path)), todo, args.jobs)
        survivors = [m for m in todo if results[m] == "survived"]
        if survivors and not args.no_confirm:
            # The whole suite must pass unmutated first (a page's example reading a file
            # not yet written would otherwise kill every survivor).
            if _pytest(work.free[0], ("tests",), args.suite_timeout)[0] != "passed":
                raise SystemExit("mutate: the whole suite fails without a mutant")
            print(f"re-running {len(survivors)} survivors against the whole suite", flush=True)
            done[0] = 0
            todo = survivors
            _each(lambda m: one(m, ("tests",)), survivors, args.jobs)
        # A mutant's run must leave its copy as it found it (files written, caches):
        # the copies still pass unmutated, or every result above is in doubt.
        tests = tuple(dict.fromkeys(t for m in selected for t in tests_for(m.path)))
        for copy_root in work.free:
            if _pytest(copy_root, tests, 600.0)[0] != "passed":
                raise SystemExit("mutate: a copy of the checkout fails its tests after the run")
    finally:
        work.close()

    survivors = [m for m in selected if results.get(m) == "survived"]
    killed = sum(1 for r in results.values() if r != "survived")
    print()
    for path in dict.fromkeys(m.path for m in selected):
        mine = [m for m in selected if m.path == path and m in results]
        dead = sum(1 for m in mine if results[m] != "survived")
        print(f"{path}: {dead} of {len(mine)} killed")
    print()
    for m in survivors:
        print(f"survived: {m.path}:{m.line} {m.where}: {m.before} -> {m.after}")
    tested = len(results)
    score = 100.0 * killed / tested if tested else 100.0
    print(
        f"\n{len(selected)} mutants: {skipped} known equivalent (not run), {tested} run, "
        f"{killed} killed ({sum(1 for r in results.values() if r == 'timeout')} by the "
        f"timeout), {len(survivors)} survived; score {score:.1f}% of the non-equivalent"
    )
    if args.json:
        entries = [
            {
                "name": m.name,
                "line": m.line,
                "kind": m.kind,
                "outcome": results.get(m, "equivalent"),
            }
            for m in selected
        ]
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        record = {
            "command": " ".join(["python", "tools/mutate.py", *sys.argv[1:]]),
            "commit": commit,
            "modules": hashes,
            "mutants": entries,
        }
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
