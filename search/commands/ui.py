"""``sensorium-search ui``: the MLflow UI over the project's store, on 127.0.0.1 only.

A light server: one worker and no job runner (2 processes, ~0.5 GB, ready in ~15 s instead of ~12
processes and ~30 s), stopped with its children on Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from search.api import runs_path as runs_dir
from search.commands.options import MLFLOW_URI, RUNS_DIR
from sensorium_models.errors import UserError

HOST = "127.0.0.1"


def register(subparsers) -> None:
    parser = subparsers.add_parser("ui", parents=[RUNS_DIR, MLFLOW_URI],
                                   help="serve the MLflow UI over the search store on 127.0.0.1")
    parser.add_argument("--port", type=port_number, default=5000, help="0 picks a free port (default 5000)")
    parser.set_defaults(func=_ui)


def port_number(text: str) -> int:
    """argparse type: a TCP port, 0 to 65535 (argparse turns the ValueError into a one-line usage error)."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def free_port() -> int:
    """A port the OS has just offered on HOST (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def server_command(store_uri: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri,
            "--host", HOST, "--port", str(port), "--workers", "1"]


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    """Poll ``url/health`` until it answers OK, the server exits, or the time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def _ui(args) -> int:
    from search.tracking import check_store, default_tracking_uri

    runs = runs_dir(args.runs_dir)
    store = args.mlflow_uri or default_tracking_uri(runs)
    flag = "--mlflow-uri" if args.mlflow_uri else "--runs-dir"
    if store.startswith(("http://", "https://")):
        raise UserError(f"--mlflow-uri: {store} is a server already; open it in a browser")
    if store.startswith("sqlite:///") and not os.path.exists(store.removeprefix("sqlite:///")):
        raise UserError(f"{flag}: no store at {store.removeprefix('sqlite:///')}; launch a search first")
    check_store(store)
    port = args.port or free_port()
    with socket.socket() as probe:
        if probe.connect_ex((HOST, port)) == 0:
            raise UserError(f"--port: {HOST}:{port} is in use; pick another port")
    url = f"http://{HOST}:{port}"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # The server's own chatter goes to stderr, so stdout carries just the address.
    proc = subprocess.Popen(server_command(store, port), env=env, stdout=sys.stderr)
    # SIGTERM (kill PID, a job scheduler) must also stop the server: make it unwind through `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        if not wait_healthy(url, proc, timeout_s=180):
            print(f"sensorium-search: error: the MLflow server did not come up on {url}", file=sys.stderr)
            return 1
        print(f"MLflow UI: {url}  (store {store}; Ctrl-C stops it)", flush=True)
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
