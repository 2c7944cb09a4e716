"""A search whose driver is SIGKILLed three times (mid-run, while a resume restores its trials, and again
mid-run), then resumed on a "fresh machine" (its runs folder deleted) from ``--storage`` alone: it finishes
with every trial completed, nothing completed runs again, and MLflow holds exactly one run per trial."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search_builders import run_cli, tiny_session, tiny_space, write_space

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[1]
STARTED = re.compile(r"trial (\w+) started")
SAMPLES = 16  # enough that the search is still running at each kill
# Tune saves its state every 10 s or more by default; tiny trials (no longer slowed by MLflow writes in Tune's
# event loop) then complete by the dozen between two snapshots, and the kills that wait for a saved completion
# came after the last trial. Saved every second, the state follows the trials closely.
SNAPSHOT_EVERY_S = {"TUNE_GLOBAL_CHECKPOINT_S": "1"}


def saved_state(storage: Path) -> dict[str, str]:
    """Trial id → status in Tune's saved experiment state (what a resume restores); {} before the first."""
    from search.tune_state import saved_trials

    try:
        return {t.trial_id: t.status for t in saved_trials(str(storage / "resumable")) or []}
    except Exception:  # noqa: BLE001 - Tune may be replacing its state file this instant; read again
        return {}


def completed(state: dict[str, str]) -> set[str]:
    return {trial for trial, status in state.items() if status == "TERMINATED"}


def end_process_group(pgid: int) -> None:
    """SIGKILL what is left of the session the test started (Ray's agents outlive a killed driver)."""
    for _ in range(60):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    raise AssertionError(f"process group {pgid} did not end")


def killed_driver(argv: list[str], log: Path, kill_when, timeout_s: float = 300) -> str:
    """Run the CLI in a child process and SIGKILL it once ``kill_when(output)`` holds; returns its output."""
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "search.cli", *argv], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), **SNAPSHOT_EVERY_S},
                                stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not kill_when(log.read_text()):
            assert proc.poll() is None, f"the search ended before it could be killed:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no kill point within {timeout_s} s:\n{log.read_text()}"
            time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        end_process_group(proc.pid)
    return log.read_text()


def test_killed_three_times_then_resumed_from_storage_loses_and_repeats_nothing(ray_local, tmp_path):
    from mlflow import MlflowClient

    from search.tracking import EXPERIMENT

    session = tiny_session(tmp_path / "data")
    config = write_space(tmp_path / "resumable.yaml", tiny_space(session.parent, tmp_path / "cache",
                                                                 num_samples=SAMPLES))
    runs, storage = tmp_path / "runs", tmp_path / "storage"
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"  # outside runs: a tracking server in real life
    (tmp_path / "mlflow").mkdir()
    where = ["--runs-dir", str(runs), "--storage", str(storage)]

    def more_completed_than(count: int):
        return lambda _: len(completed(saved_state(storage))) > count

    outputs, done_at_kill = [], []
    # 1. mid-run, once Tune's saved state records a completed trial
    outputs.append(killed_driver(["search", "launch", str(config), "--mlflow-uri", uri, *where],
                                 tmp_path / "kill1.log", more_completed_than(0)))
    done_at_kill.append(completed(saved_state(storage)))
    # 2. while the resume restores its trials: as soon as it starts the first one again
    outputs.append(killed_driver(["search", "resume", "resumable", *where], tmp_path / "kill2.log",
                                 lambda out: STARTED.search(out) is not None))
    done_at_kill.append(completed(saved_state(storage)))
    # 3. mid-run again, two completions later
    outputs.append(killed_driver(["search", "resume", "resumable", *where], tmp_path / "kill3.log",
                                 more_completed_than(len(done_at_kill[-1]) + 1)))
    done_at_kill.append(completed(saved_state(storage)))
    assert 1 <= len(done_at_kill[0]) and len(done_at_kill[-1]) < SAMPLES, done_at_kill
    assert done_at_kill[0] <= done_at_kill[1] <= done_at_kill[2]

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id

    def trial_runs() -> list:
        return list(client.search_runs([experiment], "tags.role = 'trial'", max_results=1000))

    epochs_logged = {r.data.tags["trial_id"]: len(client.get_metric_history(r.info.run_id, "val_corr"))
                     for r in trial_runs() if r.data.tags["trial_id"] in done_at_kill[-1]}

    shutil.rmtree(runs)  # a fresh machine: only the storage and the tracking store are left
    rc, out, err = run_cli("search", "resume", "resumable", "--storage", str(storage), "--mlflow-uri", uri,
                           "--runs-dir", str(tmp_path / "fresh"))
    assert rc == 0, err
    assert "search resumable done: 0 running" in out
    for done, later in zip(done_at_kill, [*outputs[1:], out]):  # nothing completed before a kill ran again
        assert not set(STARTED.findall(later)) & done

    state = saved_state(storage)
    assert len(state) == SAMPLES and set(state.values()) == {"TERMINATED"}, state  # zero trials lost
    children = trial_runs()
    assert sorted(r.data.tags["trial_id"] for r in children) == sorted(state)  # one run per trial
    for run in children:
        assert run.data.tags["state"] in ("FINISHED", "EARLY_STOPPED") and "val_corr" in run.data.metrics
        trial = run.data.tags["trial_id"]
        if trial in epochs_logged:  # completed before the last kill: not logged again
            assert len(client.get_metric_history(run.info.run_id, "val_corr")) == epochs_logged[trial]
        kept = sorted(p.name for p in (storage / "resumable" / f"trial_{trial}").glob("checkpoint_*"))
        assert len(kept) == 1, (trial, kept)  # an ended trial keeps only the checkpoint Tune names
    (parent,) = client.search_runs([experiment], "tags.role = 'search'")
    assert parent.info.status == "FINISHED"
    rc, out, _ = run_cli("search", "status", "resumable", "--storage", str(storage), "--runs-dir", str(tmp_path / "fresh"))
    assert rc == 0 and f"{SAMPLES - sum(1 for r in children if r.data.tags['state'] == 'EARLY_STOPPED')} finished" in out
