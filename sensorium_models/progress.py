"""Progress of long work: a tqdm bar on a terminal, and plain lines with the elapsed time when output goes to a log.

A bar redrawn with carriage returns is unreadable in a job log, so off a terminal this prints one line at
most every ``every_s`` seconds and one at the end. Use it around anything that makes a user wait.

    for path in track(files, "consolidating 2023 session", unit="file"):
        ...
    with Progress(total=n_trials, what="writing predictions_live_main", unit="trial") as bar:
        bar.update(len(batch))
"""
from __future__ import annotations

import sys
import time
from typing import IO, Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")


class Progress:
    """Counts work done towards ``total`` (None when unknown) and shows it on ``stream`` (default stderr)."""

    def __init__(self, total: int | None, what: str, unit: str = "item", every_s: float = 10.0,
                 stream: IO[str] | None = None, quiet_if_quick: bool = False):
        self.total, self.what, self.unit, self.every_s = total, what, unit, every_s
        self.stream = stream or sys.stderr
        self.done = 0
        self.stopped = False  # ended before its work was done (set by the caller)
        # quiet_if_quick: work that ends within every_s shows nothing at all (a cache build of a small
        # session, run in every test and CLI call, is no wait worth a line); longer work shows as usual.
        self._quiet, self._printed = quiet_if_quick, False
        self._start = self._last = time.monotonic()
        isatty = getattr(self.stream, "isatty", None)
        self._bar = (tqdm(total=total, desc=what, unit=unit, file=self.stream,
                          delay=every_s if quiet_if_quick else 0.0) if isatty and isatty() else None)

    def update(self, n: int = 1, **postfix) -> None:
        """``n`` more units done; ``postfix`` (e.g. ``loss=0.3``) is shown beside the count."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix(postfix)
        elif time.monotonic() - self._last >= self.every_s:
            self._line(postfix)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._printed or not self._quiet:
            self._line({}, final=True)

    def _line(self, postfix: dict, final: bool = False) -> None:
        self._last, self._printed = time.monotonic(), True
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        extra = "".join(f", {k} {v}" for k, v in postfix.items())
        complete = not self.stopped and (self.total is None or self.done >= self.total)
        state = ("done, " if complete else "stopped at ") if final else ""
        print(f"{self.what}: {state}{count} {self.unit}s{share}{extra}, {self._last - self._start:.0f} s",
              file=self.stream, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is not None and self.done == 0:
            self._quiet = True  # failed before any work: the error says why, a "stopped at 0" line adds nothing
        self.close()


def track(items: Iterable[T], what: str, total: int | None = None, unit: str = "item",
          every_s: float = 10.0, stream: IO[str] | None = None, quiet_if_quick: bool = False) -> Iterator[T]:
    """Yield ``items`` while counting them (``total`` defaults to ``len(items)`` where there is one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    progress = Progress(total, what, unit, every_s, stream, quiet_if_quick)
    try:
        for item in items:
            yield item
            progress.update()
    except GeneratorExit:  # the caller left the loop early
        progress.stopped = True
        raise
    finally:
        progress.close()
