"""``sensorium-search``: one entry point, one command group per module in ``search.commands``."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from sensorium_models.errors import UserError

COMMAND_GROUPS = [
    "search.commands.data",
    "search.commands.train",
    "search.commands.submission",
    "search.commands.search",
    "search.commands.ui",
    "search.commands.promote",
    "search.commands.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensorium-search",
        description="Hyperparameter search, ensembling and submissions for SENSORIUM mouse-V1 models.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_GROUPS:
        importlib.import_module(module).register(subparsers)
    return parser


# Quiet, local-only defaults, set before anything imports Ray (it reads them at import time).
ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if getattr(args, "address", None) is None:
        # An in-process Ray then puts its node on 127.0.0.1 and listens there only (install-probe §6).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        return args.func(args) or 0
    except UserError as err:
        print(f"sensorium-search: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sensorium-search: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
