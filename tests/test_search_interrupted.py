"""Ctrl-C right after launch prints "search NAME: ..." (before or as Tune starts) leaves a consistent state:
the parent MLflow run is not left RUNNING and `search resume NAME` runs the search to the end. A launch
killed outright in its first seconds (SIGKILL, no clean-up) is resumed too: its record is written first."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search_builders import mlflow_runs, run_cli, tiny_session, tiny_space, write_space

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def two_trial_search(tmp_path: Path) -> Path:
    session = tiny_session(tmp_path / "data")
    space = tiny_space(session.parent, tmp_path / "cache", num_samples=2)
    space["trainer"]["max_epochs"] = 2
    space["search"]["asha"]["max_t"] = 2
    return write_space(tmp_path / "tiny.yaml", space)


def start_launch(config: Path, runs: Path, **pipes) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search.cli", "search", "launch", str(config), "--runs-dir",
                             str(runs)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True, **pipes)


def test_ctrl_c_after_the_launch_line_then_resume_completes(ray_local, tmp_path):
    runs = tmp_path / "runs"
    proc = start_launch(two_trial_search(tmp_path), runs, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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


def test_a_launch_killed_in_its_first_checks_is_resumed_to_the_end(ray_local, tmp_path):
    """Killed (SIGKILL, no clean-up) as its data checks begin, before MLflow or Ray: the record is there."""
    runs, config = tmp_path / "runs", two_trial_search(tmp_path)
    cache = tmp_path / "cache"  # made by the first data check, which reads the session into it
    proc = start_launch(config, runs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not cache.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "launch ended before its data checks"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (runs / "searches" / "tiny" / "record.json").exists()
    assert (runs / "ray_results" / "tiny" / "sensorium-search" / "search.yaml").exists()  # the YAML on storage

    rc, out, err = run_cli("search", "resume", "tiny", "--runs-dir", str(runs))
    assert rc == 0, err
    assert "launch was interrupted before any trial; starting it now" in out and "search tiny done" in out
    (parent,) = mlflow_runs(runs, "search")
    assert parent.info.status == "FINISHED"
    assert len(mlflow_runs(runs, "trial")) == 2
