"""Model files under hostile conditions: permissions, links, killed saves, malicious JSON."""

import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from tapegrad import nn


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
