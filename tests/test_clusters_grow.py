"""A cluster that grows: a search launched on a head that offers no CPU (as the cloud recipes' heads) says
in one line what it waits for and keeps running, then finishes every trial on a worker that joins later:
one started by hand (``add_worker``), and one Ray's own autoscaler adds (clusters/loopback_autoscaler.py).
The driver runs in a subprocess, as a user's; the pytest process never joins the cluster."""
from __future__ import annotations

import time

import pytest
from cluster_builders import start_search, trial_tags, write_search

from clusters.local_cluster import LocalCluster
from clusters.loopback import worker_ip
from search.tune_state import saved_trials

pytestmark = pytest.mark.slow

WAITS = "search waits for the cluster to add a node with 1 CPU per trial (no live node offers that; {})"


def wait_for(condition, search, what: str, timeout_s: float = 120):
    """Poll ``condition()`` until it returns something true; fail if the search ends first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert search.poll() is None, f"the search ended (exit {search.returncode}) before {what}"
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout_s:.0f} s")


def running_in_snapshot(experiment: str) -> bool:
    try:
        return any(t.status == "RUNNING" for t in saved_trials(experiment) or [])
    except Exception:  # noqa: BLE001 - no experiment folder yet, or Tune replacing its state this instant
        return False


def search_until_grown(cluster: LocalCluster, tmp_path, waits: str, grow=lambda: None, **resources) -> list[dict]:
    """Launch a 2-trial search on ``cluster``; check it prints ``waits`` once and keeps running; ``grow()``;
    check a running trial reads back RUNNING from the snapshot (`search status`); return the trials' tags
    once it has finished with exit 0."""
    config, runs = write_search(tmp_path, epochs=6, samples=2, **resources), tmp_path / "runs"
    log = runs / "search.log"
    search = start_search(cluster, config, runs)
    try:
        wait_for(lambda: "(parent run " in log.read_text(errors="replace"), search, "the search started")
        time.sleep(3)  # it waits rather than exits
        assert search.poll() is None and waits in log.read_text().splitlines(), log.read_text()[-3000:]
        grow()
        wait_for(lambda: running_in_snapshot(str(runs / "ray_results" / "tiny")), search, "a running trial")
        search.wait(timeout=300)
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()
    text = log.read_text()
    assert search.returncode == 0, text[-3000:]
    assert sum(waits in line for line in text.splitlines()) == 1
    return trial_tags(runs)


@pytest.fixture
def snapshot_each_second(monkeypatch):
    """A Tune snapshot each second (the driver inherits it), so one catches a running trial."""
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "1")


@pytest.mark.timeout(420)
def test_a_search_waits_for_a_worker_added_after_launch_and_then_finishes_every_trial(tmp_path, snapshot_each_second):
    with LocalCluster(workers=0, head_cpus=0) as cluster:
        waits = WAITS.format("search.resources.autoscaling: true says the cluster adds nodes")
        trials = search_until_grown(cluster, tmp_path, waits, cluster.add_worker, autoscaling=True)
    assert len(trials) == 2 and {t["state"] for t in trials} == {"FINISHED"}, trials
    assert {t["node_ip"] for t in trials} == {worker_ip(0)}


@pytest.mark.timeout(420)
@pytest.mark.parametrize("v2", [False, True], ids=["autoscaler-v1", "autoscaler-v2"])
def test_rays_autoscaler_adds_the_node_a_search_waits_for(tmp_path, snapshot_each_second, monkeypatch, v2):
    if v2:
        monkeypatch.setenv("RAY_enable_autoscaler_v2", "1")  # the head's (and the driver's) environment
    with LocalCluster(workers=0, head_cpus=0,
                      autoscale={"cpu_worker": {"resources": {"CPU": 1}, "max_workers": 1}}) as cluster:
        trials = search_until_grown(cluster, tmp_path, WAITS.format(
            "the cluster's autoscaler adds nodes for waiting trials"))  # autoscaling: auto, the default
    assert len(trials) == 2 and {t["state"] for t in trials} == {"FINISHED"}, trials
    assert {t["node_ip"] for t in trials} == {worker_ip(0)}
