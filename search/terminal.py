"""What the terminal shows of the search's own log: the CLI attaches this, a notebook may call it too.

The API and the driver-side code log (``logging.getLogger("search....")``) instead of printing, so a caller
decides what is shown: the CLI shows INFO lines as they are on stdout and warnings on stderr; a notebook sees
only warnings unless it calls :func:`show` (or configures logging itself).
"""
from __future__ import annotations

import logging
import sys

LOGGER = "search"


class _Terminal(logging.Handler):
    """Each message as it is (no level or time prefix): INFO on stdout, warnings and worse on stderr. The
    streams are looked up per message, so a redirected ``sys.stdout`` (a test's, a notebook's) receives it."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging must never end the search (logging's own convention)
            self.handleError(record)


def show(level: int = logging.INFO) -> None:
    """Show the search's messages at ``level`` and above on the terminal, once (calling again changes the
    level only)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    if not any(isinstance(h, _Terminal) for h in logger.handlers):
        logger.addHandler(_Terminal())
    logger.propagate = False  # shown here, not again by a root handler another library set up
