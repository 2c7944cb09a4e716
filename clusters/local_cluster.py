"""A Ray cluster of one head and N worker nodes on this machine, to run the distributed search without a cloud.

Each node is a `ray start --block` process owned by this module, on its own loopback address: the head on
127.0.0.2, workers on 127.0.0.3, 127.0.0.4, ... (Ray swaps 127.0.0.1 for the machine's network address, so no
node can live there). Each node declares its own CPUs, GPUs and custom resources. Everything a node runs descends
from its launcher, so the PIDs are found by walking that process tree and written to ``<dir>/cluster.json``;
``stop`` ends exactly those (see clusters/processes.py). Never `ray stop`: it ends every Ray process on the machine.

The cluster uses token authentication with a token of its own (``<dir>/auth_token``). Clients need
``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH`` (``client_env`` and the printed instructions say so).

    sensorium-search cluster local start --workers 2 --cpus-per-node 1 --dashboard
    sensorium-search cluster local stop

(``python -m clusters.local_cluster`` is the same command, from a checkout.)
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from clusters import processes
from clusters.local_options import add_actions
from clusters.loopback import HEAD_IP, worker_ip
from clusters.processes import ProcessRecord
from sensorium_models.atomic import atomic_path
from sensorium_models.errors import UserError, expect

STATE_FILE = "cluster.json"
READY_LINE = "Ray runtime started."
# Ray's unix sockets live at <dir>/ray-temp/session_<date>_<pid>/sockets/<name>, and a socket path may not
# exceed 107 bytes; everything after <dir> takes up to 78, so the cluster folder must stay short.
MAX_DIR_CHARS = 29
# Not "ray": a job run without --working-dir starts in the cluster folder, and a ./ray folder would shadow the
# ray package.
RAY_TEMP = "ray-temp"
MAX_WORKERS = 200
# A picked port can be taken before Ray binds it; a head on picked ports that exits at once gets new ones.
HEAD_ATTEMPTS = 3


class NodeExited(RuntimeError):
    """A node's `ray start` ended before the node was up."""


def free_port() -> int:
    """A TCP port nothing listens on right now, on any interface (Ray's servers bind all of them).

    Only for the ports Ray must be told in advance: another process may bind it first (see HEAD_ATTEMPTS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    """One Ray node: its address, its launcher process and every process it had started when last looked at."""

    ip: str
    head: bool
    log: Path
    launcher_pid: int | None = None
    records: list[ProcessRecord] = field(default_factory=list)
    launcher: subprocess.Popen | None = None

    def to_dict(self) -> dict:
        return {"ip": self.ip, "head": self.head, "log": str(self.log), "launcher_pid": self.launcher_pid,
                "processes": [r.to_dict() for r in self.records]}

    @classmethod
    def from_dict(cls, d: dict) -> "Node":
        return cls(d["ip"], d["head"], Path(d["log"]), d["launcher_pid"],
                   [ProcessRecord.from_dict(r) for r in d["processes"]])


class LocalCluster:
    """Start, stop and break a multi-node Ray cluster on loopback; a context manager for tests."""

    def __init__(self, workers: int = 1, cpus_per_node: int = 1, gpus_per_node: int = 0,
                 head_cpus: int | None = None, resources: dict[str, float] | None = None, dashboard: bool = False,
                 autoscale: dict[str, dict] | None = None,
                 dashboard_port: int | None = None, port: int | None = None, base_dir: str | Path | None = None,
                 object_store_mb: int = 128, start_timeout_s: float = 120.0, stop_timeout_s: float = 15.0):
        expect(0 <= workers <= MAX_WORKERS, f"workers: expected 0..{MAX_WORKERS}, found {workers}")
        expect(cpus_per_node >= 1, f"cpus_per_node: expected at least 1, found {cpus_per_node}")
        expect(gpus_per_node >= 0, f"gpus_per_node: expected 0 or more, found {gpus_per_node}")
        expect(head_cpus is None or head_cpus >= 0, f"head_cpus: expected 0 or more, found {head_cpus}")
        self.workers, self.cpus_per_node, self.gpus_per_node = workers, cpus_per_node, gpus_per_node
        # 0: the head runs no work, as the cloud recipes' heads (work waits for a worker, as for an autoscaler's)
        self.head_cpus = cpus_per_node if head_cpus is None else head_cpus
        self.autoscale = autoscale  # worker types Ray's autoscaler may add (clusters/loopback_autoscaler.py)
        self.resources = dict(resources or {})
        self.dashboard = dashboard
        self.dashboard_port = dashboard_port
        self.port = port
        # A folder made here is removed by stop(); one given by the caller keeps its logs.
        self._made_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="sensorium-ray-", dir="/tmp")).absolute()
        expect(len(str(self.base_dir)) <= MAX_DIR_CHARS,
               f"cluster folder {self.base_dir}: expected at most {MAX_DIR_CHARS} characters (Ray's socket "
               f"paths live under it), found {len(str(self.base_dir))}")
        self.object_store_bytes = object_store_mb * 1024 * 1024
        self.start_timeout_s, self.stop_timeout_s = start_timeout_s, stop_timeout_s
        self.nodes: list[Node] = []

    # ---- what clients need -------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{HEAD_IP}:{self.port}"

    @property
    def dashboard_url(self) -> str | None:
        return f"http://{HEAD_IP}:{self.dashboard_port}" if self.dashboard else None

    @property
    def token_path(self) -> Path:
        return self.base_dir / "auth_token"

    @property
    def state_path(self) -> Path:
        return self.base_dir / STATE_FILE

    def auth_headers(self) -> dict[str, str]:
        """HTTP header the dashboard and Jobs API want from clients of a token-authenticated cluster."""
        return {"Authorization": f"Bearer {self.token_path.read_text().strip()}"}

    def client_env(self) -> dict[str, str]:
        """Environment a driver, `ray status` or `ray job submit` needs to reach this cluster."""
        env = {"RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_path)}
        if self.dashboard:
            env["RAY_API_SERVER_ADDRESS"] = self.dashboard_url
        return env

    # ---- life cycle --------------------------------------------------------------------------------------
    def start(self) -> "LocalCluster":
        """Start the head, then each worker in turn (concurrent starts race for ports); stop all on failure."""
        expect(not self.nodes, f"cluster in {self.base_dir} was already started")
        expect(not self.state_path.exists(),
               f"{self.state_path}: a cluster was started from this folder; stop it first (stop --dir)")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        try:
            self._start_head()
            for index in range(self.workers):
                self._launch(worker_ip(index), head=False)
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> list[int]:
        """End every process the cluster started, by PID; return those that needed SIGKILL.

        The folder is removed too if this object made it, unless a node failed to start (its log says why).
        """
        records = [r for node in self.nodes for r in node.records]
        launchers = {node.launcher_pid for node in self.nodes if node.launcher_pid}
        forced = processes.stop_cluster(records, launchers, self.stop_timeout_s)
        for node in self.nodes:
            if node.launcher is not None:
                node.launcher.wait(timeout=processes.KILL_WAIT_S)  # collect the exit status we own
        self.state_path.unlink(missing_ok=True)
        if self._made_dir and all(READY_LINE in _text(node.log) for node in self.nodes):
            shutil.rmtree(self.base_dir, ignore_errors=True)
        return forced

    def add_worker(self) -> str:
        """Start one more worker on the next loopback address, as an autoscaler adds a node; returns its address."""
        expect(self.nodes, "add_worker: start the cluster first")
        expect(len(self.nodes) - 1 < MAX_WORKERS, f"add_worker: the cluster has {MAX_WORKERS} workers already")
        ip = worker_ip(len(self.nodes) - 1)
        try:
            self._launch(ip, head=False)
        finally:
            self.workers = len(self.nodes) - 1
            self._write_state()  # stop, here or from another process, ends what it started
        return ip

    def kill_worker(self, index: int) -> list[ProcessRecord]:
        """SIGKILL worker ``index``'s processes at once, as if its machine died; return what was killed."""
        expect(0 <= index < len(self.nodes) - 1, f"worker index: expected 0..{len(self.nodes) - 2}, found {index}")
        node = self.nodes[1 + index]
        node.records = processes.snapshot(self._live(node))
        processes.kill_now(node.records)
        if node.launcher is not None:
            node.launcher.wait(timeout=processes.KILL_WAIT_S)
        return node.records

    def running(self) -> list[ProcessRecord]:
        """Every process the cluster runs now (Ray workers included), for checks that stop left nothing."""
        return processes.snapshot([p for node in self.nodes for p in self._live(node)])

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @classmethod
    def attach(cls, base_dir: str | Path) -> "LocalCluster":
        """The cluster started from ``base_dir`` by another process, rebuilt from its state file."""
        state_path = Path(base_dir).absolute() / STATE_FILE
        expect(state_path.is_file(), f"{state_path}: no cluster state file (was the cluster started there?)")
        state = json.loads(state_path.read_text())
        cluster = cls(workers=len(state["nodes"]) - 1, base_dir=base_dir, port=state["port"],
                      dashboard=state["dashboard_port"] is not None, dashboard_port=state["dashboard_port"])
        cluster.nodes = [Node.from_dict(n) for n in state["nodes"]]
        return cluster

    # ---- internals ---------------------------------------------------------------------------------------
    def _start_head(self) -> None:
        """The head on the ports asked for, else on free ones, picked again if the head exits at once."""
        asked = (self.port, self.dashboard_port)
        for attempt in range(1, HEAD_ATTEMPTS + 1):
            self.port = asked[0] or free_port()
            self.dashboard_port = (asked[1] or free_port()) if self.dashboard else asked[1]
            try:
                return self._launch(HEAD_IP, head=True)
            except NodeExited:
                if attempt == HEAD_ATTEMPTS or (asked[0] and (asked[1] or not self.dashboard)):
                    raise
                node = self.nodes.pop()  # stop what it left, then try again on other ports
                processes.stop_cluster(node.records, {node.launcher_pid}, self.stop_timeout_s)

    def _live(self, node: Node) -> list:
        found = (processes.find(r) for r in node.records)
        return [p for p in found if p is not None]

    def _launch(self, ip: str, head: bool) -> None:
        log = self.base_dir / "logs" / f"{'head' if head else 'worker'}-{ip}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        node = Node(ip, head, log)
        self.nodes.append(node)
        with open(log, "wb") as out:
            node.launcher = subprocess.Popen(
                [sys.executable, "-m", "ray.scripts.scripts", "start", *self._start_args(ip, head)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self._node_env(head),
                cwd=self.base_dir, start_new_session=True)  # its own group: a Ctrl-C aimed at us skips it
        node.launcher_pid = node.launcher.pid
        node.records = processes.snapshot_pid(node.launcher_pid)
        self._wait_ready(node)
        node.records = processes.snapshot_pid(node.launcher_pid)

    def _start_args(self, ip: str, head: bool) -> list[str]:
        cpus = self.head_cpus if head else self.cpus_per_node
        args = ["--block", "--node-ip-address", ip, "--num-cpus", str(cpus),
                "--num-gpus", str(self.gpus_per_node), "--resources", json.dumps(self.resources),
                "--object-store-memory", str(self.object_store_bytes), "--disable-usage-stats",
                # fixed by default (52365): a second node, or another Ray on this machine, would collide;
                # 0 lets the agent bind a free port itself and report it
                "--dashboard-agent-listen-port", "0"]
        if not head:
            return [*args, "--address", self.address]
        args += ["--head", "--port", str(self.port), "--temp-dir", str(self.base_dir / RAY_TEMP),
                 "--ray-client-server-port", str(free_port()), f"--include-dashboard={str(self.dashboard).lower()}"]
        if self.dashboard:
            args += ["--dashboard-host", HEAD_IP, "--dashboard-port", str(self.dashboard_port)]
        if self.autoscale:
            from clusters.loopback_autoscaler import autoscaling_config

            config = self.base_dir / "autoscaling.json"
            config.write_text(json.dumps(autoscaling_config(self.address, self.head_cpus, self.autoscale)))
            args.append(f"--autoscaling-config={config}")
        return args

    def _node_env(self, head: bool) -> dict[str, str]:
        # search.environment sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 for in-process Ray; with it no worker can join.
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
        # Ray workers run in other folders: a relative entry would point elsewhere. This checkout comes first: the
        # head's autoscaler imports its node provider from it (clusters.loopback_autoscaler), which no install has.
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), *map(os.path.abspath, paths)])
        # A job's entrypoint (`python ...`, `sensorium-search ...`) must find the environment the nodes run in.
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_path), RAY_USAGE_STATS_ENABLED="0",
                   RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")  # no drain wait: stop ends nodes promptly
        if self.autoscale and head:
            from clusters.loopback_autoscaler import head_env

            env.update(head_env())
        return env

    def _wait_ready(self, node: Node) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if READY_LINE in _text(node.log):
                return
            if node.launcher.poll() is not None:
                raise NodeExited(f"Ray node {node.ip} exited while starting (log {node.log}):\n{_tail(node.log)}")
            time.sleep(0.2)
        raise RuntimeError(f"Ray node {node.ip} did not start within {self.start_timeout_s:.0f} s "
                           f"(log {node.log}):\n{_tail(node.log)}")

    def _write_state(self) -> None:
        state = {"address": self.address, "port": self.port,
                 "dashboard_port": self.dashboard_port if self.dashboard else None,
                 "dashboard_url": self.dashboard_url, "token_path": str(self.token_path),
                 "nodes": [node.to_dict() for node in self.nodes]}
        with atomic_path(self.state_path) as tmp:
            tmp.write_text(json.dumps(state, indent=2))


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(_text(path).splitlines()[-lines:])


def instructions(cluster: LocalCluster) -> str:
    """What to paste into a shell to use the cluster, and how to end it."""
    exports = " ".join(f"{k}={v}" for k, v in cluster.client_env().items())
    workers = ", ".join(node.ip for node in cluster.nodes[1:]) or "none"
    lines = [
        f"Ray cluster up: head {cluster.address}, workers: {workers}",
        f"  each node: {cluster.cpus_per_node} CPU (the head {cluster.head_cpus}), {cluster.gpus_per_node} GPU, "
        f"resources {cluster.resources}",
        f"  logs and state: {cluster.base_dir}",
        "Clients (drivers, `ray status`, `ray job`) need token authentication and this cluster's address:",
        f"  export {exports}",
        "  ray status",
    ]
    if cluster.dashboard:
        lines += [f"Dashboard and Jobs API: {cluster.dashboard_url}",
                  f"  ray job submit --address {cluster.dashboard_url} --working-dir . -- sensorium-search search "
                  f"launch configs/search/static2022.yaml --address auto --runs-dir {Path.cwd() / 'runs'}"]
    lines.append(f"Stop (by PID, nothing else on this machine): sensorium-search cluster local stop "
                 f"--dir {cluster.base_dir}")
    return "\n".join(lines)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m clusters.local_cluster", description=__doc__.split("\n")[0])
    add_actions(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run(_parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """``start`` or ``stop``, as ``local_options.add_actions`` parses them (here or in the installed CLI)."""
    try:
        if args.action == "stop":
            cluster = LocalCluster.attach(args.dir)
            forced = cluster.stop()
            print(f"stopped the cluster in {cluster.base_dir}" + (f" (SIGKILL needed: {forced})" if forced else ""))
            return 0
        try:
            resources = json.loads(args.resources)
        except json.JSONDecodeError as err:
            raise UserError(f"--resources: expected a JSON object, found {args.resources!r} ({err})") from None
        expect(isinstance(resources, dict), f"--resources: expected a JSON object, found {args.resources!r}")
        cluster = LocalCluster(workers=args.workers, cpus_per_node=args.cpus_per_node,
                               gpus_per_node=args.gpus_per_node, head_cpus=args.head_cpus, resources=resources,
                               dashboard=args.dashboard, dashboard_port=args.dashboard_port, port=args.port,
                               base_dir=args.dir, object_store_mb=args.object_store_mb)
        print(instructions(cluster.start()))
        return 0
    except UserError as err:
        print(f"local_cluster: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
