"""search.atomic_fs: a file on local storage is whole or the previous one, even when its writer is killed;
Tune writes its experiment state through it; a state cut short by an older version is named, with what to do."""
from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pyarrow.fs
import pytest

from search.atomic_fs import AtomicLocalHandler, atomic_local_filesystem
from search.patient_fs import PatientHandler
from search.storage import tune_storage
from search.tune_state import saved_trials
from sensorium_models.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
KILLED_MID_FILE = """
import os, sys
import pyarrow.fs
from search.atomic_fs import atomic_local_filesystem
fs = atomic_local_filesystem() if sys.argv[2] == "atomic" else pyarrow.fs.LocalFileSystem()
out = fs.open_output_stream(sys.argv[1])
out.write(b'{"trial_data": [')
out.flush()
os.kill(os.getpid(), 9)  # as the driver's SIGKILL lands mid-copy
"""


def partials(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.partial"))


def test_a_file_is_replaced_only_when_its_stream_closes(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    out = atomic_local_filesystem().open_output_stream(str(target))
    out.write(b"new, ")
    assert target.read_text() == "old" and len(partials(tmp_path)) == 1
    out.write(b"whole")
    out.close()
    assert target.read_text() == "new, whole" and partials(tmp_path) == []


def test_tunes_folder_copy_writes_whole_files(tmp_path):
    source = tmp_path / "staging"
    (source / "trial_a").mkdir(parents=True)
    (source / "trial_a" / "result.json").write_bytes(b"x" * 3_000_000)
    (source / "experiment_state-1.json").write_text("{}")
    pyarrow.fs.copy_files(str(source), str(tmp_path / "storage"), source_filesystem=pyarrow.fs.LocalFileSystem(),
                          destination_filesystem=atomic_local_filesystem())
    assert (tmp_path / "storage" / "trial_a" / "result.json").read_bytes() == b"x" * 3_000_000
    assert (tmp_path / "storage" / "experiment_state-1.json").read_text() == "{}" and partials(tmp_path) == []


@pytest.mark.parametrize("filesystem, left", [("atomic", "the previous state"), ("plain", '{"trial_data": [')])
def test_a_writer_killed_mid_file_leaves_the_previous_file_whole(tmp_path, filesystem, left):
    target = tmp_path / "experiment_state-1.json"
    target.write_text("the previous state")
    proc = subprocess.run([sys.executable, "-c", KILLED_MID_FILE, str(target), filesystem], cwd=ROOT, timeout=60)
    assert proc.returncode == -9
    assert target.read_text() == left  # pyarrow's own LocalFileSystem ("plain") leaves it cut short


def test_a_local_folder_gets_the_atomic_filesystem_and_a_uri_the_patient_one(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # else pyarrow asks amazonaws.com for the region
    path, fs = tune_storage("/shared/searches")
    assert path == "/shared/searches" and isinstance(fs.handler, AtomicLocalHandler)
    path, fs = tune_storage("s3://bucket/searches")  # Tune wants the path in the bucket with its own filesystem
    assert path == "bucket/searches" and isinstance(fs.handler, PatientHandler)
    assert fs.handler.inner.type_name == "s3" and fs.handler.location == "s3://bucket/searches"


def test_a_cut_short_snapshot_is_named_with_what_to_do(tmp_path):
    newest = tmp_path / "experiment_state-2026-12-02_10-00-00.json"
    newest.write_text('{"trial_data": [["{\\"trial_id')
    with pytest.raises(UserError, match=f"{newest}: Tune's saved state is cut short .*launch it anew"):
        saved_trials(str(tmp_path))
    (tmp_path / "experiment_state-2026-12-01_09-00-00.json").write_text("{}")
    with pytest.raises(UserError, match="delete it to resume from the previous driver's snapshot "
                                        "experiment_state-2026-12-01_09-00-00.json"):
        saved_trials(str(tmp_path))


@pytest.mark.slow
def test_tune_writes_its_experiment_state_through_the_renames(ray_local, tmp_path, monkeypatch):
    from ray import tune

    written = []
    original = AtomicLocalHandler.open_output_stream

    def recording(self, path, metadata):
        written.append(PurePosixPath(path).name)
        return original(self, path, metadata)

    monkeypatch.setattr(AtomicLocalHandler, "open_output_stream", recording)  # the driver's uploads

    def reports(config):
        for step in range(2):
            tune.report({"score": step})

    storage = str(tmp_path / "storage")
    tuner = tune.Tuner(reports, run_config=tune.RunConfig(name="atomic", storage_path=storage, verbose=0,
                                                          storage_filesystem=tune_storage(storage)[1]))
    assert tuner.fit().num_errors == 0
    assert fnmatch.filter(written, "experiment_state-*.json")
    (trial,) = saved_trials(f"{storage}/atomic")
    assert trial.status == "TERMINATED" and partials(tmp_path) == []
