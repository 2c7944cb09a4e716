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
                   "RAY_AIR_NEW_OUTPUT": "1",                  # the user's choice stands
                   "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


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
