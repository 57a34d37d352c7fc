"""The install contract: one import root, ``tapegrad``, that lives beside HIPS autograd.

The slow test builds fresh virtual environments (no system site-packages), installs
HIPS ``autograd`` (PyPI's package of that name) first, then this project with
``pip install .`` and ``pip install -e .``, and checks that both packages import and
compute and that nothing but ``tapegrad`` lands at the top of site-packages. It needs
pip to reach a package index for numpy, graphviz, autograd and setuptools: without
one it skips, unless the ``CI`` variable is set (then it fails).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What an install of tapegrad may add at the top of site-packages: the package, its
# metadata, and an editable install's path hook (a .pth and the finder it imports).
OURS = re.compile(
    r"tapegrad|tapegrad-[^-]+\.dist-info|__editable__\.tapegrad-[^-]+\.pth"
    r"|__editable___tapegrad_\w+_finder\.py"
)
# Runs in the fresh venv, from a folder outside the repository (so that the clone's
# own autograd/ folder cannot be imported by accident). argv[1]: where tapegrad must be.
CHECKS = r"""
import importlib.util, math, sys
from pathlib import Path

import autograd, autograd.numpy as anp
assert Path(autograd.__file__).parent.parent.name == "site-packages", autograd.__file__
assert autograd.grad(anp.sin)(0.5) == math.cos(0.5), "HIPS autograd differentiates np.sin"
assert not hasattr(autograd, "Value"), "autograd is HIPS's, not ours"

import tapegrad
from tapegrad import Value, grad, hessian, gradcheck, draw_graph, compile, no_grad, nn, optim
import tapegrad.nn.functional as F
assert Path(tapegrad.__file__).resolve().parent == Path(sys.argv[1]).resolve(), tapegrad.__file__
for name in ("nn", "optim", "demos", "benchmarks", "tests"):
    assert importlib.util.find_spec(name) is None, f"a top-level {name!r} is importable"

a, b = Value(2.0), Value(-3.0)
c = a * b + a.exp()
c.backward()
assert (a.grad, b.grad) == (-3.0 + math.exp(2.0), 2.0), (a.grad, b.grad)
assert list(grad(a * a * a, [a])) == [12.0]
assert hessian(lambda v: v[0] * v[0] * v[1], [2.0, -3.0]) == [[-6.0, 4.0], [4.0, 0.0]]
assert gradcheck(lambda v: (v[0] * v[1]).tanh(), [0.3, -0.7])
assert draw_graph(c).source.count("->") >= 4  # a, b, a * b, exp(a), their sum
with no_grad():
    assert (a * b).parents == ()

model = nn.MLP(2, [3, 1], seed=0)
X, y = [[0.5, -1.0], [1.5, 2.0]], [1.0, -1.0]
eager = F.mse_loss([model(x)[0] for x in X], y)
step = compile(lambda x, t: (model(x)[0] - t) ** 2, model.parameters())  # mean over the batch
import numpy as np
assert abs(step(np.array(X), np.array(y)) - eager.data) < 1e-12
before = [p.data for p in model.parameters()]
optim.SGD(model.parameters(), lr=0.1).step()
assert [p.data for p in model.parameters()] != before

# Without the "testing" extra (hypothesis), check_grads works and the strategies say
# what to install.
tapegrad.testing.check_grads(lambda x, y: (x * y).sin(), [0.3, -0.7])
try:
    import tapegrad.testing.strategies
except ImportError as error:
    assert 'pip install "tapegrad[testing]"' in str(error), error
else:
    raise AssertionError("the strategies imported without hypothesis")
print("ok")
"""


# mypy, run outside the clone, must find the installed package and its py.typed.
TYPED = "import tapegrad\nreveal_type(tapegrad.Value(1.0) + 2)\n"
# From the clone's root, `import autograd` is HIPS autograd, not a folder of ours.
HIPS_FROM_THE_CLONE = (
    "import autograd, pathlib; "
    "assert pathlib.Path(autograd.__file__).parent.parent.name == 'site-packages', autograd.__file__"
)


def test_folders_are_import_names():
    """No package-dir mapping: setuptools finds tapegrad/ and every subpackage as they
    are, so each folder of code under tapegrad/ must be a package (have __init__.py)."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    with open(ROOT / "pyproject.toml", "rb") as f:
        setuptools = tomllib.load(f)["tool"]["setuptools"]
    assert "package-dir" not in setuptools
    assert setuptools["packages"]["find"]["include"] == ["tapegrad*"]
    folders = {p.parent for p in (ROOT / "tapegrad").rglob("*.py")} - {ROOT / "tapegrad"}
    assert folders, "tapegrad/ has no subpackages"
    missing = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists())
    assert not missing, f"folders of code without __init__.py: {missing}"
    assert (ROOT / "tapegrad" / "py.typed").is_file()


def _run(args: list, cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _ok(result: subprocess.CompletedProcess, what: str) -> None:
    assert result.returncode == 0, (
        f"{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


def _top_level(site: Path) -> set[str]:
    """Names at the top of site-packages (and in its __pycache__)."""
    names = {p.name for p in site.iterdir()}
    cache = site / "__pycache__"
    if cache.is_dir():
        names |= {f"__pycache__/{p.name}" for p in cache.iterdir()}
    return names


def _not_ours(names: set[str]) -> list[str]:
    """The names that are not tapegrad's (a compiled editable finder in __pycache__ is)."""
    foreign = []
    for name in names - {"__pycache__"}:
        if name.startswith("__pycache__/"):
            ours = re.fullmatch(
                r"__editable___tapegrad_\w+_finder", name.split("/")[1].split(".")[0]
            )
        else:
            ours = OURS.fullmatch(name)
        if not ours:
            foreign.append(name)
    return sorted(foreign)


@pytest.mark.slow
def test_installs_beside_hips_autograd_editable_and_not(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    venv = tmp_path / "venv"
    _ok(_run([sys.executable, "-m", "venv", venv], tmp_path, env), "python -m venv")
    python = venv / "bin" / "python"
    pip = [python, "-m", "pip", "install", "-q", "--retries", "2", "--timeout", "60"]
    # HIPS autograd first (it brings numpy), then our dependencies and a build backend,
    # once: both installs of the project below then build without network.
    fetched = _run(
        [*pip, "autograd", "graphviz>=0.20", "numpy>=1.24", "setuptools>=77", "mypy"], tmp_path, env
    )
    if fetched.returncode != 0 and not os.environ.get("CI"):
        pytest.skip(f"pip could not install from the package index:\n{fetched.stderr[-1500:]}")
    _ok(fetched, "pip install autograd (HIPS) and the dependencies")
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            tmp_path,
            env,
        ).stdout.strip()
    )
    baseline = _top_level(site)
    # A copy of the clone, so that a build leaves no build/ or egg-info in the clone.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            ".hypothesis",
            "demo_output",
            ".venv",
            ".mypy_cache",
            ".ruff_cache",
            "site",
        ),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for mode, flags, where in (
        ("pip install .", [], site / "tapegrad"),
        ("pip install -e .", ["-e"], source / "tapegrad"),
    ):
        _ok(_run([*pip, "--no-build-isolation", *flags, source], tmp_path, env), mode)
        assert _not_ours(_top_level(site) - baseline) == [], mode
        checked = _run([python, "-c", CHECKS, where], elsewhere, env)
        _ok(checked, f"imports and numbers after {mode}")
        assert checked.stdout.strip() == "ok"
        typed = _run([python, "-m", "mypy", "--no-incremental", "-c", TYPED], elsewhere, env)
        _ok(typed, f"mypy after {mode}")
        assert 'Revealed type is "tapegrad.autograd.value.Value"' in typed.stdout, typed.stdout
        hips = _run([python, "-c", HIPS_FROM_THE_CLONE], source, env)
        _ok(hips, f"import autograd from the clone's root after {mode}")
        _ok(_run([python, "-m", "pip", "check"], tmp_path, env), f"pip check after {mode}")
        _ok(
            _run([python, "-m", "pip", "uninstall", "-y", "-q", "tapegrad"], tmp_path, env),
            f"pip uninstall after {mode}",
        )
        assert _top_level(site) - baseline <= {"__pycache__"}, f"left by {mode}"
