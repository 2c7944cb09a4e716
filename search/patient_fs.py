"""Object storage that may go away for a while: every call waits for it to come back instead of failing.

With Tune's own filesystem an S3 endpoint down for a minute ended a search within seconds (measured on
loopback SeaweedFS): each trial failed on its first storage call and used up its retries, then the
driver's listing of the experiment raised. Here each call of the wrapped pyarrow filesystem is retried
with backoff while the error says the store cannot be reached or is failing (connection errors,
timeouts, HTTP 5xx), for up to ``SENSORIUM_STORAGE_PATIENCE_S`` seconds (default 1800) from the first
such failure; anything else (no such key, access denied) is raised at once. Trials and the driver then
pause through an outage and go on where they were.

An output stream is buffered (in memory, spilling to a temporary file past 64 MB) and uploaded whole
when closed, so a retried upload starts from its first byte; an input stream is read whole, retried,
before the caller sees a byte.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
import time

import pyarrow
import pyarrow.fs

PATIENCE_ENV = "SENSORIUM_STORAGE_PATIENCE_S"  # its default is in search.environment, with the workers' others
SPOOL_BYTES = 64 << 20
CHUNK = 1 << 24
# What pyarrow's S3 and GCS clients say when the store is unreachable or failing, not when the request is wrong.
TRANSIENT = ("NETWORK_CONNECTION", "curlCode", "Connection refused", "Connection reset", "Could not connect",
             "Timeout", "timed out", "SERVICE_UNAVAILABLE", "SLOW_DOWN", "INTERNAL_FAILURE", "HTTP status 500",
             "HTTP status 502", "HTTP status 503", "HTTP status 504", "Unavailable", "UNAVAILABLE")


def transient(err: BaseException) -> bool:
    return isinstance(err, OSError) and not isinstance(err, FileNotFoundError) and any(
        needle in str(err) for needle in TRANSIENT)


def patience_s() -> float:
    from search.environment import WORKER_DEFAULTS

    return float(os.environ.get(PATIENCE_ENV, WORKER_DEFAULTS[PATIENCE_ENV]))


class _UploadOnClose(io.RawIOBase):
    """What a caller writes, kept until ``close``, which hands it to ``upload`` (retried as a whole)."""

    def __init__(self, upload):
        super().__init__()
        self.buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self.upload = upload

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.buffer.write(data)

    def tell(self) -> int:
        return self.buffer.tell()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.upload(self.buffer)
        finally:
            self.buffer.close()
            super().close()


class PatientHandler(pyarrow.fs.FileSystemHandler):
    """``inner`` (a pyarrow filesystem for ``location``), retrying each call through an outage."""

    def __init__(self, inner: pyarrow.fs.FileSystem, location: str):
        self.inner, self.location = inner, location

    def __eq__(self, other) -> bool:
        return isinstance(other, PatientHandler) and self.inner.equals(other.inner)

    def __reduce__(self):
        return PatientHandler, (self.inner, self.location)

    def _retry(self, call, *args):
        """``call(*args)``, again and again while it fails for want of the store, for up to the patience
        counted from its first such failure (a call can spend seconds in the SDK's own retries first)."""
        delay, since = 0.5, None
        while True:
            try:
                result = call(*args)
            except OSError as err:
                if not transient(err):
                    raise
                if since is None:
                    since = time.monotonic()
                    why = " ".join(str(err).split())[:160]
                    print(f"sensorium-search: storage {self.location} unreachable ({why}); waiting for it, up to "
                          f"{patience_s():.0f} s ({PATIENCE_ENV})", file=sys.stderr, flush=True)
                elif time.monotonic() - since > patience_s():
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 15.0)
                continue
            if since is not None:
                print(f"sensorium-search: storage {self.location} is back after {time.monotonic() - since:.0f} s",
                      file=sys.stderr, flush=True)
            return result

    def get_type_name(self) -> str:
        return f"patient-{self.inner.type_name}"

    def normalize_path(self, path: str) -> str:
        return self.inner.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list:
        return self._retry(self.inner.get_file_info, paths)

    def get_file_info_selector(self, selector) -> list:
        return self._retry(self.inner.get_file_info, selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self._retry(lambda: self.inner.create_dir(path, recursive=recursive))

    def delete_dir(self, path: str) -> None:
        self._retry(self.inner.delete_dir, path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._retry(lambda: self.inner.delete_dir_contents(path, missing_dir_ok=missing_dir_ok))

    def delete_root_dir_contents(self) -> None:
        self._retry(lambda: self.inner.delete_dir_contents("/", accept_root_dir=True))

    def delete_file(self, path: str) -> None:
        self._retry(self.inner.delete_file, path)

    def move(self, src: str, dest: str) -> None:
        self._retry(self.inner.move, src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self._retry(self.inner.copy_file, src, dest)

    def _download(self, path: str):
        def read():
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
            with self.inner.open_input_stream(path) as source:
                while chunk := source.read(CHUNK):
                    spool.write(chunk)
            spool.seek(0)
            return spool

        return pyarrow.PythonFile(self._retry(read), mode="r")

    def open_input_stream(self, path: str):
        return self._download(path)

    def open_input_file(self, path: str):
        return self._download(path)

    def open_output_stream(self, path: str, metadata):
        def upload(buffer) -> None:
            buffer.seek(0)
            with self.inner.open_output_stream(path, metadata=metadata) as out:
                while chunk := buffer.read(CHUNK):
                    out.write(chunk)

        return pyarrow.PythonFile(_UploadOnClose(lambda buffer: self._retry(upload, buffer)), mode="w")

    def open_append_stream(self, path: str, metadata):
        return self.inner.open_append_stream(path, metadata=metadata)


def patient_filesystem(inner: pyarrow.fs.FileSystem, location: str) -> pyarrow.fs.PyFileSystem:
    """``inner`` behind a ``PatientHandler``; an S3 filesystem rebuilt without background writes first.

    The handler's calls run on pyarrow's IO threads when Tune copies a folder (``copy_files``), and S3's
    background writes queue on that same pool: with them, a search hung within minutes, every IO thread
    waiting in an upload whose parts waited for a free IO thread (a listing behind them hung too)."""
    if inner.type_name == "s3":
        rebuild, (options,) = inner.__reduce__()  # the filesystem's own options, as pickling passes them on
        inner = rebuild({**options, "background_writes": False})
    return pyarrow.fs.PyFileSystem(PatientHandler(inner, location))
