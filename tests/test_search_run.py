"""Searches end to end on real Ray (in-process, loopback), real Optuna and real MLflow (sqlite in tmp)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from search_builders import mlflow_runs, run_cli, start_ui, tiny_session, tiny_space, write_space

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished_search(ray_local, tmp_path_factory):
    """A 6-trial search, run once through the CLI; the tests below read what it left."""
    tmp = tmp_path_factory.mktemp("search")
    session = tiny_session(tmp / "data")
    optuna_url = f"sqlite:///{tmp / 'optuna.db'}"
    config = write_space(tmp / "tiny.yaml", tiny_space(session.parent, tmp / "cache", optuna_storage=optuna_url))
    rc, out, err = run_cli("search", "launch", str(config), "--runs-dir", str(tmp / "runs"))
    return {"rc": rc, "out": out, "err": err, "runs": tmp / "runs", "name": "tiny", "optuna_url": optuna_url}


def test_search_completes_with_asha_stops_and_every_trial_in_mlflow(finished_search):
    from ray.tune import ExperimentAnalysis

    assert finished_search["rc"] == 0, finished_search["err"]
    assert "search tiny done: 0 running" in finished_search["out"]
    # The hint is a command that works as printed: it names the --runs-dir the search was launched with.
    assert f"sensorium-search search best tiny --runs-dir {finished_search['runs']}\n" in finished_search["out"]
    assert "Configuration for experiment" not in finished_search["out"] and "tensorboard" not in finished_search["out"]
    trials = ExperimentAnalysis(str(finished_search["runs"] / "ray_results" / "tiny")).trials
    assert len(trials) == 6 and all(t.status == "TERMINATED" for t in trials)

    (parent,) = mlflow_runs(finished_search["runs"], "search")
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["ray_address"].startswith("127.0.0.1:")
    assert len(parent.data.tags["config_hash"]) == 12
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", head) and re.fullmatch(f"{head}(-dirty)?", parent.data.tags["git_commit"])
    assert "best_val_corr" in parent.data.metrics
    children = mlflow_runs(finished_search["runs"], "trial")
    assert sorted(r.data.tags["trial_id"] for r in children) == sorted(t.trial_id for t in trials)
    states = [r.data.tags["state"] for r in children]
    assert "EARLY_STOPPED" in states and set(states) <= {"FINISHED", "EARLY_STOPPED"}
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert {"val_corr", "loss", "best_val_corr"} <= set(run.data.metrics)
        system = {"system/cpu_utilization_percentage", "system/process_memory_megabytes"}  # sampled by the trial
        assert system <= set(run.data.metrics) and run.data.metrics["system/process_memory_megabytes"] > 50
        assert {"trainer.lr_init", "model.layers", "data.paths"} <= set(run.data.params)
        assert os.path.isdir(run.data.tags["checkpoint"])
    best = next(r for r in children if r.data.tags["trial_id"] == parent.data.tags["best_trial_id"])
    assert parent.data.metrics["best_val_corr"] == pytest.approx(max(r.data.metrics["best_val_corr"] for r in children))
    assert best.info.run_id == parent.data.tags["best_run_id"]


def test_optuna_is_told_pruned_for_asha_stops_and_the_running_best_for_the_rest(finished_search):
    """Tune's own OptunaSearch would tell COMPLETE with the last epoch's value for every trial."""
    from optuna.trial import TrialState

    from search.run import SearchRecord, load_trials
    from search.searcher import PruningAwareOptunaSearch

    record = SearchRecord.read(finished_search["runs"], "tiny")
    searcher = PruningAwareOptunaSearch()
    searcher.restore_from_dir(record.experiment_path)
    told = {t._trial_id: t for t in searcher._ot_study.get_trials(deepcopy=False)}
    states = {}
    for trial in load_trials(record):
        frozen = told[searcher._ot_trials[trial.trial_id]._trial_id]
        epochs = trial.last_result["training_iteration"]
        best = trial.metric_analysis["val_corr"]["max"]
        states[trial.trial_id] = frozen.state
        if trial.last_result.get("stopped_early"):
            assert frozen.state == TrialState.PRUNED
            assert sorted(frozen.intermediate_values) == list(range(1, epochs + 1))  # the stopping epoch too
        else:
            assert frozen.state == TrialState.COMPLETE
        assert frozen.value == pytest.approx(best)  # the running best, whichever epoch held it
    assert set(states.values()) == {TrialState.PRUNED, TrialState.COMPLETE}, states


def test_the_default_gp_search_runs_every_trial_to_max_t_and_tells_optuna_each_running_best(ray_local, tmp_path):
    """The searcher `search launch` builds by default: GP after 10 random start-up trials, no early stopping."""
    import optuna
    from optuna.trial import TrialState

    from search.run import SearchRecord, load_trials
    from search.unseen import REPEAT_OF

    session = tiny_session(tmp_path / "data")
    space = tiny_space(session.parent, tmp_path / "cache", num_samples=12, max_concurrent=2,
                       optuna_storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    del space["search"]["algorithm"]
    space["search"]["asha"] = {"max_t": 3}  # below trainer.max_epochs (4): Tune's stop ends each trial there
    rc, out, err = run_cli("search", "launch", str(write_space(tmp_path / "gp.yaml", space)),
                           "--runs-dir", str(tmp_path / "runs"), "--name", "gp")
    assert rc == 0, err
    assert "search gp done: 0 running, 12 finished, 0 stopped early, 0 failed" in out
    record = SearchRecord.read(tmp_path / "runs", "gp")
    assert record.spec(check_paths=False).settings.algorithm == "gp"
    trials = load_trials(record)
    assert [t.last_result["training_iteration"] for t in trials] == [3] * 12
    study = optuna.load_study(study_name="gp", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    told = sorted(t.value for t in complete if REPEAT_OF not in t.user_attrs)  # a repeat's copy was not trained
    assert told == pytest.approx(sorted(t.metric_analysis["val_corr"]["max"] for t in trials))
    for copy in (t for t in complete if REPEAT_OF in t.user_attrs):
        assert (copy.params, copy.value) == (study.trials[copy.user_attrs[REPEAT_OF]].params,
                                             study.trials[copy.user_attrs[REPEAT_OF]].value)
    states = {r.data.tags["state"] for r in mlflow_runs(tmp_path / "runs", "trial")}
    assert states == {"FINISHED"}
    # The parent run shows what `search status` says of the last 10 proposals, and charts its share by trial.
    from mlflow import MlflowClient

    from search import api
    from search.tracking import default_tracking_uri

    (parent,) = mlflow_runs(tmp_path / "runs", "search")
    assert parent.data.tags["concentration"] == api.status("gp", runs_dir=tmp_path / "runs").concentration()
    history = MlflowClient(default_tracking_uri(tmp_path / "runs")).get_metric_history(parent.info.run_id,
                                                                                         "concentration")
    steps = [m.step for m in history]
    assert steps == sorted(set(steps)) and steps[0] >= 10 and steps[-1] == 12
    assert all(0.1 < m.value <= 1 for m in history)


def test_the_tpe_study_is_on_the_optuna_storage_for_the_dashboard(finished_search):
    """`search.optuna_storage`: what `optuna-dashboard <url>` reads, one trial per Tune trial, states as told."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name="tiny", storage=finished_search["optuna_url"])
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert len(states) == 6 and set(states) == {TrialState.PRUNED, TrialState.COMPLETE}, states
    from optuna_dashboard import wsgi
    from werkzeug.test import Client

    answer = Client(wsgi(finished_search["optuna_url"])).get("/api/studies")  # the dashboard's own API, in-process
    assert answer.status_code == 200 and [s["study_name"] for s in answer.get_json()["study_summaries"]] == ["tiny"]


def test_resuming_a_search_with_an_optuna_storage_keeps_its_one_study(finished_search):
    """The study exists by then: only a new search's launch refuses one already there."""
    import optuna

    rc, out, err = run_cli("search", "resume", "tiny", "--runs-dir", str(finished_search["runs"]))
    assert rc == 0, err
    assert "search tiny done: 0 running" in out and "Ray" not in out  # answered before starting Ray
    study = optuna.load_study(study_name="tiny", storage=finished_search["optuna_url"])
    assert len(study.get_trials(deepcopy=False)) == 6


def test_resuming_a_cut_short_state_stops_before_ray_and_names_the_file(finished_search, tmp_path):
    storage = tmp_path / "storage"
    shutil.copytree(finished_search["runs"] / "ray_results", storage)
    state = max((storage / "tiny").glob("experiment_state-*.json"))  # one per driver (the resume test ran one)
    state.write_bytes(state.read_bytes()[:1000])  # as an older version's copy left it when its driver died
    rc, out, err = run_cli("search", "resume", "tiny", "--storage", str(storage), "--runs-dir", str(tmp_path / "r"))
    assert rc == 2 and f"{state}: Tune's saved state is cut short" in err  # what to do: test_atomic_storage.py
    assert "resuming" not in out and "Traceback" not in err


def test_parent_run_holds_the_yaml_and_the_plots(finished_search):
    from mlflow import MlflowClient

    from search.tracking import default_tracking_uri

    (parent,) = mlflow_runs(finished_search["runs"], "search")
    client = MlflowClient(default_tracking_uri(finished_search["runs"]))
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert names == {"plots/optimization_history.png", "plots/param_importances.png", "plots/parallel_coordinate.png",
                     "plots/interactive.html"}
    page = Path(client.download_artifacts(parent.info.run_id, "plots/interactive.html")).read_text()
    assert page.count("Plotly.newPlot") == 3 and "parcoords" in page  # plotly.js embedded: no CDN to reach
    assert '<script src="http' not in page
    folder = client.download_artifacts(parent.info.run_id, "search.yaml")
    assert yaml.safe_load(Path(folder).read_text())["search"]["num_samples"] == 6


def test_status_table_and_best_yaml_ready_for_train(finished_search, tmp_path):
    from search.commands.train import read_train_config
    from search.config import block_schema
    from sensorium_models.compose import schemas

    runs = str(finished_search["runs"])
    rc, out, _ = run_cli("search", "status", "tiny", "--runs-dir", runs)
    assert rc == 0
    assert "EARLY_STOPPED" in out and "best val_corr" in out and "trainer.lr_init" in out
    rc, _, _ = run_cli("search", "best", "tiny", "--runs-dir", runs, "--output", str(tmp_path / "best.yaml"))
    assert rc == 0
    blocks = read_train_config(tmp_path / "best.yaml").blocks()
    for name in schemas():
        block_schema(schemas(), name, blocks[name]).model_validate(blocks[name])
    (parent,) = mlflow_runs(finished_search["runs"], "search")
    best_id = parent.data.tags["best_trial_id"]
    assert f"best trial {best_id}" in (tmp_path / "best.yaml").read_text()
    assert blocks["trainer"]["lr_init"] == pytest.approx(float(parent.data.tags["best.trainer.lr_init"]))


def test_launch_refuses_an_existing_name(finished_search):
    config = finished_search["runs"] / "ray_results" / "tiny" / "sensorium-search" / "search.yaml"
    rc, _, err = run_cli("search", "launch", str(config), "--name", "tiny", "--runs-dir", str(finished_search["runs"]))
    assert rc == 2 and "search 'tiny' exists" in err


def test_failed_trials_are_recorded_with_their_reason(ray_local, tmp_path):
    """A kernel larger than the image raises; a learning rate of 1e20 diverges. The search still completes,
    and exits 1 since every trial failed."""
    session = tiny_session(tmp_path / "data")
    space = tiny_space(session.parent, tmp_path / "cache", num_samples=2, max_failures=1, start_with=[
        {"model": {"input_kern": 37}, "trainer": {"lr_init": 0.01}},
        {"model": {"input_kern": 5}, "trainer": {"lr_init": 1.0e20}},
    ])
    space["model"].update(hidden_channels=4, layers=1, gamma_input=1.0, input_kern={"choice": [5, 37]})
    space["trainer"]["lr_init"] = {"choice": [0.01, 1.0e20]}
    rc, out, err = run_cli("search", "launch", str(write_space(tmp_path / "fail.yaml", space)),
                           "--runs-dir", str(tmp_path / "runs"))
    assert rc == 1 and "every trial failed; the first one's error: " in err, err
    runs = {(json.loads(r.data.params["model.input_kern"]), float(r.data.params["trainer.lr_init"])): r
            for r in mlflow_runs(tmp_path / "runs", "trial")}
    raised, diverged = runs[(37, 0.01)], runs[(5, 1.0e20)]
    for run in (raised, diverged):
        assert run.info.status == "FAILED" and run.data.tags["state"] == "FAILED"
    assert raised.data.tags["error"].startswith("RuntimeError: Calculated padded input size")
    assert "TrialDiverged: NonFiniteLoss: loss is nan in epoch 1" in diverged.data.tags["error"]
    assert diverged.data.tags["error"].endswith("(in an earlier attempt; not retrained)")  # the retry did not train
    assert f"trial {raised.data.tags['trial_id']} failed, retrying" in out  # max_failures=1
    assert "search fail done" in out
    (parent,) = mlflow_runs(tmp_path / "runs", "search")
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_failed"] >= 2


def test_ui_serves_the_trial_runs_over_rest(finished_search):
    proc, url = start_ui(finished_search["runs"])
    port = int(url.rsplit(":", 1)[1])
    try:
        assert proc.stdout.readline().startswith(f"MLflow UI: {url}")
        request = urllib.request.Request(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=sensorium-search")
        experiment = json.load(urllib.request.urlopen(request, timeout=30))["experiment"]
        body = json.dumps({"experiment_ids": [experiment["experiment_id"]], "filter": "tags.role = 'trial'",
                           "max_results": 100}).encode()
        request = urllib.request.Request(f"{url}/api/2.0/mlflow/runs/search", data=body,
                                         headers={"Content-Type": "application/json"})
        served = json.load(urllib.request.urlopen(request, timeout=30))["runs"]
        expected = {r.info.run_name for r in mlflow_runs(finished_search["runs"], "trial")}
        assert {r["info"]["run_name"] for r in served} == expected and len(expected) == 6
        proc.send_signal(signal.SIGTERM)  # the CLI alone: it must take its mlflow server down with it
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _serving(port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _serving(port), "the MLflow server outlived `sensorium-search ui` after SIGTERM"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the session it leads


def _serving(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_checkpoint_every_n_epochs_carries_the_running_best(ray_local, tmp_path):
    """``checkpoint_every: 2``: Tune registers checkpoints at epochs 2 and 4 only, each holding the objective
    a resumed trial continues from; once the trial ended only the last one is left on storage."""
    from search.run import SearchRecord, load_trials
    from search.trainable import RUNNING_BEST_FILE

    session = tiny_session(tmp_path / "data")
    space = tiny_space(session.parent, tmp_path / "cache", num_samples=1, max_concurrent=1, checkpoint_every=2)
    space["search"]["asha"] = {"grace_period": 4, "max_t": 4}
    rc, _, err = run_cli("search", "launch", str(write_space(tmp_path / "every2.yaml", space)),
                         "--runs-dir", str(tmp_path / "runs"))
    assert rc == 0, err
    (trial,) = load_trials(SearchRecord.read(tmp_path / "runs", "every2"))
    registered = trial.run_metadata.checkpoint_manager.best_checkpoint_results
    assert [r.metrics["epoch"] for r in registered] == [2, 4]
    best = trial.metric_analysis["val_corr"]["max"]  # over all four epochs
    assert registered[0].metrics["objective"] <= registered[1].metrics["objective"] == pytest.approx(best)
    (left,) = Path(trial.path).glob("checkpoint_*")
    assert json.loads((left / RUNNING_BEST_FILE).read_text()) == pytest.approx(best)
