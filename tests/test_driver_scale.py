"""The driver's per-trial work stays per-trial as a search grows (issue 26), and ``bench/driver_scale.py``
runs at CI size so it cannot rot.

What once made the driver quadratic in trials: the progress summary after every trial end decoded every
trial's config, and the checkpoint pruner rebuilt every trial of Tune's snapshot every 30 s. These tests
count that work instead of timing it.
"""
from __future__ import annotations

import io
import json
from collections import Counter
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from search_builders import tiny_space
from test_tune_state import write_snapshot

ROOT = Path(__file__).resolve().parents[1]


def tiny_spec(tmp_path: Path):
    from search.config import parse_spec
    from search.run import schemas

    return parse_spec(tiny_space(tmp_path / "data", tmp_path / "cache"), schemas(), "scale", "", check_paths=False)


def stub_trials(tmp_path: Path, spec, count: int) -> list:
    """``count`` ended trials as Tune holds them (stubs with a sampled config and a result)."""
    from ray.train._internal.storage import StorageContext
    from ray.tune import PlacementGroupFactory
    from ray.tune.experiment import Trial

    trials = []
    for i in range(count):
        config = {b: {k: (v.representatives()[0] if hasattr(v, "representatives") else v)
                      for k, v in spec.blocks[b].items()} for b in ("data", "model", "trainer")}
        storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="exp", trial_dir_name=f"t{i}")
        trial = Trial("demo", stub=True, config=config, storage=storage, trial_id=f"t{i:04d}",
                      placement_group_factory=PlacementGroupFactory([{"CPU": 1}]))
        trial.set_status("TERMINATED")
        trial.update_last_result({"training_iteration": 2, "val_corr": i / count})
        trials.append(trial)
    return trials


def test_the_summary_after_each_trial_end_decodes_no_config(tmp_path, monkeypatch):
    from search.config import SearchSpec
    from search.progress import ProgressPrinter

    spec = tiny_spec(tmp_path)
    trials = stub_trials(tmp_path, spec, 50)
    decoded = []
    original = SearchSpec.decode
    monkeypatch.setattr(SearchSpec, "decode", lambda self, config: decoded.append(1) or original(self, config))
    from search import terminal

    terminal.show()  # the driver's lines on stdout, as the CLI shows them
    printer = ProgressPrinter(spec)
    with redirect_stdout(io.StringIO()) as out:
        for trial in trials:
            printer.on_trial_complete(0, trials, trial)
    assert len(decoded) == 0  # was 50 per trial end: O(trials²) over a search
    assert "50 finished" in out.getvalue().splitlines()[-1]
    assert f"best val_corr {49 / 50:.4f} (t0049)" in out.getvalue().splitlines()[-1]


def test_reading_a_few_trials_of_a_snapshot_rebuilds_only_those(tmp_path, monkeypatch):
    from ray.tune.experiment import Trial

    from search.tune_state import saved_trials

    write_snapshot(tmp_path, {f"t{i}": "TERMINATED" if i % 2 else "RUNNING" for i in range(40)})
    rebuilt = []
    original = Trial.from_json_state.__func__
    monkeypatch.setattr(Trial, "from_json_state",
                        classmethod(lambda cls, *a, **k: rebuilt.append(1) or original(cls, *a, **k)))
    trials = saved_trials(str(tmp_path / "exp"), only={"t1", "t2", "t39"})
    assert sorted((t.trial_id, t.status) for t in trials) == [("t1", "TERMINATED"), ("t2", "RUNNING"),
                                                               ("t39", "TERMINATED")]
    assert len(rebuilt) == 3  # not 40
    assert len(saved_trials(str(tmp_path / "exp"))) == 40


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_driver_scale_bench_runs_at_ci_size(tmp_path):
    """16 trials × 4 at a time: launched, SIGKILLed once half ended, resumed to the end, then timed."""
    from search.run import SearchRecord, load_trials

    done = subprocess.run([sys.executable, "bench/driver_scale.py", "--quick", "--scratch", str(tmp_path / "cells"),
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=880)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (tmp_path / "driver_scale.md").read_text()
    assert "| 16 | 4 |" in table
    (row,) = json.loads((tmp_path / "cells" / "rows.json").read_text())
    figures, launch, resume = row["figures"], row["launch"], row["resume"]
    assert 8 <= launch["trials_ended_seen"] < 16  # killed at the midpoint, not after the end
    assert resume["times"]["tuner_restore"]  # the resume restored Tune's state rather than starting anew
    cell = tmp_path / "cells" / "cell-16x4"
    trials = load_trials(SearchRecord.read(cell / "runs", "scale"))
    assert len(trials) == 16 and all(t.status == "TERMINATED" for t in trials)
    assert figures["results"] >= sum(t.last_result["training_iteration"] for t in trials)
    assert figures["checkpoints"] == figures["results"]  # checkpoint_every 1: one per epoch
    assert len(launch["times"]["tpe_suggest"]) + len(resume["times"]["tpe_suggest"]) >= 16
    assert launch["counts"]["storage_state_files"] > 0 and launch["counts"]["storage_trial_files"] > 0
    assert figures["results_per_s_launch"] > 0 and figures["status_cli_s"] > 0 and figures["top_k_s"] > 0


def trial_with_checkpoints(tmp_path: Path, trial_id: str, status: str, count: int):
    """A trial as the driver holds it, with ``count`` checkpoints registered (no rotation) and on disk."""
    from ray.train import Checkpoint
    from ray.train._internal.session import _TrainingResult
    from ray.train._internal.storage import StorageContext
    from ray.tune import PlacementGroupFactory
    from ray.tune.experiment import Trial

    storage = StorageContext(storage_path=str(tmp_path), experiment_dir_name="exp", trial_dir_name=trial_id)
    trial = Trial("demo", stub=True, config={"lr": 0.01}, storage=storage, trial_id=trial_id,
                  placement_group_factory=PlacementGroupFactory([{"CPU": 1}]))
    trial.create_placement_group_factory()
    for epoch in range(count):
        folder = Path(storage.trial_fs_path) / f"checkpoint_{epoch:06d}"
        folder.mkdir(parents=True)
        trial.run_metadata.checkpoint_manager.register_checkpoint(_TrainingResult(
            Checkpoint(str(folder)), {"training_iteration": epoch + 1, "config": {"lr": 0.01}}))
    trial.set_status(status)
    return trial


def test_the_pruner_keeps_one_checkpoint_per_ended_trial_on_storage_and_in_the_snapshot(tmp_path):
    """An ended trial keeps its last checkpoint, on storage and in the state Tune writes into every
    snapshot; a running trial keeps them all. Without the second part each snapshot grew with every
    epoch of every trial."""
    from ray.tune.execution.tune_controller import TuneController

    from search.checkpoints import CheckpointPruner

    trials = [trial_with_checkpoints(tmp_path, "ended", "TERMINATED", 5),
              trial_with_checkpoints(tmp_path, "running", "RUNNING", 5)]
    name = TuneController.CKPT_FILE_TMPL.format("2026-12-06_10-00-00")
    (tmp_path / "exp" / name).write_text(json.dumps({"trial_data": [t.get_json_state() for t in trials]}))
    before = len(trials[0].get_json_state()[1])
    deleted = CheckpointPruner().prune(trials)
    assert sorted(Path(p).name for p in deleted) == [f"checkpoint_{e:06d}" for e in range(4)]
    assert sorted(p.name for p in (tmp_path / "exp" / "ended").iterdir()) == ["checkpoint_000004"]
    assert len(list((tmp_path / "exp" / "running").iterdir())) == 5
    ended, running = (t.run_metadata.checkpoint_manager.best_checkpoint_results for t in trials)
    assert [Path(r.checkpoint.path).name for r in ended] == ["checkpoint_000004"] and len(running) == 5
    assert Path(trials[0].checkpoint.path).name == "checkpoint_000004"
    state = trials[0].get_json_state()[1]  # what the next snapshot holds for it
    assert len(state) < before
    assert CheckpointPruner().prune(trials) == []  # nothing more to delete: nothing was deleted twice


class CountingClient:
    """A real MlflowClient whose calls are counted by name, and whose next create_run can lose its answer
    (the run is made, then the call fails, as when the connection drops after the server acted)."""

    def __init__(self, uri: str):
        from mlflow import MlflowClient

        self.client = MlflowClient(uri)
        self.calls: Counter = Counter()
        self.lose_next_answer = False

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def counted(*args, **kwargs):
            self.calls[name] += 1
            result = method(*args, **kwargs)
            if name == "create_run" and self.lose_next_answer:
                self.lose_next_answer = False
                raise ConnectionError("answer lost")
            return result
        return counted

    @property
    def searches(self) -> int:
        return self.calls["search_runs"]


def test_trial_runs_are_listed_once_not_searched_per_trial(tmp_path):
    """One listing finds a resumed search's runs; a new trial's run is then created without a search, except
    after a creation whose answer was lost, which must find the run it made rather than make a second."""
    from search.trial_runs import TrialRuns

    spec = tiny_spec(tmp_path)
    config = stub_trials(tmp_path, spec, 1)[0].config
    client = CountingClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("scale", artifact_location=(tmp_path / "artifacts").as_uri())
    parent = client.create_run(experiment).info.run_id
    runs = TrialRuns(client, experiment, parent, spec)
    for i in range(30):
        runs.set_state(f"t{i}", config, "RUNNING", "RUNNING")
    assert client.searches == 1  # the first listing; was one search per trial
    client.lose_next_answer = True
    with pytest.raises(ConnectionError):
        runs.set_state("lost", config, "RUNNING", "RUNNING")
    runs.set_state("lost", config, "RUNNING", "RUNNING")  # the writer's retry
    assert client.searches == 2
    resumed = TrialRuns(client, experiment, parent, spec)  # a resumed driver: finds every run by one listing
    for i in range(30):
        resumed.log(f"t{i}", config, [])
    resumed.log("new", config, [])
    assert client.searches == 3
    children = resumed.children()
    assert len(children) == 32 and len({r.data.tags["trial_id"] for r in children}) == 32
    assert all(r.data.params for r in children)


def test_a_resume_sync_asks_mlflow_nothing_for_trials_whose_runs_it_holds_ended(tmp_path):
    """Resuming syncs MLflow from storage first; a trial whose run already ended in its final state (the
    tracker's last write for it, after all its others) costs no request, where each cost one per metric."""
    from search.mlflow_sync import backfill, read_results
    from search.trial_runs import TrialRuns, end_tags, result_metrics

    spec = tiny_spec(tmp_path)
    trials = stub_trials(tmp_path, spec, 12)
    for trial in trials:
        folder = Path(trial.storage.trial_fs_path)
        folder.mkdir(parents=True)
        (folder / "result.json").write_text("".join(json.dumps({**trial.last_result, "training_iteration": e,
                                                                "timestamp": 1000 + e}) + "\n" for e in (1, 2)))
    client = CountingClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("scale", artifact_location=(tmp_path / "artifacts").as_uri())
    parent = client.create_run(experiment).info.run_id
    live = TrialRuns(client, experiment, parent, spec)
    results = {t.trial_id: read_results(t) for t in trials}
    for trial in trials[:10]:  # as the tracker writes them: the epochs, then the end
        for result in results[trial.trial_id].values():
            live.log(trial.trial_id, trial.config, result_metrics(result))
        live.set_state(trial.trial_id, trial.config, "FINISHED", "FINISHED", **end_tags(trial, "FINISHED"))
    for trial in trials[10:]:  # ended while the server was away: the run stayed RUNNING, its metrics unlogged
        live.set_state(trial.trial_id, trial.config, "RUNNING", "RUNNING")
    client.calls.clear()
    synced = backfill(client, TrialRuns(client, experiment, parent, spec), spec, trials)
    keys = len(result_metrics(trials[0].last_result))
    assert (synced.runs, synced.epochs) == (12, 4)
    assert client.calls["get_metric_history"] == 2 * keys  # the two unfinished runs only
    assert client.calls["set_terminated"] == 2 + 1  # theirs, and the parent's
    runs = TrialRuns(client, experiment, parent, spec).children()
    assert {(r.info.status, r.data.tags["state"]) for r in runs} == {("FINISHED", "FINISHED")}
    assert all(len(client.get_metric_history(r.info.run_id, "val_corr")) == 2
               for r in runs if r.data.tags["trial_id"] in {t.trial_id for t in trials[10:]})
