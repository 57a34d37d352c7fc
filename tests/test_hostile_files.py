"""``load()`` of drawn file kinds, sizes and contents.

Whatever the path names (a regular file of any bytes and size, a named pipe, a link
to a device, a directory, a socket, a dangling link), ``load`` returns at once: the
model loaded from a good file, or an error that says what the path is, with the
model unchanged.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import nn
from tapegrad.nn import module

KINDS = {
    "named pipe": lambda p: os.mkfifo(p),
    "link to /dev/zero": lambda p: p.symlink_to("/dev/zero"),
    "link to /dev/null": lambda p: p.symlink_to("/dev/null"),
    "directory": lambda p: p.mkdir(),
    "link to a directory": lambda p: p.symlink_to(p.parent),
    "dangling link": lambda p: p.symlink_to(p.parent / "nothing-here"),
    "socket": lambda p: _socket(p),
}
REFUSAL = {
    "named pipe": (ValueError, r"is not a regular file \(a named pipe\)"),
    "link to /dev/zero": (ValueError, r"is not a regular file \(a character device\)"),
    "link to /dev/null": (ValueError, r"is not a regular file \(a character device\)"),
    "directory": (ValueError, r"is not a regular file \(a directory\)"),
    "link to a directory": (ValueError, r"is not a regular file \(a directory\)"),
    "dangling link": (FileNotFoundError, "No such file or directory"),
    "socket": (ValueError, r"is not a regular file \(a socket\)"),
}


def _socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the file stays, with nobody listening


def _model():
    return nn.MLP(2, [2, 1], seed=3)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@settings(max_examples=len(KINDS) * 2)
@given(kind=st.sampled_from(sorted(KINDS)))
def test_load_of_a_path_that_is_not_a_regular_file_is_refused_at_once(kind):
    model = _model()
    before = model.state_dict()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        KINDS[kind](path)
        error, message = REFUSAL[kind]
        start = time.perf_counter()
        with pytest.raises(error, match=message):
            model.load(path)
        assert time.perf_counter() - start < 5.0
    assert model.state_dict() == before


@settings(max_examples=40)
@given(size=st.integers(0, 300), cap=st.integers(1, 200), byte=st.binary(min_size=1, max_size=1))
def test_load_refuses_a_file_above_the_size_cap_and_parses_nothing_else(size, cap, byte):
    model = _model()
    before = model.state_dict()
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "MAX_FILE_BYTES", cap)
        path = Path(folder) / "model.json"
        path.write_bytes(byte * size)
        with pytest.raises(ValueError) as caught:
            model.load(path)
    text = str(caught.value)
    if size > cap:
        assert text == (
            f"{str(path)!r} is {size:,} bytes; a model file has at most {cap:,} "
            "(tapegrad.nn.module.MAX_FILE_BYTES)"
        )
    else:  # read, then refused as what it is: not a model file
        assert "bytes; a model file has at most" not in text
    assert model.state_dict() == before


@settings(max_examples=40)
@given(cut=st.integers(0, 10_000), junk=st.binary(max_size=20))
def test_load_of_a_damaged_model_file_is_a_value_error_and_changes_nothing(cut, junk):
    model, other = _model(), nn.MLP(2, [2, 1], seed=4)
    before = model.state_dict()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        other.save(path)
        good = path.read_bytes()
        damaged = good[: cut % len(good)] + junk
        path.write_bytes(damaged)
        if damaged == good:
            assert model.load(path).state_dict() == other.state_dict()
            return
        try:
            model.load(path)
        except ValueError:
            assert model.state_dict() == before
        else:  # cut in the trailing whitespace, or junk that JSON ignores
            assert model.state_dict() == other.state_dict()
