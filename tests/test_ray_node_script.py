"""clusters/ray_node.sh, the launcher recipes' start command: a restart ends the node it started before, by that
node's PID and with every process the node started, and `stop` ends it; a real Ray head on 127.0.0.2."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clusters.local_cluster import free_port
from clusters.loopback import HEAD_IP

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
SCRIPT = Path(__file__).resolve().parents[1] / "clusters" / "ray_node.sh"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has ended


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


@pytest.fixture
def node(tmp_path):
    env = {**os.environ, "RAY_NODE_PIDFILE": str(tmp_path / "ray-node.pid"), "RAY_NODE_LOG": str(tmp_path / "log"),
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0"}
    started: list[int] = []

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=180)
        pidfile = tmp_path / "ray-node.pid"
        if pidfile.exists():
            started.append(int(pidfile.read_text()))
        return done

    yield run
    for pid in started:  # a failed assertion leaves no node behind: end the ones this test started, by PID
        if alive(pid) and b"ray\0start" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGTERM)


def test_a_restart_ends_the_previous_node_and_stop_ends_the_last(node, tmp_path):
    start = ["ray", "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={free_port()}", "--num-cpus=1",
             "--include-dashboard=false"]
    assert node(*start).returncode == 0
    first = int((tmp_path / "ray-node.pid").read_text())
    first_processes = [first, *children(first)]  # GCS, raylet and the rest, started by `ray start --block`
    assert len(first_processes) > 2 and "Ray runtime started." in (tmp_path / "log").read_text()

    assert node(*start).returncode == 0  # the same port: only free if the first node ended
    second = int((tmp_path / "ray-node.pid").read_text())
    assert second != first and not any(alive(pid) for pid in first_processes)
    second_processes = [second, *children(second)]

    assert node("stop").returncode == 0
    assert not any(alive(pid) for pid in second_processes) and not (tmp_path / "ray-node.pid").exists()


def test_a_stale_pid_file_ends_nothing_and_a_wrong_command_is_refused(node, tmp_path):
    (tmp_path / "ray-node.pid").write_text(f"{os.getpid()}\n")  # after a reboot: a PID now some other program's
    assert node("stop").returncode == 0 and alive(os.getpid()) and not (tmp_path / "ray-node.pid").exists()
    refused = node("ray", "status")
    assert refused.returncode == 2 and "expected 'ray start ARGS...' or 'stop'" in refused.stderr
