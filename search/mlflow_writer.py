"""MLflow writes off Tune's event loop: one background thread applies them in order, retrying each until it lands.

A tracking server that goes away then costs a search nothing: the writes wait in the queue and land when
it is back (MLflow's own async logging drops a batch once its retries fail). Each attempt is kept short
(``search.environment`` sets MLflow's HTTP retries and timeout low); the patient retrying is done here,
for as long as the search runs. A write the server refuses as wrong (a 4xx) is reported once and skipped:
trying again cannot make it land. At the end the driver waits a bounded time (``SENSORIUM_MLFLOW_WAIT_S``)
for the queue, and ``search sync`` fills in what was still pending from Tune's results on storage.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections import deque
from typing import Callable

WAIT_ENV = "SENSORIUM_MLFLOW_WAIT_S"
WAIT_S = 60.0  # how long the end of a search waits for pending writes
BACKOFF_S = (0.5, 15.0)  # first and longest pause between two attempts at one write
EXIT_WAIT_S = 30.0  # at interpreter exit, how long the write under way may take to end


def transient(err: Exception) -> bool:
    """Whether trying again may succeed: the server unreachable, timing out, or failing (5xx, 408, 429)."""
    from mlflow.exceptions import MlflowException

    if isinstance(err, MlflowException):  # MLflow reports a refused connection as an INTERNAL_ERROR (500)
        status = err.get_http_status_code()
        return status >= 500 or status in (408, 429)
    return isinstance(err, OSError)  # requests' errors are OSErrors


def _short(err: Exception, keep: int = 90) -> str:
    """The error on one line: its start (what failed) and its end (why), when it is long."""
    text = " ".join(str(err).split())
    return text if len(text) <= 2 * keep else f"{text[:keep]} ... {text[-keep:]}"


def _say(text: str) -> None:
    print(f"MLflow: {text}", file=sys.stderr, flush=True)


class Writer:
    """An in-order queue of writes (functions of no arguments) and the one thread that applies them."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri
        self._writes: deque[tuple[str, Callable[[], object]]] = deque()  # the head is being attempted
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._drain, name="mlflow-writer", daemon=True)
        self._thread.start()
        _started.add(self)

    def put(self, what: str, write: Callable[[], object]) -> None:
        """Queue ``write`` (``what`` names it in reports); returns at once."""
        with self._cond:
            if self._closed:
                raise RuntimeError(f"MLflow writer for {self.tracking_uri} is closed")
            self._writes.append((what, write))
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._writes)

    def wait(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for every queued write to land; the number still pending."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._writes and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return len(self._writes)

    def close(self) -> None:
        """Stop after the attempt under way; what is still queued is given up (``search sync`` fills it)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the thread to end (after ``close``); whether it has."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _drain(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._writes or self._closed)
                if self._closed:
                    return
                what, write = self._writes[0]
            self._attempt(what, write)
            with self._cond:
                if not self._closed:
                    self._writes.popleft()
                self._cond.notify_all()

    def _attempt(self, what: str, write: Callable[[], object]) -> None:
        """Until ``write`` lands, is refused, or the writer is closed; says once when the server goes and comes back."""
        pause, since = BACKOFF_S[0], None
        while True:
            try:
                write()
                break
            except Exception as err:  # noqa: BLE001 - classified: retried, or reported and skipped
                if not transient(err):
                    _say(f"{self.tracking_uri} refused {what}; skipped: {_short(err)}")
                    break
                if since is None:
                    since = time.monotonic()
                    _say(f"{self.tracking_uri} unreachable ({_short(err)}); "
                         f"{self.pending} write(s) wait and are retried")
            with self._cond:
                if self._cond.wait_for(lambda: self._closed, timeout=pause):
                    return
            pause = min(2 * pause, BACKOFF_S[1])
        if since is not None:
            _say(f"{self.tracking_uri} answers again after {time.monotonic() - since:.0f} s; catching up")


_writers: dict[str, Writer] = {}
_lock = threading.Lock()
_started: weakref.WeakSet[Writer] = weakref.WeakSet()  # every writer whose thread may still be running


def _end_at_exit() -> None:
    """Close every writer and let the write under way end before the interpreter does.

    Shutdown stops a daemon thread wherever it stands: one drawing the search's plots (matplotlib's C++ font code)
    aborts the whole process. ``atexit`` would be too late, as tempfile's exit clean-up may run first and delete
    the plots' folder under the write: threading's own exit hook (what concurrent.futures uses) runs before both.
    """
    writers = list(_started)
    for writer in writers:
        writer.close()
    deadline = time.monotonic() + EXIT_WAIT_S
    for writer in writers:
        if not writer.join(max(0.0, deadline - time.monotonic())):
            _say(f"{writer.tracking_uri}: a write still under way after {EXIT_WAIT_S:.0f} s is cut off at exit")


threading._register_atexit(_end_at_exit)


def writer_for(tracking_uri: str) -> Writer:
    """This process's writer for ``tracking_uri``, started on first use."""
    with _lock:
        if tracking_uri not in _writers:
            _writers[tracking_uri] = Writer(tracking_uri)
        return _writers[tracking_uri]


def wait_s(environ=os.environ) -> float:
    return float(environ.get(WAIT_ENV, WAIT_S))


def finish(tracking_uri: str, timeout_s: float | None = None) -> int:
    """Wait a bounded time for the writer of ``tracking_uri`` to drain, then close it; the writes left pending."""
    with _lock:
        writer = _writers.pop(tracking_uri, None)
    if writer is None:
        return 0
    left = writer.wait(wait_s() if timeout_s is None else timeout_s)
    writer.close()
    return left
