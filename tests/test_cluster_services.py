"""The users' story end to end with real services, all on loopback: a two-node Ray cluster with token
authentication, an ``mlflow server`` over HTTP behind MLflow's basic-auth app, and object storage on a real
S3 endpoint (SeaweedFS). Launch with ``--storage s3://…`` and ``--mlflow-uri http://…`` → SIGKILL the driver
→ resume from a fresh runs folder with only those two → promote from another fresh folder. Everything the
search and the promotion leave is on the bucket and in the tracking server, nothing on the drivers' disks.

Every driver is a subprocess with a user's environment (the cluster's token, the bucket's keys, the tracking
server's login); every server is started here and ended by its PID.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs
import pytest
from cluster_builders import driver_env
from mlflow_server import MlflowServer
from search_builders import tiny_session, tiny_space, write_space

from clusters.local_cluster import LocalCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[1]
STORAGE = "s3://tune/e2e"
TRIALS, SEEDS, EPOCHS = 4, 2, 12


def cli(env: dict, log: Path, *argv: str) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "search.cli", *argv], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def finished(env: dict, log: Path, *argv: str, timeout_s: float = 600) -> str:
    """Run the CLI to its end; its output, after checking it exited 0."""
    proc = cli(env, log, *argv)
    try:
        proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    return text


def objects(s3, prefix: str) -> list[str]:
    found = s3.filesystem().get_file_info(pyarrow.fs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return [info.path[len(prefix) + 1:] for info in found if info.type == pyarrow.fs.FileType.File]


def trial_runs(client) -> list:
    experiment = client.get_experiment_by_name("sensorium-search")
    return [] if experiment is None else client.search_runs([experiment.experiment_id], "tags.role = 'trial'")


def test_launch_kill_resume_promote_on_a_cluster_with_a_tracking_server_and_a_bucket(s3_server, s3_env, tmp_path,
                                                                                     monkeypatch):
    from mlflow import MlflowClient

    session = tiny_session(tmp_path / "data")
    space = tiny_space(session.parent, tmp_path / "cache", num_samples=TRIALS, resources={"cpus": 1})
    # Trials long enough that the kill lands mid-search: no early stop, 12 epochs each.
    space["trainer"].update(max_epochs=EPOCHS, patience=EPOCHS)
    space["search"]["asha"].update(max_t=EPOCHS, grace_period=EPOCHS)
    config = write_space(tmp_path / "tiny.yaml", space)
    with MlflowServer(tmp_path / "mlflow", auth=True) as server, LocalCluster(workers=1, cpus_per_node=1) as cluster:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)  # for this test's own MLflow client
        env = {**driver_env(cluster), **s3_env, **server.env}
        connection = ["--storage", STORAGE, "--mlflow-uri", server.uri, "--address", cluster.address]
        client = MlflowClient(server.uri)

        launch = cli(env, tmp_path / "launch.log", "search", "launch", str(config), *connection,
                     "--runs-dir", str(tmp_path / "runs-launch"))
        try:  # killed once a trial has checkpointed its first epoch to the bucket, 11 epochs before its end
            deadline = time.monotonic() + 300
            while not any("/checkpoint_" in p for p in objects(s3_server, "tune/e2e/tiny")):
                assert launch.poll() is None, (tmp_path / "launch.log").read_text()[-4000:]
                assert time.monotonic() < deadline, (tmp_path / "launch.log").read_text()[-4000:]
                time.sleep(0.2)
            os.kill(launch.pid, signal.SIGKILL)  # the driver's machine is gone; the cluster and services live on
            launch.wait(timeout=30)
        finally:
            if launch.poll() is None:
                launch.kill()

        assert "search tiny done" not in (tmp_path / "launch.log").read_text()  # killed mid-search
        resumed = finished(env, tmp_path / "resume.log", "search", "resume", "tiny", *connection,
                           "--runs-dir", str(tmp_path / "runs-resume"))
        assert "search tiny: resuming from s3://tune/e2e/tiny" in resumed and "search tiny done" in resumed
        assert " started: " in resumed  # the resumed driver ran what the killed one left
        promoted = finished(env, tmp_path / "promote.log", "promote", "tiny", *connection, "--top-k", "1",
                            "--seeds", str(SEEDS), "--runs-dir", str(tmp_path / "runs-promote"))
        assert "registered as models:/tiny-ensemble@champion" in promoted, promoted[-3000:]

        # On the bucket: Tune's state, the search's record, every member and the submission files.
        stored = objects(s3_server, "tune/e2e/tiny")
        assert {"sensorium-search/record.json", "sensorium-search/search.yaml"} <= set(stored)
        assert any(p.startswith("experiment_state-") for p in stored)
        members = [p for p in stored if p.startswith("sensorium-search/promotion/members/") and p.endswith(
            "/member.json")]
        assert len(members) == SEEDS, stored
        submissions = [p for p in stored if "/promotion/submission/" in p and p.endswith(".csv")]
        assert sorted(Path(p).name for p in submissions) == ["submission_file_final_test.csv",
                                                             "submission_file_live_test.csv"], stored
        # Nothing of the search lives on the drivers' disks.
        for runs in ("runs-launch", "runs-resume", "runs-promote"):
            assert not list((tmp_path / runs).rglob("experiment_state-*.json"))
            assert not list((tmp_path / runs).rglob("member.json"))

        # In the tracking server: one run per trial (the resume reused the killed driver's), one per member.
        runs = trial_runs(client)
        assert len(runs) == TRIALS and len({r.data.tags["trial_id"] for r in runs}) == TRIALS
        assert {r.data.tags["state"] for r in runs} <= {"FINISHED", "EARLY_STOPPED"}
        experiment = client.get_experiment_by_name("sensorium-search").experiment_id
        member_runs = client.search_runs([experiment], "tags.role = 'promotion-member'")
        assert len(member_runs) == SEEDS and {r.info.status for r in member_runs} == {"FINISHED"}
        champion = client.get_model_version_by_alias("tiny-ensemble", "champion")
        assert champion.status == "READY"

        # The server refuses whoever has no login.
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
        with pytest.raises(Exception, match="401|Unauthorized|unauthorized"):
            MlflowClient(server.uri).search_experiments()
