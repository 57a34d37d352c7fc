"""Model files under hostile conditions: permissions, links, killed saves, malicious JSON."""

import math
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading

import pytest

from tapegrad import nn
from tapegrad.nn import module


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "private.json"
    nn.MLP(2, [1], seed=0).save(path)
    os.chmod(path, 0o600)
    nn.MLP(2, [1], seed=1).save(path)
    assert _mode(path) == 0o600


def test_a_new_file_gets_the_mode_the_umask_gives(tmp_path):
    previous = os.umask(0o077)
    try:
        nn.MLP(2, [1], seed=0).save(tmp_path / "a.json")
        os.umask(0o002)
        nn.MLP(2, [1], seed=0).save(tmp_path / "b.json")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "a.json") == 0o600
    assert _mode(tmp_path / "b.json") == 0o664


def test_save_through_a_symbolic_link_writes_the_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "models" / "v3.json"
    target.parent.mkdir()
    link = tmp_path / "current.json"
    nn.MLP(2, [1], seed=0).save(target)
    link.symlink_to(target)
    model = nn.MLP(2, [1], seed=7)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    loaded = nn.MLP(2, [1], seed=0).load(target)
    assert loaded.state_dict() == model.state_dict()
    assert sorted(os.listdir(target.parent)) == ["v3.json"]


def _model_file(tmp_path, state_text: str):
    path = tmp_path / "model.json"
    path.write_text(
        '{"format": "tapegrad-module", "version": 1, "module": "MLP", "parameters": 3,\n'
        f' "state": {state_text}}}\n'
    )
    return path


@pytest.mark.parametrize(
    "state_text, match",
    [
        ("[" * 100_000 + "]" * 100_000, "its JSON cannot be read"),
        (
            '{"layers.0.neurons.0.w": [1, 2], "layers.0.neurons.0.b": 1' + "0" * 400 + "}",
            r"layers.0.neurons.0.b: expected a finite number, got 10{400}",
        ),
        (
            '{"layers.0.neurons.0.w": [1, 2], "layers.0.neurons.0.b": 1' + "0" * 5000 + "}",
            "its JSON cannot be read",
        ),
        (
            '{"layers.0.neurons.0.w": [1' + "0" * 400 + ', 2], "layers.0.neurons.0.b": 1}',
            "element 0 is 10{400}, not a finite number",
        ),
    ],
    ids=["nested 100,000 deep", "400-digit integer", "5,000-digit integer", "in a list"],
)
def test_malicious_json_is_a_value_error_and_changes_nothing(tmp_path, state_text, match):
    path = _model_file(tmp_path, state_text)
    model = nn.MLP(2, [1], seed=3)
    before = model.state_dict()
    with pytest.raises(ValueError, match=match):
        model.load(path)
    assert model.state_dict() == before


_SAVE_FOREVER = textwrap.dedent(
    """
    import os, sys
    from tapegrad import nn

    def stop_in_the_middle(fd):
        print("writing", flush=True)
        os.kill(os.getpid(), 9)     # killed after the temporary file exists, before the rename

    os.fsync = stop_in_the_middle
    nn.MLP(2, [4, 1], seed=0).save(sys.argv[1])
    """
)


def test_a_killed_save_leaves_a_recognisable_temporary_that_the_next_save_removes(tmp_path):
    path = tmp_path / "model.json"
    nn.MLP(2, [4, 1], seed=1).save(path)
    before = path.read_text()
    result = subprocess.run(
        [sys.executable, "-c", _SAVE_FOREVER, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    leftovers = sorted(set(os.listdir(tmp_path)) - {"model.json"})
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".model.json.") and leftovers[0].endswith(".tapegrad-save")
    assert path.read_text() == before  # the model itself is untouched
    nn.MLP(2, [4, 1], seed=2).save(path)
    assert os.listdir(tmp_path) == ["model.json"]


def test_a_save_leaves_temporaries_of_live_processes_and_other_files_alone(tmp_path):
    path = tmp_path / "model.json"
    mine_in_progress = tmp_path / f".model.json.{os.getpid()}.abc.tapegrad-save"
    unrelated = tmp_path / ".model.json.notes"
    other_model = tmp_path / ".other.json.999999999.abc.tapegrad-save"
    for f in (mine_in_progress, unrelated, other_model):
        f.write_text("x")
    nn.MLP(2, [1], seed=0).save(path)
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["model.json", mine_in_progress.name, unrelated.name, other_model.name]
    )


# --- what load reads -------------------------------------------------------------------


def test_load_refuses_a_link_to_a_device_without_reading_it(tmp_path):
    link = tmp_path / "model.json"
    link.symlink_to("/dev/zero")  # endless zeros: reading it whole never ends
    with pytest.raises(
        ValueError, match=r"model.json' is not a regular file \(a character device\)"
    ):
        nn.MLP(2, [1]).load(link)


def test_load_refuses_a_named_pipe_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "model.json"
    os.mkfifo(fifo)
    errors = []

    def load():
        try:
            nn.MLP(2, [1]).load(fifo)
        except ValueError as error:
            errors.append(str(error))

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(timeout=20)
    blocked = reader.is_alive()
    if blocked:  # a blocking open waits for a writer: be one, so that the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join()
    assert not blocked, "load() waited for a writer to open the pipe"
    assert errors == [
        f"{str(fifo)!r} is not a regular file (a named pipe); expected a tapegrad model file"
    ]


def test_load_refuses_a_directory(tmp_path):
    with pytest.raises(ValueError, match=r"is not a regular file \(a directory\)"):
        nn.read_model_file(tmp_path)


def test_load_refuses_a_file_too_large_for_a_model_before_reading_it(tmp_path):
    path = tmp_path / "model.json"
    with open(path, "wb") as f:
        f.truncate(3 * 2**30)  # 3 GiB of zeros in a sparse file: no disk, no time to write
    with pytest.raises(
        ValueError,
        match=r"is 3,221,225,472 bytes; a model file has at most 268,435,456 "
        r"\(tapegrad.nn.module.MAX_FILE_BYTES\)",
    ):
        nn.MLP(2, [1]).load(path)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_the_size_limit_counts_the_bytes_read_not_the_size_the_file_reports(monkeypatch):
    # Files of /proc report a size of 0 and hold more: the limit holds all the same.
    monkeypatch.setattr(module, "MAX_FILE_BYTES", 100)
    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(ValueError, match=r"'/proc/self/status' has more than 100 bytes"):
        nn.read_model_file("/proc/self/status")


def test_a_save_leaves_the_live_temporary_of_a_longer_name_alone(tmp_path):
    # ".ckpt.json.99999999.<pid>.<random>.tapegrad-save" is a save of ckpt.json.99999999
    # in progress, not one of ckpt.json by a dead process 99999999.
    other_save = tmp_path / f".ckpt.json.99999999.{os.getpid()}.k2x_9q0a.tapegrad-save"
    other_save.write_text("x")
    nn.MLP(2, [1], seed=0).save(tmp_path / "ckpt.json")
    assert sorted(os.listdir(tmp_path)) == sorted(["ckpt.json", other_save.name])


@pytest.mark.parametrize(
    "name",
    [
        ".model.json.999999999.k2x_9q0a.tapegrad-save",  # the exact shape: removed
        ".model.json.999999999.k2x_9q0.tapegrad-save",  # 7 random characters
        ".model.json.999999999.k2x.9q0a.tapegrad-save",
        ".model.json.999999999.K2X_9Q0A.tapegrad-save",  # mkstemp's are lower case
        ".model.json.+99999999.k2x_9q0a.tapegrad-save",
        ".model.json.999999999.k2x_9q0a.tapegrad-save.bak",
    ],
)
def test_only_the_exact_temporary_name_of_a_dead_save_is_removed(tmp_path, name):
    (tmp_path / name).write_text("x")
    nn.MLP(2, [1], seed=0).save(tmp_path / "model.json")
    removed = name not in os.listdir(tmp_path)
    assert removed == (name == ".model.json.999999999.k2x_9q0a.tapegrad-save")


def test_the_temporary_of_a_real_save_has_the_exact_shape(tmp_path, monkeypatch):
    seen = []

    def record(src, dst):
        seen.append(os.path.basename(src))
        raise OSError("stop before the rename")

    monkeypatch.setattr(os, "replace", record)
    with pytest.raises(OSError, match="stop before the rename"):
        nn.MLP(2, [1], seed=0).save(tmp_path / "model.json")
    assert len(seen) == 1
    assert re.fullmatch(rf"\.model\.json\.{os.getpid()}\.[a-z0-9_]{{8}}\.tapegrad-save", seen[0])


@pytest.mark.parametrize("version", ["true", "1.0", '"1"'])
def test_a_version_that_only_equals_1_is_refused(tmp_path, version):
    path = tmp_path / "model.json"
    nn.MLP(2, [1], seed=0).save(path)
    path.write_text(path.read_text().replace('"version": 1,', f'"version": {version},'))
    model = nn.MLP(2, [1], seed=3)
    with pytest.raises(
        ValueError, match=rf"has format version {re.escape(version)}; this tapegrad reads version 1"
    ):
        model.load(path)
    assert model.state_dict() == nn.MLP(2, [1], seed=3).state_dict()


def test_a_negative_running_variance_is_refused_naming_the_entry(tmp_path):
    path = tmp_path / "model.json"
    nn.BatchNorm1d(3).save(path)
    path.write_text(
        path.read_text().replace(
            '"running_var": [1.0, 1.0, 1.0]', '"running_var": [1.0, -0.5, 0.0]'
        )
    )
    bn = nn.BatchNorm1d(3)
    with pytest.raises(
        ValueError, match=r"running_var: element 1 is -0.5; a variance cannot be negative"
    ):
        bn.load(path)
    assert bn.running_var == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"running_var: element 1 is -0.5"):
        bn.load_state_dict({**bn.state_dict(), "running_var": [1.0, -0.5, 0.0]})
    bn.load_state_dict({**bn.state_dict(), "running_var": [1.0, 0.0, 0.0]})  # 0 is a variance
    assert bn.eval()([[1.0, 2.0, 3.0]])[0][1].data == pytest.approx(2.0 / math.sqrt(1e-5))
