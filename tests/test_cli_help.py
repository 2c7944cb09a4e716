"""Complete help: every command and argument says what it is, and the defaults it has; the README's
commands parse against the CLI as it is."""
from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from search.cli import build_parser

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[1]


def _parsers(parser: argparse.ArgumentParser, prog: str = "sensorium-search"):
    """(command path, parser, its help line in the parent) for the parser and every sub-command under it."""
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def test_every_command_and_argument_has_help_naming_its_default():
    missing = []
    for prog, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                if isinstance(action, argparse._SubParsersAction):
                    described = {a.dest for a in action._choices_actions if a.help}
                    missing += [f"{prog} {name}: no help" for name in action.choices if name not in described]
                    missing += [f"{prog} {name}: no description" for name, sub in action.choices.items()
                                if not sub.description]
                continue
            name = f"{prog} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(f"{name}: no help")
                continue
            takes_value = action.nargs != 0 and action.option_strings
            if takes_value and action.default is not None and "default" not in action.help:
                missing.append(f"{name}: default {action.default!r} not said")
            if action.help.count("default") > 1:
                missing.append(f"{name}: 'default' said twice")
    assert not missing, "\n".join(missing)


def _readme_commands() -> list[list[str]]:
    """Every ``sensorium-search ...`` line in the README's shell blocks, line continuations joined."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell|console)?\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("sensorium-search "):
                commands.append(shlex.split(line.split(" #")[0].split("|")[0].split("&&")[0])[1:])
    return commands


def test_the_readme_commands_parse_against_the_cli():
    commands = _readme_commands()
    assert len(commands) >= 10, commands
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as exit:
            pytest.fail(f"README: sensorium-search {shlex.join(argv)} does not parse (exit {exit.code})")
