"""A search whose driver is SIGKILLed mid-way, then resumed: it finishes, nothing completed runs again,
and MLflow ends with exactly one run per trial."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search_builders import mlflow_runs, run_cli, tiny_session, tiny_space, write_space

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ENDED = re.compile(r"trial (\w+) (finished|early stopped) after")
SAMPLES = 16  # enough that the search is still running when the first completed trial is saved
# Tune's error for a trial whose snapshot names a checkpoint it had already rotated out when the driver died
LOST_CHECKPOINT = "does not exist on storage anymore"


def wait_for_ended_trials(log: Path, proc: subprocess.Popen, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the search ended before it could be killed:\n{log.read_text()}"
        if len(ENDED.findall(log.read_text())) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {count} trials ended in {timeout_s} s:\n{log.read_text()}")


def wait_for_saved_completion(runs: Path, proc: subprocess.Popen, timeout_s: float) -> None:
    """Until Tune's saved experiment state (what resume reads) records a completed trial: only those are
    promised not to run again; the progress lines can run a few seconds ahead of Tune's snapshot."""
    from search.run import SearchRecord, load_trials

    record = SearchRecord.read(runs, "resumable")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the search ended before it could be killed"
        try:
            if any(t.status == "TERMINATED" for t in load_trials(record)):
                return
        except Exception:  # noqa: BLE001 - Tune may be rewriting its state file this instant; read again
            pass
        time.sleep(0.5)
    raise AssertionError(f"no completed trial in Tune's saved state within {timeout_s} s")


def end_process_group(pgid: int) -> None:
    """SIGKILL what is left of the session the test started (Ray's agents outlive a killed driver)."""
    for _ in range(60):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    raise AssertionError(f"process group {pgid} did not end")


def killed_search(tmp_path: Path) -> Path:
    """Launch a search in a child process and SIGKILL it once Tune has saved a completed trial."""
    session = tiny_session(tmp_path / "data")
    config = write_space(tmp_path / "resumable.yaml",
                         tiny_space(session.parent, tmp_path / "cache", num_samples=SAMPLES))
    runs, log = tmp_path / "runs", tmp_path / "launch.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "search.cli", "search", "launch", str(config), "--runs-dir", str(runs)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_for_ended_trials(log, proc, count=1, timeout_s=300)
        wait_for_saved_completion(runs, proc, timeout_s=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        end_process_group(proc.pid)
    return runs


def resume_to_the_end(runs: Path) -> tuple[str, list]:
    """``search resume``: it exits 0 with every trial completed but those Tune's race lost; returns what it
    printed and the trials as Tune saved them."""
    from search.results import error_reason
    from search.run import SearchRecord, load_trials

    rc, out, err = run_cli("search", "resume", "resumable", "--runs-dir", str(runs))
    assert rc == 0, err
    assert "search resumable done: 0 running" in out
    trials = load_trials(SearchRecord.read(runs, "resumable"))
    assert len(trials) == SAMPLES
    for trial in trials:  # the one failure allowed is Tune's own race (README, "Searching")
        assert trial.status == "TERMINATED" or LOST_CHECKPOINT in error_reason(trial), error_reason(trial)
    return out, trials


def test_killed_search_resumes_without_rerunning_or_duplicating(ray_local, tmp_path):
    from mlflow import MlflowClient

    from search.run import SearchRecord, load_trials
    from search.tracking import default_tracking_uri

    runs = killed_search(tmp_path)
    saved = load_trials(SearchRecord.read(runs, "resumable"))
    completed = {t.trial_id for t in saved if t.status == "TERMINATED"}
    assert 1 <= len(completed) < SAMPLES, [t.status for t in saved]
    client = MlflowClient(default_tracking_uri(runs))
    epochs_logged = {r.data.tags["trial_id"]: len(client.get_metric_history(r.info.run_id, "val_corr"))
                     for r in mlflow_runs(runs, "trial") if r.data.tags["trial_id"] in completed}

    out, trials = resume_to_the_end(runs)
    assert not set(re.findall(r"trial (\w+) started", out)) & completed
    lost = {t.trial_id for t in trials if t.status != "TERMINATED"}

    children = mlflow_runs(runs, "trial")
    assert sorted(r.data.tags["trial_id"] for r in children) == sorted(t.trial_id for t in trials)
    for run in (r for r in children if r.data.tags["trial_id"] not in lost):
        assert run.data.tags["state"] in ("FINISHED", "EARLY_STOPPED") and "val_corr" in run.data.metrics
        if run.data.tags["trial_id"] in completed:
            assert len(client.get_metric_history(run.info.run_id, "val_corr")) == epochs_logged[run.data.tags["trial_id"]]
    (parent,) = mlflow_runs(runs, "search")
    assert parent.info.status == "FINISHED"
