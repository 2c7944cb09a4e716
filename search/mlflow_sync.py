"""Fill a search's MLflow runs from what Tune saved on storage: ``search sync``, and the start of a resume.

Tune's state and each trial's ``result.json`` outlive a tracking server that was away (the live tracker
gives up its pending writes when the search ends). From them every trial's run is found or created with
its params, every epoch's metrics that MLflow lacks are logged (per metric, only steps it does not hold,
so a second sync adds nothing), ended trials get their final state, and the parent run its summary.
A trial whose run MLflow already holds ended in the trial's final state is whole: that was the tracker's
last write for it, and its writes land in order. It is skipped without a request, so resuming a big
search costs requests for the trials the last driver left unfinished, not for every trial.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from search.config import SearchSpec
from search.results import EARLY_STOPPED, FAILED, FINISHED, search_finished, trial_rows, trial_state
from search.trial_runs import TrialRuns, end_tags, result_metrics

BATCH = 1000  # metrics per log_batch: MLflow's limit
ENDED = (FINISHED, EARLY_STOPPED, FAILED)


@dataclass
class Synced:
    runs: int = 0     # trial runs looked at (created when missing)
    epochs: int = 0   # epochs that had a metric missing, now logged
    stored: int = 0   # epochs on storage

    def line(self, name: str) -> str:
        return (f"search {name}: MLflow synced: {self.runs} trial runs, {self.epochs} epoch points added "
                f"({self.stored} epochs on storage)")


def read_results(trial) -> dict[int, dict]:
    """The trial's results from its ``result.json`` on storage, by epoch; a repeated epoch (run again after
    a resume from an earlier checkpoint) keeps its last result."""
    import pyarrow.fs

    fs, path = trial.storage.storage_filesystem, f"{trial.storage.trial_fs_path}/result.json"
    if fs.get_file_info(path).type == pyarrow.fs.FileType.NotFound:
        return {}
    with fs.open_input_stream(path) as f:
        lines = f.read().decode().splitlines()
    results = (json.loads(line) for line in lines if line.strip())
    return {int(r["training_iteration"]): r for r in results if "training_iteration" in r}


def backfill(client, runs: TrialRuns, spec: SearchSpec, trials) -> Synced:
    """Write what MLflow lacks of ``trials`` (Tune's saved trials) through ``client``."""
    synced = Synced()
    for trial in trials:
        state = trial_state(trial)
        if state in ENDED and runs.recorded_end(trial.trial_id) == state:
            synced.runs += 1
            synced.stored += int(trial.last_result.get("training_iteration", 0))
            continue
        results = read_results(trial)
        if not results and trial.status == "PENDING":
            continue  # never started: the tracker would not have a run for it either
        run_id = runs.run_id(trial.trial_id, trial.config)
        synced.runs += 1
        synced.stored += len(results)
        missing = _missing(client, run_id, results)
        synced.epochs += len({p.step for p in missing})
        for start in range(0, len(missing), BATCH):
            client.log_batch(run_id, metrics=missing[start:start + BATCH])
        if state in ENDED:
            runs.set_state(trial.trial_id, trial.config, state, "FAILED" if state == FAILED else "FINISHED",
                           **end_tags(trial, state))
    if trials:
        last = {t.trial_id: dict(t.last_result) for t in trials}
        runs.summarise(trial_rows(trials, spec), last)
    if search_finished(trials, spec.settings.num_samples):
        runs.drop_unknown({t.trial_id for t in trials})
        client.set_terminated(runs.parent_run_id, "FINISHED")
    return synced


def _missing(client, run_id: str, results: dict[int, dict]) -> list:
    """The metric points of ``results`` whose step MLflow does not hold for that metric."""
    points = [p for result in results.values() for p in result_metrics(result)]
    held = {key: {m.step for m in client.get_metric_history(run_id, key)} for key in {p.key for p in points}}
    return [p for p in points if p.step not in held[p.key]]
