"""A real ``mlflow server`` on 127.0.0.1 for tests: started by the test, ended by the PIDs it started.

The light configuration (one worker, no job runner) answers in ~13 s. The port is fixed at construction,
so a server stopped and started again answers on the same URI, as a tracking server coming back would.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import ray  # noqa: F401  (puts Ray's bundled psutil on sys.path)
import psutil

ADMIN = "admin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MlflowServer:
    def __init__(self, folder: Path, port: int | None = None, auth: bool = False):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.auth = auth
        self.password = secrets.token_hex(12)
        self.env: dict[str, str] = (
            {"MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": self.password} if auth else {})
        self.log = self.folder / "server.log"
        self._proc: subprocess.Popen | None = None

    def _command(self) -> tuple[list[str], dict[str, str]]:
        argv = [str(Path(sys.executable).parent / "mlflow"), "server",
                "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
                "--artifacts-destination", str(self.folder / "artifacts"),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
            env.pop(name, None)
        if self.auth:
            config = self.folder / "basic_auth.ini"
            config.write_text(f"[mlflow]\ndefault_permission = READ\n"
                              f"database_uri = sqlite:///{self.folder / 'basic_auth.db'}\n"
                              f"admin_username = {ADMIN}\nadmin_password = {self.password}\n")
            argv += ["--app-name", "basic-auth"]
            env.update(MLFLOW_AUTH_CONFIG_PATH=str(config), MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16))
        return argv, env

    def start(self, timeout_s: float = 180) -> "MlflowServer":
        """Start the server and wait until ``GET /health`` answers; raises with the log's tail if it died."""
        argv, env = self._command()
        with open(self.log, "ab") as log:
            self._proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited {self._proc.returncode}:\n{self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer on {self.uri} within {timeout_s} s:\n{self._tail()}")

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM the server and its children (the process tree we started), SIGKILL what outlives it."""
        if self._proc is None:
            return
        try:
            tree = [psutil.Process(self._proc.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        for process in tree:
            with _gone():
                process.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(tree, timeout=timeout_s)
        for process in alive:
            with _gone():
                process.kill()
        psutil.wait_procs(alive, timeout=timeout_s)
        self._proc.wait(timeout=timeout_s)
        self._proc = None

    def _tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def __enter__(self) -> "MlflowServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _gone:
    """Ignore a process that ended by itself in the meantime."""

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        return kind is not None and issubclass(kind, psutil.NoSuchProcess)
