"""The search-space DSL: a config value is either fixed or one of four distributions.

``{loguniform: [lo, hi]}``, ``{uniform: [lo, hi]}``, ``{int: [lo, hi]}`` (both ends included) and
``{choice: [a, b, ...]}``. A choice among lists or mappings (e.g. ``history_taus``) is offered to the
searcher as JSON strings, because Optuna's categorical distribution only keeps scalars; ``decode``
turns a sampled configuration back into plain values.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sensorium_models.errors import UserError, did_you_mean

KINDS = ("loguniform", "uniform", "int", "choice")
SCALARS = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class Distribution:
    """One searched key: its kind and either ``(lo, hi)`` or the choices."""

    kind: str
    args: tuple

    @property
    def encoded(self) -> bool:
        """Whether the searcher sees this choice's options as JSON strings."""
        return self.kind == "choice" and not all(isinstance(c, SCALARS) for c in self.args)

    def representatives(self) -> list:
        """Values that together exercise the schema: both ends and a third of the way into a range
        (a value no integer field would take), every choice."""
        if self.kind == "choice":
            return list(self.args)
        lo, hi = self.args
        if self.kind == "int":
            return [lo, (lo + hi) // 2, hi]
        inner = lo ** (2 / 3) * hi ** (1 / 3) if self.kind == "loguniform" else lo + (hi - lo) / 3
        return [lo, inner, hi]

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.args
        if self.kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
            return False
        return isinstance(value, (int, float)) and self.args[0] <= value <= self.args[1]

    def searcher_value(self, value: Any) -> Any:
        """``value`` as the searcher sees it (JSON for encoded choices)."""
        return json.dumps(value) if self.encoded else value

    def to_tune(self):
        from ray import tune

        if self.kind == "choice":
            return tune.choice([self.searcher_value(c) for c in self.args])
        lo, hi = self.args
        if self.kind == "int":
            return tune.randint(lo, hi + 1)  # Tune's upper bound is exclusive
        return tune.loguniform(lo, hi) if self.kind == "loguniform" else tune.uniform(lo, hi)


def parse_distribution(value: Any, key: str) -> Distribution | None:
    """The distribution ``value`` spells, None for a fixed value; a malformed one is a UserError."""
    if not (isinstance(value, dict) and len(value) == 1):
        return None
    (kind, args), = value.items()
    if kind not in KINDS:
        suggestion = did_you_mean(str(kind), KINDS)
        if suggestion:
            raise UserError(f"{key}: unknown distribution {kind!r}{suggestion}")
        return None
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise UserError(f"{key}: choice needs a non-empty list of options, found {args!r}")
        return Distribution(kind, tuple(args))
    if not (isinstance(args, list) and len(args) == 2 and all(_is_number(a) for a in args)):
        raise UserError(f"{key}: {kind} needs [lo, hi] as two numbers, found {args!r}")
    lo, hi = args
    if kind == "int" and not all(isinstance(a, int) for a in args):
        raise UserError(f"{key}: int needs two integers, found {args!r}")
    if lo >= hi:
        word = "empty" if lo == hi else "inverted"
        raise UserError(f"{key}: {kind} range [{lo}, {hi}] is {word}; expected lo < hi")
    if kind == "loguniform" and lo <= 0:
        raise UserError(f"{key}: loguniform range [{lo}, {hi}] must be above 0 (log of {lo} is undefined)")
    return Distribution(kind, (lo, hi) if kind == "int" else (float(lo), float(hi)))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def split_block(block: dict, prefix: str) -> tuple[dict, dict[tuple, Distribution]]:
    """Separate a config block into its nested dict (distributions left in place) and the searched paths."""
    searched: dict[tuple, Distribution] = {}

    def walk(node: dict, path: tuple) -> dict:
        out = {}
        for name, value in node.items():
            key = ".".join((prefix, *path, str(name)))
            dist = parse_distribution(value, key)
            if dist is not None:
                searched[(*path, name)] = dist
                out[name] = dist
            elif isinstance(value, dict):
                out[name] = walk(value, (*path, name))
            else:
                out[name] = value
        return out

    return walk(block, ()), searched


def substitute(node: dict, choose) -> dict:
    """A copy of ``node`` with every distribution replaced by ``choose(path, dist)``."""

    def walk(node: dict, path: tuple) -> dict:
        out = {}
        for name, value in node.items():
            if isinstance(value, Distribution):
                out[name] = choose((*path, name), value)
            elif isinstance(value, dict):
                out[name] = walk(value, (*path, name))
            else:
                out[name] = value
        return out

    return walk(node, ())


def get_path(node: dict, path: tuple) -> Any:
    for name in path:
        node = node[name]
    return node


def set_path(node: dict, path: tuple, value: Any) -> None:
    for name in path[:-1]:
        node = node[name]
    node[path[-1]] = value


def flatten(node: dict, sep: str = ".", prefix: tuple = ()) -> dict[str, Any]:
    """Nested dict → ``{"a.b.c": value}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for name, value in node.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, sep, (*prefix, str(name))))
        else:
            out[sep.join((*prefix, str(name)))] = value
    return out
