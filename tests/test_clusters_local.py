"""A real two-node Ray cluster on loopback: work lands on both nodes, the Jobs API runs a job, nothing is left.

Drivers run in subprocesses with the cluster's client environment, as a user's would; the pytest process never
joins the cluster, so its own Ray state (other tests may run Ray in-process) is untouched.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from clusters import processes
from clusters.local_cluster import HEAD_IP, LocalCluster, worker_ip

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
    env = {**os.environ, **cluster.client_env()}
    done = subprocess.run([sys.executable, "-c", source], env=env, capture_output=True, text=True,
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
            seen["records"] = cluster.pids()
            raise BodyFailed
    assert sorted(seen["alive"].values()) == [HEAD_IP, worker_ip(0)]
    assert set(seen["ran_on"]) == set(seen["alive"])  # both node ids, and nothing else
    names = [r.name for r in seen["records"]]
    assert names.count("raylet") == 2 and names.count("gcs_server") == 1
    assert [r for r in seen["records"] if processes.find(r)] == []
    assert not cluster.state_path.exists()


@pytest.fixture(scope="module")
def cluster_with_dashboard():
    """Head and one worker, 1 CPU each, with the dashboard (Jobs API); afterwards no process of it is alive."""
    with LocalCluster(workers=1, cpus_per_node=1, dashboard=True) as cluster:
        records = cluster.pids()
        try:
            yield cluster
        finally:
            records += cluster.pids()
    assert [r for r in records if processes.find(r)] == []


def test_a_job_submitted_through_the_jobs_api_runs_and_its_logs_are_readable(cluster_with_dashboard):
    from ray.job_submission import JobStatus, JobSubmissionClient

    cluster = cluster_with_dashboard
    client = JobSubmissionClient(cluster.dashboard_url, headers=cluster.auth_headers())
    job_id = client.submit_job(
        entrypoint='python -c "import ray; ray.init(); print(\'CLUSTER\', ray.cluster_resources())"')
    deadline = time.monotonic() + 120
    while (status := client.get_job_status(job_id)) not in {JobStatus.SUCCEEDED, JobStatus.FAILED,
                                                             JobStatus.STOPPED}:
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(1)
    logs = client.get_job_logs(job_id)
    assert status == JobStatus.SUCCEEDED, logs
    line = next(line for line in logs.splitlines() if line.startswith("CLUSTER"))
    assert "'CPU': 2.0" in line and f"'node:{worker_ip(0)}': 1.0" in line
    assert client.get_job_info(job_id).entrypoint.startswith("python -c")
