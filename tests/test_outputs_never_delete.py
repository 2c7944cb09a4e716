"""Outputs never delete what the tool did not write: a folder of the user's given as ``--out``/``-o`` is
refused with exit status 2 and left exactly as it was; a previous output of the same command is replaced."""
import os

import pytest

from search.cli import main
from sensorium_models.atomic import atomic_path
from sensorium_models.errors import UserError


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def users_folder(tmp_path):
    folder = tmp_path / "thesis"
    (folder / "chapters").mkdir(parents=True)
    (folder / "chapters" / "one.tex").write_text("months of work")
    (folder / "notes.txt").write_text("keep me")
    return folder


def _train_config(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(f"data: {{paths: [{tmp_path / 'no-data-needed'}]}}\n")
    return path


@pytest.mark.parametrize("command", ["train", "best"])
def test_a_users_folder_as_output_is_refused_and_untouched(tmp_path, users_folder, capsys, command):
    before = _tree(users_folder)
    argv = (["train", str(_train_config(tmp_path)), "--out", str(users_folder)] if command == "train"
            else ["search", "best", "absent", "--runs-dir", str(tmp_path / "runs"), "-o", str(users_folder)])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(users_folder) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _tree(users_folder) == before


def test_the_working_directory_is_never_an_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    config = _train_config(tmp_path)
    for out in (".", str(tmp_path), ".."):
        assert main(["train", str(config), "--out", out]) == 2
        assert "working directory" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "x" and config.exists()


def test_a_previous_output_is_replaced_whole_and_an_empty_folder_filled(tmp_path):
    out = tmp_path / "out"
    for content in ("first", "second"):
        with atomic_path(out) as tmp:
            tmp.mkdir()
            (tmp / "model.pt").write_text(content)
            (tmp / "scores.json").write_text(content)
    assert _tree(out) == {"model.pt": b"second", "scores.json": b"second"}
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_path(empty) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("a")
    assert _tree(empty) == {"a": b"a"}
    assert sorted(os.listdir(tmp_path)) == ["empty", "out"]  # no temporaries or set-aside folders left


def test_a_refused_write_leaves_no_temporary_and_a_file_never_replaces_a_folder(tmp_path, users_folder):
    before = _tree(users_folder)
    with pytest.raises(UserError, match="holds files this command did not write"):
        with atomic_path(users_folder) as tmp:
            tmp.mkdir()
            (tmp / "notes.txt").write_text("overwritten?")
    with pytest.raises(UserError, match="is a folder; expected a file"):
        with atomic_path(users_folder) as tmp:
            tmp.write_text("a file")
    assert _tree(users_folder) == before
    assert sorted(os.listdir(tmp_path)) == ["thesis"]
