"""tools/mutate.py, the mutation-testing tool: its mutants are the classes it promises,
each is valid Python that differs from the module in one place, and its list of
equivalent mutants names mutants that exist."""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mutate():
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
    tool = importlib.util.module_from_spec(spec)
    sys.modules["mutate"] = tool  # dataclasses look their module up by name
    spec.loader.exec_module(tool)
    yield tool
    del sys.modules["mutate"]


def test_the_mutants_of_a_module_are_the_promised_classes(mutate):
    found = mutate.mutants("tapegrad/autograd/mathlib.py")
    kinds = Counter(m.kind for m in found)
    assert set(kinds) == {"comparison", "operator", "constant", "statement deleted", "return None"}
    shown = {(m.where, m.before, m.after) for m in found}
    assert ("FloatMath.relu", "x <= 0.0", "x < 0.0") in shown
    assert ("FloatMath.relu", "x <= 0.0", "x > 0.0") in shown
    assert ("FloatMath.sigmoid", "1.0 + e", "1.0 - e") in shown
    assert ("FloatMath.pow_slope", "1.0", "2.0") in shown
    assert ("FloatMath.log", "return math.log(x)", "return None") in shown
    assert len({m.name for m in found}) == len(found)  # names tell every mutant apart


def test_each_mutant_is_valid_python_changed_in_one_place(mutate):
    path = "tapegrad/autograd/functional.py"
    original = (ROOT / path).read_text()
    for m in mutate.mutants(path):
        source = mutate.mutated_source(m)
        assert source != original
        assert ast.dump(ast.parse(source)) != ast.dump(ast.parse(original))
        changed = [
            i for i, (a, b) in enumerate(zip(source.splitlines(), original.splitlines())) if a != b
        ]
        assert len(changed) <= 1 or m.kind == "statement deleted", m


def test_docstrings_annotations_and_strings_are_not_mutated(mutate):
    for m in mutate.mutants("tapegrad/autograd/check.py"):
        assert not m.before.startswith(('"', "'")), m
        assert "Callable" not in m.before or m.kind == "statement deleted", m


def test_the_equivalent_mutants_exist_and_say_why(mutate):
    names = {m.name for path in mutate._modules(["core", "optim"]) for m in mutate.mutants(path)}
    known = mutate.equivalent()
    assert set(known) <= names, sorted(set(known) - names)
    assert all(reason for reason in known.values())
