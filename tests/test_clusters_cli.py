"""`python -m clusters.local_cluster`: user mistakes in one line (exit 2), the state file, the printed instructions.
Nothing here starts Ray."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from clusters.local_cluster import LocalCluster, Node, instructions, main
from clusters.processes import ProcessRecord
from sensorium_models.errors import UserError


@pytest.mark.parametrize("argv, message", [
    (["stop", "--dir", "/tmp/no-cluster-here"], "/tmp/no-cluster-here/cluster.json: no cluster state file"),
    (["start", "--dir", "/tmp/" + "x" * 40], "expected at most 29 characters"),
    (["start", "--resources", "[1]"], "--resources: expected a JSON object, found '[1]'"),
    (["start", "--resources", "{gpu"], "--resources: expected a JSON object"),
    (["start", "--workers", "-1"], "workers: expected 0..200, found -1"),
    (["start", "--cpus-per-node", "0"], "cpus_per_node: expected at least 1, found 0"),
])
def test_mistakes_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.fixture
def short_dir():
    """A cluster folder short enough for Ray's socket paths (pytest's tmp_path is too long)."""
    folder = Path(tempfile.mkdtemp(prefix="sc-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_folder_with_a_running_cluster_is_not_started_twice(short_dir):
    (short_dir / "cluster.json").write_text("{}")
    with pytest.raises(UserError, match="a cluster was started from this folder; stop it first"):
        LocalCluster(base_dir=short_dir).start()


def started_looking(folder: Path) -> LocalCluster:
    """A cluster object as start() leaves it, without starting anything: for the state file and the printout."""
    cluster = LocalCluster(workers=1, dashboard=True, dashboard_port=8299, port=6399, base_dir=folder,
                           resources={"big_mem": 1})
    cluster.nodes = [Node("127.0.0.2", True, folder / "h.log", 11, [ProcessRecord(11, 1.5, "python")]),
                     Node("127.0.0.3", False, folder / "w.log", 22, [ProcessRecord(23, 2.25, "raylet")])]
    return cluster


def test_the_state_file_brings_back_the_same_cluster(short_dir):
    cluster = started_looking(short_dir)
    cluster._write_state()
    again = LocalCluster.attach(cluster.base_dir)
    token = short_dir.absolute() / "auth_token"
    assert json.loads(cluster.state_path.read_text())["token_path"] == str(token)
    assert (again.address, again.dashboard_url, again.token_path) == ("127.0.0.2:6399", "http://127.0.0.2:8299", token)
    assert [(n.ip, n.head, n.launcher_pid, n.records) for n in again.nodes] == \
        [(n.ip, n.head, n.launcher_pid, n.records) for n in cluster.nodes]


def test_instructions_give_clients_token_auth_the_address_and_how_to_stop(short_dir):
    cluster = started_looking(short_dir)
    text = instructions(cluster)
    assert f"export RAY_ADDRESS=127.0.0.2:6399 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH={cluster.token_path}" in text
    assert "ray job submit --address http://127.0.0.2:8299 --working-dir . -- sensorium-search search launch" in text
    assert "workers: 127.0.0.3" in text and "resources {'big_mem': 1}" in text
    assert f"sensorium-search cluster local stop --dir {cluster.base_dir}" in text
