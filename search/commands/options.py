"""Options several commands take, each defined once with one help text, as argparse parent parsers.

A command lists the ones it takes: ``add_parser(..., parents=[*SEARCH_AT, ADDRESS])``. Every command that
reaches a search takes the same connection flags (``SEARCH_AT``), so one set of flags works for all of them,
and :func:`connection_flags` writes them back into the hints a command prints.
"""
from __future__ import annotations

import argparse

from search.api import RUNS_ENV


def _parent(*flags: str, **kwargs) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*flags, **kwargs)
    return parent


RUNS_DIR = _parent("--runs-dir", help=f"project run folder: searches, promotions, the MLflow store "
                                      f"(default ${RUNS_ENV}, else ./runs)")
STORAGE = _parent("--storage", help="a search's Tune results, checkpoints and record: a folder or s3://... "
                                    "(launch: default <runs>/ray_results; the other commands read the search "
                                    "from there, e.g. on another machine)")
MLFLOW_URI = _parent("--mlflow-uri", help="MLflow tracking store or server (default: for an existing search, the "
                                          "one it was launched with; else sqlite:///<runs>/mlflow.db)")
ADDRESS = _parent("--address", help="join a Ray cluster: auto, ray://HOST:PORT or HOST:PORT "
                                    "(default: Ray in this process, on 127.0.0.1)")
SEARCH_AT = [RUNS_DIR, STORAGE, MLFLOW_URI]  # where a search lives


def connection_flags(args: argparse.Namespace) -> str:
    """The connection flags the user gave, as they would type them again (for hints to paste)."""
    given = [(flag, getattr(args, flag[2:].replace("-", "_"), None))
             for flag in ("--runs-dir", "--storage", "--mlflow-uri", "--address")]
    return "".join(f" {flag} {value}" for flag, value in given if value)
