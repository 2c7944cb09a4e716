"""A saved snapshot's trials keep the status Tune saved them with: `search status` shows a running trial as
RUNNING, where Tune's own restore (``Trial.from_json_state``) makes it PENDING, to run it again."""
from __future__ import annotations

import json

from search.results import trial_state
from search.tune_state import saved_trials


def write_snapshot(folder, statuses: dict[str, str]) -> None:
    """A snapshot as Tune writes it: each trial's ``get_json_state`` under its own file name pattern."""
    from ray.train._internal.storage import StorageContext
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune import PlacementGroupFactory
    from ray.tune.experiment import Trial

    trial_data = []
    for trial_id, status in statuses.items():
        storage = StorageContext(storage_path=str(folder), experiment_dir_name="exp", trial_dir_name=trial_id)
        trial = Trial("demo", stub=True, config={"lr": 0.01}, storage=storage, trial_id=trial_id,
                      placement_group_factory=PlacementGroupFactory([{"CPU": 1}]))
        trial.create_placement_group_factory()  # as Tune does when it adds the trial
        trial.set_status(status)
        trial_data.append(trial.get_json_state())
    (folder / "exp").mkdir(exist_ok=True)
    name = TuneController.CKPT_FILE_TMPL.format("2026-12-06_10-00-00")
    (folder / "exp" / name).write_text(json.dumps({"trial_data": trial_data}))


def test_a_running_trial_reads_back_running(tmp_path):
    write_snapshot(tmp_path, {"a": "RUNNING", "b": "PENDING", "c": "TERMINATED"})
    trials = saved_trials(str(tmp_path / "exp"))
    assert {t.trial_id: t.status for t in trials} == {"a": "RUNNING", "b": "PENDING", "c": "TERMINATED"}
    assert trial_state(trials[0]) == "RUNNING"
