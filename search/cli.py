"""``sensorium-search``: one entry point, one command group per module in ``search.commands``."""
from __future__ import annotations

import argparse
import importlib
import sys

from search import environment
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environment.apply(getattr(args, "address", None))  # before any handler imports Ray
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
