"""Stopping by PID: Ray's order, SIGKILL after the timeout, and never a process whose PID was reused.

The processes are real: small Python scripts whose file names are what Ray's processes are called, so psutil sees
"raylet" and "gcs_server" as it does on a cluster, and each script writes its name when it gets SIGTERM.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusters import processes
from clusters.processes import ProcessRecord

HANDLER = """#!{python}
import signal, subprocess, sys, time
def on_term(*_):
    with open({log!r}, "a") as f:
        f.write({name!r} + "\\n")
    {then}
signal.signal(signal.SIGTERM, on_term)
with open({log!r} + ".ready", "a") as f:
    f.write({name!r} + "\\n")
children = [subprocess.Popen([c]) for c in {children!r}]
while True:
    time.sleep(0.05)
"""


def _wait_ready(log: Path, count: int) -> None:
    """Until ``count`` scripts have installed their SIGTERM handler (a signal before that would just kill)."""
    ready = Path(f"{log}.ready")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ready.exists() and len(ready.read_text().split()) == count:
            return
        time.sleep(0.05)
    raise TimeoutError(f"only {ready.read_text().split() if ready.exists() else []} became ready")


def _script(folder: Path, name: str, log: Path, polite: bool = True, children: tuple = ()) -> Path:
    """An executable called ``name`` that logs SIGTERM, then exits (polite) or carries on (stubborn)."""
    path = folder / name
    path.write_text(HANDLER.format(python=sys.executable, log=str(log), name=name, children=[str(c) for c in children],
                                   then="sys.exit(0)" if polite else "pass"))
    path.chmod(0o755)
    return path


@pytest.fixture
def fake_node(tmp_path):
    """A launcher that starts a raylet, a gcs_server and a dashboard, like `ray start --block` does."""
    log = tmp_path / "terminated.log"
    children = [_script(tmp_path, name, log) for name in ("gcs_server", "dashboard", "raylet")]
    launcher = _script(tmp_path, "launcher", log, children=tuple(children))
    proc = subprocess.Popen([str(launcher)], start_new_session=True)
    _wait_ready(log, 4)
    records = processes.snapshot_pid(proc.pid)
    yield proc, records, log
    processes.kill_now(records)
    proc.wait(timeout=5)


def test_stop_cluster_ends_raylet_then_others_then_gcs_then_launcher(fake_node):
    proc, records, log = fake_node
    assert sorted(r.name for r in records) == ["dashboard", "gcs_server", "launcher", "raylet"]
    forced = processes.stop_cluster(records, {proc.pid}, timeout_s=5)
    proc.wait(timeout=5)
    assert forced == []
    assert log.read_text().split() == ["raylet", "dashboard", "gcs_server", "launcher"]
    assert [r for r in records if processes.find(r)] == []


def test_stop_cluster_sigkills_what_ignores_sigterm(tmp_path):
    log = tmp_path / "terminated.log"
    stubborn = subprocess.Popen([str(_script(tmp_path, "raylet", log, polite=False))],
                                start_new_session=True)
    _wait_ready(log, 1)
    records = processes.snapshot_pid(stubborn.pid)
    started = time.monotonic()
    forced = processes.stop_cluster(records, set(), timeout_s=1.0)
    assert stubborn.wait(timeout=5) == -9
    assert forced == [stubborn.pid]
    assert log.read_text().split() == ["raylet"]  # it did get the SIGTERM first
    assert time.monotonic() - started < 1.0 + processes.KILL_WAIT_S


def test_a_reused_pid_is_never_signalled(tmp_path):
    other = subprocess.Popen(["sleep", "30"])
    try:
        alive = ProcessRecord.of(processes.psutil.Process(other.pid))
        reused = ProcessRecord(alive.pid, alive.create_time - 100.0, alive.name)  # same PID, earlier program
        assert processes.find(reused) is None
        assert processes.kill_now([reused]) == []
        assert processes.stop_cluster([reused], set(), timeout_s=1.0) == []
        assert other.poll() is None
        assert processes.find(alive) is not None
    finally:
        other.kill()
        other.wait()


def test_records_survive_a_json_round_trip():
    record = ProcessRecord(1234, 1795462678.62, "raylet")
    assert ProcessRecord.from_dict(record.to_dict()) == record
