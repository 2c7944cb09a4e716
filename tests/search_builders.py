"""Tiny searches for the search tests: a session on disk, a search YAML over it, the CLI in-process."""
from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from sensorium_models.data.synthetic import synthesize

ROOT = Path(__file__).resolve().parents[1]


def tiny_session(folder: Path) -> Path:
    """The tiny synthetic static preset: one 240-trial, 40-neuron session (images 36x64 once scaled)."""
    (session,) = synthesize(folder, "static", "tiny")
    return session


def tiny_space(data: Path, cache: Path, **search) -> dict:
    """A search over four knobs of a small core; every trial trains up to 4 short epochs. TPE with ASHA, so
    that trials are stopped early and pruned; ``algorithm="gp"`` for the default searcher."""
    return {
        "data": {"paths": [str(data)], "cache_dir": str(cache)},
        "model": {"hidden_channels": {"choice": [4, 8]}, "layers": {"int": [1, 2]}, "input_kern": 5,
                  "hidden_kern": 3, "gamma_input": {"loguniform": [0.1, 10.0]}, "grid_predictor": False},
        "trainer": {"batch_size": 32, "lr_init": {"loguniform": [1e-3, 5e-2]}, "max_epochs": 4, "device": "cpu"},
        "search": {"metric": "val_corr", "num_samples": 6, "max_concurrent": 2, "seed": 0,
                   "algorithm": "tpe", "asha": {"grace_period": 1, "max_t": 4, "reduction_factor": 2}, **search},
    }


def write_space(path: Path, space: dict) -> Path:
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``sensorium-search ARGV`` in this process: (exit status, stdout, stderr)."""
    from search.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def start_ui(runs: Path, stdout=subprocess.PIPE, attempts: int = 3) -> tuple[subprocess.Popen, str]:
    """``sensorium-search ui`` in a subprocess of its own session, answering on a free port: (process, URL).

    The server must be told its port, so one is picked (bound to port 0 and released) and handed over; if
    another process takes it in between, the UI exits instead of answering, and another port is tried.
    """
    from search.commands.ui import wait_healthy

    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, "-m", "search.cli", "ui", "--runs-dir", str(runs), "--port", str(port)],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": path}, stdout=stdout,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        if wait_healthy(url, proc, timeout_s=180):
            return proc, url
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"sensorium-search ui did not answer on {url} within 180 s")
    raise AssertionError(f"sensorium-search ui exited {attempts} times before answering (ports taken?)")


def mlflow_runs(runs: Path, role: str, tracking_uri: str | None = None) -> list:
    """The active MLflow runs of one role ("search" or "trial") in the project's store (or ``tracking_uri``)."""
    from mlflow import MlflowClient

    from search.tracking import EXPERIMENT, default_tracking_uri

    client = MlflowClient(tracking_uri or default_tracking_uri(runs))
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return list(client.search_runs([experiment.experiment_id], f"tags.role = '{role}'", max_results=1000))
