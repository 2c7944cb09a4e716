"""Tune's saved experiment state, read from storage (a folder or a URI): what a resume would restore.

Lighter than ``ExperimentAnalysis``, which also downloads every trial's result files: only the newest
experiment snapshot is read. Trials keep the status they were saved with (Tune's restore turns RUNNING into
PENDING, to run them again), so `search status` shows what ran when the snapshot was taken. Uses helpers
private to Ray (pinned at 2.60.0), the ones ``ExperimentAnalysis`` itself calls.
"""
from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import PurePosixPath

from sensorium_models.errors import UserError


def saved_trials(experiment_path: str, fs=None, only: set[str] | None = None) -> list | None:
    """The trials of the newest snapshot under ``experiment_path`` (on pyarrow filesystem ``fs`` if given,
    else the one the path names), or None when Tune saved none yet. With ``only``, just the trials of those
    ids are rebuilt (rebuilding one costs far more than reading its id; a snapshot holds every trial)."""
    from ray.train._internal.storage import get_fs_and_path
    from ray.tune.execution.experiment_state import _find_newest_experiment_checkpoint
    from ray.tune.experiment import Trial
    from ray.tune.utils.serialization import _loads_with_cloudpickle

    fs, fs_path = get_fs_and_path(experiment_path, storage_filesystem=fs)
    snapshot = _find_newest_experiment_checkpoint(fs_path, fs=fs)
    if snapshot is None:
        return None
    with fs.open_input_stream(snapshot) as f:
        text = f.readall()
    try:
        state = _loads_with_cloudpickle(text)
    except ValueError as err:  # json's JSONDecodeError: the file was cut short
        raise UserError(cut_short(snapshot, fs, err)) from None
    trials = []
    for trial_json, run_metadata in state["trial_data"]:
        saved = json.loads(trial_json)
        if only is not None and saved["trial_id"] not in only:
            continue
        trial = Trial.from_json_state(trial_json, stub=True)
        trial.status = saved["status"]  # as saved: restoring makes a RUNNING trial PENDING
        trial.restore_run_metadata(run_metadata)
        storage = copy.copy(trial.storage)  # where it is now, which need not be where it was written
        storage.storage_fs_path = PurePosixPath(fs_path).parent.as_posix()
        storage.storage_filesystem = fs
        storage.experiment_dir_name = PurePosixPath(fs_path).name
        trial.set_storage(storage)
        trials.append(trial)
    return trials


def cut_short(snapshot: str, fs, err: Exception) -> str:
    """What to do about a snapshot that does not parse, naming it and the one a resume would fall back to."""
    from ray.train._internal.storage import _list_at_fs_path
    from ray.tune.execution.tune_controller import TuneController

    folder, name = str(PurePosixPath(snapshot).parent), PurePosixPath(snapshot).name
    pattern = TuneController.CKPT_FILE_TMPL.format("*")  # what Tune itself lists
    older = sorted(n for n in _list_at_fs_path(fs, folder) if fnmatch.fnmatch(n, pattern) and n < name)
    fallback = (f"delete it to resume from the previous driver's snapshot {older[-1]} (trials since then run "
                "again), or launch the search anew" if older else "no earlier snapshot is there; launch it anew")
    return (f"{snapshot}: Tune's saved state is cut short ({err}); the driver most likely died while copying "
            f"it to storage (searches launched before the atomic storage writes copied it in place): {fallback}")
