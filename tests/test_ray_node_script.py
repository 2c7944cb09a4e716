"""clusters/ray_node.sh, the launcher recipes' start command: a restart ends the node it started before, by that
node's PID and with every process the node started, and `stop` ends it and the address it left for `ray.init()`;
a real Ray head on 127.0.0.2, in a temp dir of its own (Ray's default one, /tmp/ray, is never touched)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from clusters.local_cluster import free_port
from clusters.loopback import HEAD_IP
from clusters.processes import find, is_alive, snapshot_pid

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
SCRIPT = Path(__file__).resolve().parents[1] / "clusters" / "ray_node.sh"
DEFAULT_POINTER = Path("/tmp/ray/ray_current_cluster")  # what a plain `ray.init()` on this machine would join


@pytest.fixture
def node(tmp_path):
    env = {**os.environ, "RAY_NODE_PIDFILE": str(tmp_path / "ray-node.pid"), "RAY_NODE_LOG": str(tmp_path / "log"),
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0"}
    started = []  # the record of each node's `ray start --block`: its PID and start time

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=180)
        pidfile = tmp_path / "ray-node.pid"
        if pidfile.exists():
            started.extend(snapshot_pid(int(pidfile.read_text()))[:1])
        return done

    yield run
    for record in started:  # a failed assertion leaves no node behind: end the ones this test started, by PID
        if (process := find(record)) is not None:
            process.terminate()


def head(port: int, *temp_dir: str) -> list[str]:
    return ["ray", "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={port}", "--num-cpus=1",
            "--include-dashboard=false", *temp_dir]


@pytest.fixture
def ray_temp():
    """A short temp dir for the node (its socket paths must stay under 108 characters), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="rn-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_restart_ends_the_previous_node_and_stop_ends_the_last(ray_temp, node, tmp_path):
    default_before = DEFAULT_POINTER.read_bytes() if DEFAULT_POINTER.exists() else None
    port = free_port()
    start = head(port, "--temp-dir", str(ray_temp))
    assert node(*start).returncode == 0
    first = int((tmp_path / "ray-node.pid").read_text())
    first_processes = snapshot_pid(first)  # GCS, raylet and the rest, started by `ray start --block`
    assert len(first_processes) > 2 and "Ray runtime started." in (tmp_path / "log").read_text()
    pointer = ray_temp / "ray_current_cluster"
    assert pointer.read_text() == f"{HEAD_IP}:{port}"

    assert node(*start).returncode == 0  # the same port: only free if the first node ended
    second = int((tmp_path / "ray-node.pid").read_text())
    assert second != first and not any(find(record) for record in first_processes)
    second_processes = snapshot_pid(second)
    assert pointer.read_text() == f"{HEAD_IP}:{port}"

    assert node("stop").returncode == 0
    assert not any(find(record) for record in second_processes) and not (tmp_path / "ray-node.pid").exists()
    assert not pointer.exists()  # a later ray.init() here starts its own Ray instead of joining a dead node
    assert (DEFAULT_POINTER.read_bytes() if DEFAULT_POINTER.exists() else None) == default_before


def test_stop_keeps_an_address_that_names_another_cluster_by_now(ray_temp, node, tmp_path):
    port = free_port()
    start = head(port, f"--temp-dir={ray_temp}")  # the option's other spelling
    assert node(*start).returncode == 0
    pointer = ray_temp / "ray_current_cluster"
    pointer.write_text("127.0.0.9:6379")  # someone started another cluster here since
    assert node("stop").returncode == 0
    assert pointer.read_text() == "127.0.0.9:6379"


def test_a_stale_pid_file_ends_nothing_and_a_wrong_command_is_refused(node, tmp_path):
    (tmp_path / "ray-node.pid").write_text(f"{os.getpid()}\n")  # after a reboot: a PID now some other program's
    assert node("stop").returncode == 0 and is_alive(psutil.Process()) and not (tmp_path / "ray-node.pid").exists()
    refused = node("ray", "status")
    assert refused.returncode == 2 and "expected 'ray start ARGS...' or 'stop'" in refused.stderr
