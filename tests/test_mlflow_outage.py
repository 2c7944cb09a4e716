"""A tracking server that goes away mid-search costs the search nothing and loses no record: a real
``mlflow server`` on loopback is stopped at the search's first epoch (after MLflow shows it), for longer than
the client's own retries, and started again on the same port while trials still report; or left down
until the search ends, and filled in afterwards by ``search sync``."""
from __future__ import annotations

import functools
import time

import pytest
from ray import tune

from mlflow_server import MlflowServer
from search_builders import run_cli, tiny_session, tiny_space, write_space

pytestmark = pytest.mark.slow


class Outage(tune.Callback):
    """Stop the server once the first epoch is in MLflow; start it again ``restart_after`` results later."""

    def __init__(self, server: MlflowServer, restart_after: int | None = None):
        self.server, self.restart_after, self.results = server, restart_after, 0

    def __getstate__(self) -> dict:  # Tune pickles its callbacks; the server's process stays with the test
        return {**self.__dict__, "server": None}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        from search.mlflow_writer import writer_for

        self.results += 1
        if self.results == 1:
            writer, deadline = writer_for(self.server.uri), time.monotonic() + 120
            while writer.pending and time.monotonic() < deadline:  # the first epoch lands, then the server goes
                time.sleep(0.1)
            self.server.stop()
        elif self.restart_after is not None and self.results == 1 + self.restart_after:
            self.server.start()  # takes seconds: far past the client's retry window, the search still running


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """A tiny search: 4 trials, up to 3 epochs each; each trial reports at least once, 4 results at least."""
    tmp = tmp_path_factory.mktemp("outage")
    session = tiny_session(tmp / "data")
    return tiny_space(session.parent, tmp / "cache", num_samples=4,
                      asha={"grace_period": 1, "max_t": 3, "reduction_factor": 2}) | {
        "trainer": {"batch_size": 32, "lr_init": {"loguniform": [1e-3, 5e-2]}, "max_epochs": 3, "device": "cpu"}}


def search_under_outage(tmp_path, space, monkeypatch, server: MlflowServer, outage: Outage, wait_s: float):
    """``search launch`` with ``outage`` among Tune's callbacks; (exit status, stdout, stderr, runs folder)."""
    import search.run

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the client's own retry window: one try, 3 s
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    monkeypatch.setenv("SENSORIUM_MLFLOW_WAIT_S", str(wait_s))
    monkeypatch.setattr(search.run, "build_tuner", functools.partial(search.run.build_tuner, callbacks=[outage]))
    config = write_space(tmp_path / "tiny.yaml", space)
    runs = tmp_path / "runs"
    rc, out, err = run_cli("search", "launch", str(config), "--runs-dir", str(runs), "--mlflow-uri", server.uri)
    return rc, out, err, runs


def assert_every_epoch_in_mlflow(runs, uri: str) -> dict[str, int]:
    """Every trial's run holds one ``epoch`` point per epoch Tune recorded, and its final state; returns the
    number of points each trial's metrics hold, by trial id."""
    from mlflow import MlflowClient

    from search.results import trial_state
    from search.run import SearchRecord, load_trials
    from search.trial_runs import PARENT_TAG

    record = SearchRecord.read(runs, "tiny")
    client = MlflowClient(uri)
    children = client.search_runs([record.experiment_id], f"tags.`{PARENT_TAG}` = '{record.parent_run_id}'")
    by_trial = {r.data.tags["trial_id"]: r for r in children}
    trials = load_trials(record)
    assert sorted(by_trial) == sorted(t.trial_id for t in trials)
    points = {}
    for trial in trials:
        run, epochs = by_trial[trial.trial_id], trial.last_result["training_iteration"]
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "epoch")]
        assert sorted(steps) == list(range(1, epochs + 1)), (trial.trial_id, steps)
        assert run.data.tags["state"] == trial_state(trial) and run.info.status == "FINISHED"
        points[trial.trial_id] = sum(len(client.get_metric_history(run.info.run_id, k)) for k in run.data.metrics)
    parent = client.get_run(record.parent_run_id)
    assert parent.info.status == "FINISHED" and "best_val_corr" in parent.data.metrics
    return points


@pytest.mark.timeout(600)
def test_a_server_back_mid_search_gets_every_epoch_and_the_search_never_waits(ray_local, tmp_path, space,
                                                                               monkeypatch):
    with MlflowServer(tmp_path / "mlflow") as server:
        outage = Outage(server, restart_after=2)
        rc, out, err, runs = search_under_outage(tmp_path, space, monkeypatch, server, outage, wait_s=120)
        assert rc == 0, err
        assert outage.results >= 4  # results came after the server was back
        assert f"MLflow: {server.uri} unreachable" in err and f"MLflow: {server.uri} answers again" in err
        assert "MLflow is behind" not in out
        # One voice: none of MLflow's per-run URL banners or INFO lines, against a real tracking server.
        assert not any(banner in out + err for banner in ("View run", "View experiment", "INFO mlflow")), out + err
        assert_every_epoch_in_mlflow(runs, server.uri)


@pytest.mark.timeout(600)
def test_a_search_ending_while_the_server_is_down_exits_0_and_sync_fills_it_once(ray_local, tmp_path, space,
                                                                                  monkeypatch):
    server = MlflowServer(tmp_path / "mlflow").start()
    try:
        rc, out, err, runs = search_under_outage(tmp_path, space, monkeypatch, server, Outage(server), wait_s=3)
        assert rc == 0, err
        (behind,) = [line for line in out.splitlines() if "MLflow is behind" in line]
        assert behind.startswith("search tiny: MLflow is behind: ") and f"pending for {server.uri}" in behind
        assert behind.endswith(f"sensorium-search search sync tiny --storage {runs / 'ray_results'}")

        server.start()
        rc, out, err = run_cli("search", "sync", "tiny", "--runs-dir", str(runs))
        assert rc == 0, err
        assert out.startswith("search tiny: MLflow synced: 4 trial runs, ") and " 0 epoch points" not in out
        points = assert_every_epoch_in_mlflow(runs, server.uri)

        rc, again, err = run_cli("search", "sync", "tiny", "--runs-dir", str(runs))
        assert rc == 0 and ", 0 epoch points added" in again, (again, err)
        assert assert_every_epoch_in_mlflow(runs, server.uri) == points  # nothing logged twice
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_the_test_server_with_basic_auth_refuses_anonymous_clients(tmp_path, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with MlflowServer(tmp_path / "mlflow", auth=True) as server:
        with pytest.raises(MlflowException) as refused:
            MlflowClient(server.uri).create_experiment("anonymous")
        assert refused.value.get_http_status_code() == 401
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        assert MlflowClient(server.uri).create_experiment("admin's")
