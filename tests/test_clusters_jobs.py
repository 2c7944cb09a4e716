"""On one two-node loopback cluster with the dashboard: a Ray Job through the Jobs API, and the search run
against the cluster's address and as a Ray Job, with every trial's node recorded in MLflow.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from cluster_builders import ROOT, driver_env, launch_command, trial_tags, write_search

from clusters import processes
from clusters.local_cluster import LocalCluster
from clusters.loopback import HEAD_IP, worker_ip

pytestmark = pytest.mark.slow
BOTH_NODES = {HEAD_IP, worker_ip(0)}


@pytest.fixture(scope="module")
def cluster():
    """Head and one worker, 1 CPU each, with the dashboard; afterwards no process of it is alive."""
    with LocalCluster(workers=1, cpus_per_node=1, dashboard=True) as started:
        records = started.running()
        try:
            yield started
        finally:
            records += started.running()
    assert [r for r in records if processes.find(r)] == []


def run_job(cluster: LocalCluster, entrypoint: str, timeout_s: float = 240) -> tuple[str, str]:
    """Submit ``entrypoint`` through the Jobs API, wait for it to end; return its final status and logs."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(cluster.dashboard_url, headers=cluster.auth_headers())
    env = {"PYTHONPATH": driver_env(cluster)["PYTHONPATH"]}
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env={"env_vars": env})
    deadline = time.monotonic() + timeout_s
    while (status := client.get_job_status(job_id)) not in {JobStatus.SUCCEEDED, JobStatus.FAILED,
                                                             JobStatus.STOPPED}:
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(1)
    assert client.get_job_info(job_id).entrypoint == entrypoint
    return status, client.get_job_logs(job_id)


def test_a_job_submitted_through_the_jobs_api_runs_and_its_logs_are_readable(cluster):
    status, logs = run_job(
        cluster, 'python -c "import ray; ray.init(); print(\'CLUSTER\', ray.cluster_resources())"')
    assert status == "SUCCEEDED", logs
    line = next(line for line in logs.splitlines() if line.startswith("CLUSTER"))
    assert "'CPU': 2.0" in line and f"'node:{worker_ip(0)}': 1.0" in line


def test_search_against_the_cluster_address_runs_trials_on_both_nodes(cluster, tmp_path):
    config, runs = write_search(tmp_path, samples=2), tmp_path / "runs"
    done = subprocess.run(launch_command(config, runs, cluster.address), env=driver_env(cluster), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert f"Ray {cluster.address}" in done.stdout
    trials = trial_tags(runs)
    assert len(trials) == 2 and {t["state"] for t in trials} == {"FINISHED"}
    assert {t["node_ip"] for t in trials} == BOTH_NODES


def test_search_submitted_as_a_ray_job_runs_on_both_nodes_and_reports_through_the_job_logs(cluster, tmp_path):
    config, runs = write_search(tmp_path, samples=2), tmp_path / "runs"
    entrypoint = " ".join(launch_command(config, runs, "auto")).replace(sys.executable, "python")
    status, logs = run_job(cluster, entrypoint)
    assert status == "SUCCEEDED", logs[-3000:]
    assert "search tiny done: 0 running, 2 finished" in logs
    trials = trial_tags(runs)
    assert len(trials) == 2 and {t["node_ip"] for t in trials} == BOTH_NODES
