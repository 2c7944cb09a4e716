"""``sensorium-search``: one entry point, one command group per module in ``search.commands``; a thin layer
over ``search.api`` that decides what the terminal shows."""
from __future__ import annotations

import argparse
import sys
import traceback

from search import environment, terminal
from search.commands import cluster, data, demo, promote, search, submission, train, ui
from sensorium_models.errors import UserError

COMMAND_GROUPS = [data, train, submission, search, ui, promote, demo, cluster]
DEBUG_HELP = "on an error, show its Python traceback too"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensorium-search",
        description="Hyperparameter search, ensembling and submissions for SENSORIUM mouse-V1 models.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(subparsers)
    for command in _subcommands(parser):  # --debug anywhere on the line, not only before the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """A command without a description of its own shows its help line at the top of its ``--help``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            lines = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                sub.description = sub.description or lines.get(name)
                _describe(sub)


def _subcommands(parser: argparse.ArgumentParser):
    """Every parser under ``parser``'s subcommands, at any depth."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield command
                yield from _subcommands(command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    terminal.show()
    environment.apply(getattr(args, "address", None))  # before any handler imports Ray
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", None)
        print("sensorium-search: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the one place an error becomes a line and a status
        if args.debug:
            traceback.print_exc()
        line, status = describe_error(err)
        print(f"sensorium-search: error: {line}", file=sys.stderr)
        return status


def describe_error(err: BaseException) -> tuple[str, int]:
    """One line and the exit status for an error that reached the top.

    A user's mistake (a UserError, also when a Ray task raised it, or an OS error naming a file) is status 2;
    anything else is a fault of the tool, status 1, with a pointer to ``--debug`` rather than a traceback.
    """
    user = _user_error(err)
    if user is not None:
        return str(user), 2
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}", 2
    text = " ".join(str(err).split())
    text = text if len(text) <= 300 else text[:300] + "..."
    return f"{type(err).__name__}: {text} (not a problem with your input; rerun with --debug for the traceback)", 1


def _user_error(err: BaseException | None) -> UserError | None:
    """The UserError behind ``err``: itself, or the cause a Ray task error or a ``raise ... from`` carries."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        cause = getattr(err, "cause", None)  # ray.exceptions.RayTaskError keeps the remote exception here
        if isinstance(err, UserError) and not isinstance(cause, BaseException):
            return err
        err = cause if isinstance(cause, BaseException) else err.__cause__
    return None

if __name__ == "__main__":
    sys.exit(main())
