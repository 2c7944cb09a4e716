"""How concentrated a search's recent proposals have become: the visible sign of a trapped search.

A searcher that has settled on one basin proposes the same value of a discrete key (a ``choice`` or ``int``)
again and again, e.g. 1-layer cores in 9 of the last 10 trials, while a random proposal would repeat it about
one time in as many options. ``search status`` prints the most concentrated such key.
"""
from __future__ import annotations

from collections import Counter

from search.space import Distribution

RECENT = 10  # proposals looked at, the most recent first


def options(dist: Distribution) -> int:
    return len(dist.args) if dist.kind == "choice" else dist.args[1] - dist.args[0] + 1


def concentration_line(params: list[dict], searched: dict[tuple, Distribution], recent: int = RECENT) -> str | None:
    """``last 10 proposals: model.layers=1 in 9 (of 3 options)`` for the discrete key whose commonest value
    fills the largest share of the last ``recent`` proposals (``params``: searched values per trial, in the
    order proposed); None before there are that many, or without a discrete key."""
    if len(params) < recent:
        return None
    last = params[-recent:]
    found = []
    for path, dist in searched.items():
        if dist.kind not in ("choice", "int"):
            continue
        key = ".".join(map(str, path))
        value, count = Counter(repr(p[key]) for p in last).most_common(1)[0]
        found.append((count * options(dist), count, key, value, options(dist)))  # times chance's share
    if not found:
        return None
    _, count, key, value, n = max(found)
    return f"last {recent} proposals: {key}={value} in {count} (of {n} options)"
