"""A tiny search for the cluster tests: one small static session on disk, a search YAML, and its MLflow trials.

The search is the real one (`python -m search.cli search launch`), driven from a subprocess as a user's shell
would, so the pytest process never joins a cluster.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from clusters.local_cluster import LocalCluster
from data_builders import static_parts, write

ROOT = Path(__file__).resolve().parents[1]


def write_search(folder: Path, epochs: int = 3, samples: int = 4, max_failures: int = 1, **resources) -> Path:
    """A 30-trial static session and a YAML searching two keys of a one-layer model; returns the YAML.
    ``resources`` are further ``search.resources`` keys (each trial asks for 1 CPU)."""
    session = write(static_parts(seed=0, neurons=7), folder / "data", "static")
    config = {
        "data": {"paths": [str(session)], "cache_dir": str(folder / "cache")},
        "model": {"hidden_channels": {"int": [2, 4]}, "layers": 1, "input_kern": 5, "hidden_kern": 3,
                  "grid_predictor_hidden_features": 4},
        "trainer": {"lr_init": {"loguniform": [1e-3, 1e-2]}, "batch_size": 8, "max_epochs": epochs,
                    "patience": epochs, "device": "cpu"},
        "search": {"metric": "val_corr", "num_samples": samples, "max_concurrent": 2, "max_failures": max_failures,
                   "asha": {"max_t": epochs}, "resources": {"cpus": 1, **resources}},  # GP: no early stopping
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def driver_env(cluster: LocalCluster) -> dict[str, str]:
    """The environment of a shell that drives ``cluster``: its client settings and this checkout."""
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    return {**os.environ, **cluster.client_env(), "PYTHONPATH": path}


def launch_command(config: Path, runs: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "search.cli", "search", "launch", str(config), "--address", address,
            "--runs-dir", str(runs)]


def start_search(cluster: LocalCluster, config: Path, runs: Path) -> subprocess.Popen:
    """`search launch` against the cluster's address, in the background; output goes to ``runs``/search.log."""
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs / "search.log", "wb") as log:
        return subprocess.Popen(launch_command(config, runs, cluster.address), env=driver_env(cluster),
                                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def _client(runs: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")


def _trial_runs(client) -> list:
    experiment = client.get_experiment_by_name("sensorium-search")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], "tags.role = 'trial'", max_results=1000)


def _epochs(client, run) -> list[int]:
    return sorted(int(m.value) for m in client.get_metric_history(run.info.run_id, "epoch"))


def trial_tags(runs: Path) -> list[dict[str, str]]:
    """The tags of every trial run the search wrote to MLflow (the sqlite store under ``runs``)."""
    return [run.data.tags for run in _trial_runs(_client(runs))] if (runs / "mlflow.db").exists() else []


def epochs_logged(runs: Path, trial_id: str) -> list[int]:
    """The epochs trial ``trial_id`` reported, sorted: a trial that restarted from scratch repeats some."""
    client = _client(runs)
    return _epochs(client, next(r for r in _trial_runs(client) if r.data.tags["trial_id"] == trial_id))


def wait_for_trial_on(runs: Path, node_ip: str, epochs: int, search: subprocess.Popen,
                      timeout_s: float = 120) -> dict[str, str]:
    """Block until a running trial has reported ``epochs`` epochs from ``node_ip`` to MLflow; return its tags.

    Tune processes a trial's results in order, so once epoch k is in MLflow, epoch k-1's checkpoint is
    registered. MLflow is read only once the search has printed its parent run: before that the driver may still
    be creating the sqlite store, and a second client would race it through the schema migration. Fails at once
    if the search ends or the trial finishes first (nothing would be left to interrupt).
    """
    log, deadline, client = runs / "search.log", time.monotonic() + timeout_s, None
    while time.monotonic() < deadline and search.poll() is None:
        if client is None and "(parent run " in log.read_text(errors="replace"):
            client = _client(runs)
        for run in _trial_runs(client) if client else []:
            tags = run.data.tags
            if tags.get("node_ip") != node_ip:
                continue
            assert tags.get("state") == "RUNNING", f"trial {tags['trial_id']} ended on {node_ip} before the kill"
            if len(_epochs(client, run)) >= epochs:
                return tags
        time.sleep(0.2)
    raise AssertionError(f"no trial reported {epochs} epochs from {node_ip} (search exit code {search.poll()}); "
                         "log:\n" + log.read_text(errors="replace")[-3000:])
