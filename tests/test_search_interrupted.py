"""Ctrl-C right after launch prints "search NAME: ..." (before or as Tune starts) leaves a consistent state:
the parent MLflow run is not left RUNNING and `search resume NAME` runs the search to the end."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from search_builders import mlflow_runs, run_cli, tiny_session, tiny_space, write_space

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_ctrl_c_after_the_launch_line_then_resume_completes(ray_local, tmp_path):
    session = tiny_session(tmp_path / "data")
    space = tiny_space(session.parent, tmp_path / "cache", num_samples=2)
    space["trainer"]["max_epochs"] = 2
    space["search"]["asha"]["max_t"] = 2
    config = write_space(tmp_path / "tiny.yaml", space)
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "search.cli", "search", "launch", str(config), "--runs-dir",
                             str(runs)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("search tiny:"):
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "sensorium-search search resume tiny" in out + err  # whichever moment the signal hit
    (parent,) = mlflow_runs(runs, "search")
    assert parent.info.status == "KILLED"

    rc, out, err = run_cli("search", "resume", "tiny", "--runs-dir", str(runs))
    assert rc == 0, err
    assert "search tiny done" in out
    (parent,) = mlflow_runs(runs, "search")
    assert parent.info.status == "FINISHED"
