"""The one reader of the YAML files a user gives the tool: bounded, strict about duplicate keys, precise.

``yaml.safe_load`` alone has three flaws for user input: a duplicated key silently keeps the last value;
a small file of nested aliases expands into billions of nodes once anything walks it (a 1.3 KB file took
40 s and 2.6 GB before a later check rejected it); and its error text is several lines. Here the file size
and the expanded node count are bounded before anything is built, duplicates are errors with their line,
and a syntax error is one line with its line, column and problem.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError, shorten

MAX_BYTES = 1 << 20        # a config is a few KB; the search YAML stored with a run is ~2 KB
MAX_NODES = 100_000        # after alias expansion; the largest shipped config has ~200


def read_yaml(path: str | os.PathLike, what: str = "YAML config") -> Any:
    """The parsed contents of ``path``; every problem is a one-line UserError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise UserError(f"{path}: expected a {what} file, found a folder")
        if size > MAX_BYTES:
            raise UserError(f"{path}: expected a {what} of at most {MAX_BYTES // 1024} KB, found {size:,} bytes")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: expected a {what} file, found nothing there") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: expected UTF-8 text, found byte {err.object[err.start]:#04x} at offset "
                        f"{err.start}") from None
    except OSError as err:
        raise UserError(f"{path}: could not be read ({err.strerror})") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, source: str) -> Any:
    """``text`` parsed as one YAML document, with :func:`read_yaml`'s checks."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, source)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = err.problem or err.context or "unreadable"
        raise UserError(f"{where}: not valid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise UserError(f"{source}: not valid YAML: {shorten(str(err))}") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Duplicate keys are errors; the tree, aliases expanded, has at most MAX_NODES nodes.

    Each node's expanded size is computed once (aliases share their node), so a bomb costs microseconds.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            if id(node) in visiting:
                mark = node.start_mark
                raise UserError(f"{source}:{mark.line + 1}:{mark.column + 1}: expected a tree of values, found "
                                f"an alias inside its own anchor")
            visiting.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            if isinstance(node, yaml.MappingNode):
                _check_duplicates(node, source)
            continue
        sizes[id(node)] = size = 1 + sum(sizes.get(id(child), 0) for child in children)
        if size > MAX_NODES:
            mark = node.start_mark
            raise UserError(f"{source}:{mark.line + 1}:{mark.column + 1}: expected a config of at most "
                            f"{MAX_NODES:,} values once its aliases are expanded, found more (an alias bomb?)")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_duplicates(node: yaml.MappingNode, source: str) -> None:
    seen: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            raise UserError(f"{source}:{line}: key {shorten(key.value)!r} appears twice (first on line "
                            f"{seen[key.value]}); expected each key once")
        seen[key.value] = line
