"""Options several commands take, each defined once with one help text, as argparse parent parsers.

A command lists the ones it takes: ``add_parser(..., parents=[RUNS_DIR, ADDRESS])``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

RUNS_ENV = "SENSORIUM_RUNS_DIR"


def _parent(*flags: str, **kwargs) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*flags, **kwargs)
    return parent


RUNS_DIR = _parent("--runs-dir", help=f"project run folder: searches, promotions, the MLflow store "
                                      f"(default ${RUNS_ENV}, else ./runs)")
ADDRESS = _parent("--address", help="join a Ray cluster: auto, ray://HOST:PORT or HOST:PORT "
                                    "(default: Ray in this process, on 127.0.0.1)")
MLFLOW_URI = _parent("--mlflow-uri", help="MLflow tracking store or server (default sqlite:///<runs>/mlflow.db)")
# The same flag for commands that reach an existing search, whose record names its store.
RECORDED_MLFLOW = _parent("--mlflow-uri", help="tracking store or server (default: the one the search was "
                                               "launched with)")


def runs_dir(arg: str | None) -> Path:
    """``--runs-dir``, else ``$SENSORIUM_RUNS_DIR``, else ``./runs``; always absolute (trials run elsewhere)."""
    return Path(arg or os.environ.get(RUNS_ENV) or "runs").absolute()
