"""search.environment: what is forced, what is only a default, and what depends on the Ray address."""
from __future__ import annotations

import os

import pytest

from search import environment

NAMES = ["RAY_USAGE_STATS_ENABLED", "RAY_AIR_NEW_OUTPUT", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
         "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE"]


@pytest.fixture
def clean(monkeypatch):
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_in_process_ray_is_loopback_only_and_reports_nothing(clean):
    clean.setenv("RAY_USAGE_STATS_ENABLED", "1")
    clean.setenv("RAY_AIR_NEW_OUTPUT", "1")
    environment.apply(None)
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"            # forced
    assert os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0"  # forced for an in-process node
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"                 # the user's choice stands
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
    assert "RAY_AUTH_MODE" not in os.environ


@pytest.mark.parametrize("address, auth", [("10.0.0.5:6379", "token"), ("auto", None)])
def test_joining_a_cluster_leaves_the_node_setting_alone(clean, address, auth):
    environment.apply(address)
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ
    assert os.environ.get("RAY_AUTH_MODE") == auth
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"


def test_a_users_auth_mode_is_kept(clean):
    clean.setenv("RAY_AUTH_MODE", "disabled")
    environment.apply("10.0.0.5:6379")
    assert os.environ["RAY_AUTH_MODE"] == "disabled"
