"""search.environment: what is forced, what is only a default, and what depends on the Ray address.

Each test hands ``apply`` an environment of its own: applying a cluster address to this process's environment
and restoring it afterwards (monkeypatch) left the session's in-process Ray unable to start later (its GCS
refused the client's missing auth token).
"""
from __future__ import annotations

import pytest

from search import environment


def test_in_process_ray_is_loopback_only_and_reports_nothing():
    env = {"RAY_USAGE_STATS_ENABLED": "1", "RAY_AIR_NEW_OUTPUT": "1"}
    environment.apply(None, env)
    assert env == {"RAY_USAGE_STATS_ENABLED": "0",             # forced
                   "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",   # forced for an in-process node
                   "RAY_AUTH_MODE": "token",                   # Ray's own default, said: no notice at start
                   "MLFLOW_LOGGING_LEVEL": "WARNING",          # MLflow's INFO lines off, its warnings on
                   "RAY_AIR_NEW_OUTPUT": "1",                  # the user's choice stands
                   "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                   "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
                   "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",    # one request short: the tracker's writer retries
                   "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                   "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
                   "TUNE_FUNCTION_THREAD_TIMEOUT_S": "120",     # read by the trials' workers
                   "SENSORIUM_STORAGE_PATIENCE_S": "1800"}


@pytest.mark.parametrize("address, auth", [("10.0.0.5:6379", "token"), ("auto", None)])
def test_joining_a_cluster_leaves_the_node_setting_alone(address, auth):
    env = {}
    environment.apply(address, env)
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in env and env.get("RAY_AUTH_MODE") == auth
    assert env["RAY_AIR_NEW_OUTPUT"] == "0" and env["RAY_USAGE_STATS_ENABLED"] == "0"


def test_a_users_auth_mode_is_kept():
    env = {"RAY_AUTH_MODE": "disabled"}
    environment.apply("10.0.0.5:6379", env)
    assert env["RAY_AUTH_MODE"] == "disabled"


def test_worker_settings_follow_the_drivers_export():
    assert environment.worker_env({}) == {"TUNE_FUNCTION_THREAD_TIMEOUT_S": "120",
                                          "SENSORIUM_STORAGE_PATIENCE_S": "1800"}
    assert environment.worker_env({"TUNE_FUNCTION_THREAD_TIMEOUT_S": "5", "SENSORIUM_STORAGE_PATIENCE_S": "60"}) == {
        "TUNE_FUNCTION_THREAD_TIMEOUT_S": "5", "SENSORIUM_STORAGE_PATIENCE_S": "60"}


@pytest.mark.slow
def test_a_reused_worker_waits_for_a_slow_trial_teardown(ray_local, tmp_path):
    """With Tune's 2 s the second trial failed to reuse the worker ("reset_config() ... return True")."""
    from ray import tune

    def slow_teardown(config):  # defined here: pickled by value, so the workers need not import the tests
        import time

        try:
            for _ in range(5):
                tune.report({"score": config["x"]})
        finally:
            time.sleep(3)  # stopped early, the trial takes 3 s to end; Tune's own wait for it is 2 s

    tuner = tune.Tuner(slow_teardown, param_space={"x": tune.grid_search([1, 2])},
                       tune_config=tune.TuneConfig(max_concurrent_trials=1, reuse_actors=True),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0,
                                                 stop={"training_iteration": 2}))  # as ASHA stops trials
    results = tuner.fit()
    assert results.num_errors == 0 and sorted(r.metrics["score"] for r in results) == [1, 2]
