"""A real two-node Ray cluster on loopback: work lands on both nodes, a lost node's trials finish on the other,
and nothing the cluster started is left running, even when the test body fails.

Drivers run in subprocesses with the cluster's client environment, as a user's would; the pytest process never
joins the cluster, so its own Ray state (other tests may run Ray in-process) is untouched.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cluster_builders import driver_env, epochs_logged, start_search, trial_tags, wait_for_trial_on, write_search

from clusters import processes
from clusters.local_cluster import LocalCluster
from clusters.loopback import HEAD_IP, worker_ip

pytestmark = pytest.mark.slow

WHERE_TASKS_RAN = """
import json, time, ray
ray.init(address="auto")
@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def node_id():
    time.sleep(1.5)  # hold the node's only CPU, so the next task has to go to the other node
    return ray.get_runtime_context().get_node_id()
ran_on = ray.get([node_id.remote() for _ in range(4)])
alive = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
print(json.dumps({"ran_on": ran_on, "alive": alive}))
"""


def run_driver(cluster: LocalCluster, source: str, timeout_s: float = 120) -> dict:
    """Run ``source`` as a Ray driver against ``cluster``; return the JSON it prints last."""
    done = subprocess.run([sys.executable, "-c", source], env=driver_env(cluster), capture_output=True, text=True,
                          timeout=timeout_s)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class BodyFailed(Exception):
    """Raised on purpose inside a cluster's `with` block, standing in for a failing test body."""


def test_tasks_run_on_both_nodes_and_everything_stops_even_when_the_body_fails():
    seen: dict = {}
    with pytest.raises(BodyFailed):
        with LocalCluster(workers=1, cpus_per_node=1) as cluster:
            seen.update(run_driver(cluster, WHERE_TASKS_RAN))
            seen["records"] = cluster.running()
            raise BodyFailed
    assert sorted(seen["alive"].values()) == [HEAD_IP, worker_ip(0)]
    assert set(seen["ran_on"]) == set(seen["alive"])  # both node ids, and nothing else
    names = [r.name for r in seen["records"]]
    assert names.count("raylet") == 2 and names.count("gcs_server") == 1
    assert [r for r in seen["records"] if processes.find(r)] == []
    assert not cluster.state_path.exists()


EPOCHS = 200  # of the search whose worker node is killed


def test_a_worker_node_killed_mid_search_has_its_trials_finished_on_the_head(tmp_path):
    # Two trials run at once, one per node. The kill is timed by MLflow, which the driver writes behind Tune: under
    # load the writer lagged 18 of 20 epochs (of ~50 ms each) and the trial had ended before the kill. 200 epochs
    # keep the worker's trial running for seconds after MLflow shows its second epoch.
    config, runs = write_search(tmp_path, epochs=EPOCHS, samples=2, max_failures=3), tmp_path / "runs"
    with LocalCluster(workers=1, cpus_per_node=1) as cluster:
        search = start_search(cluster, config, runs)
        try:
            interrupted = wait_for_trial_on(runs, worker_ip(0), epochs=2, search=search)
            seen = len(epochs_logged(runs, interrupted["trial_id"]))
            killed = cluster.kill_worker(0)
            search.wait(timeout=300)
        finally:
            if search.poll() is None:
                search.kill()
                search.wait()
    log = (runs / "search.log").read_text()
    assert search.returncode == 0, log[-3000:]
    trials = {t["trial_id"]: t for t in trial_tags(runs)}
    assert len(trials) == 2 and {t["state"] for t in trials.values()} == {"FINISHED"}, trials
    moved = trials[interrupted["trial_id"]]
    assert moved["nodes"] == f"{worker_ip(0)},{HEAD_IP}" and moved["last_error"], moved
    # Resumed from a checkpoint, not from scratch: every epoch ran, and only the epoch in flight when the node
    # died or one whose checkpoint Tune had not yet registered ran twice. Once epoch k is in MLflow, epoch k-1's
    # checkpoint is registered, so nothing before the `seen`-th epoch may repeat.
    logged = epochs_logged(runs, moved["trial_id"])
    again = sorted(e for e in set(logged) if logged.count(e) > 1)
    assert sorted(set(logged)) == list(range(1, EPOCHS + 1)) and max(map(logged.count, logged)) <= 2, logged
    assert len(again) <= 2 and all(e >= seen for e in again), (seen, logged)
    assert all(t["node_ip"] == HEAD_IP for t in trials.values())  # the lost node ran nothing more
    assert "raylet" in {r.name for r in killed} and [r for r in killed if processes.find(r)] == []
