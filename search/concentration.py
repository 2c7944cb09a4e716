"""How concentrated a search's recent proposals have become: the visible sign of a trapped search.

A searcher that has settled on one basin proposes the same value of a discrete key (a ``choice`` or ``int``)
again and again, e.g. 1-layer cores in 9 of the last 10 trials, while a random proposal would repeat it about
one time in as many options. ``search status`` prints the most concentrated such key, and the search's MLflow
parent run carries it (search.tracking).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from search.space import Distribution

RECENT = 10  # proposals looked at, the most recent first


def options(dist: Distribution) -> int:
    return len(dist.args) if dist.kind == "choice" else dist.args[1] - dist.args[0] + 1


@dataclass(frozen=True)
class Concentration:
    """The discrete key whose commonest value fills the largest share of the last ``recent`` proposals."""

    key: str
    value: str
    count: int
    options: int
    recent: int

    @property
    def line(self) -> str:
        return f"last {self.recent} proposals: {self.key}={self.value} in {self.count} (of {self.options} options)"

    @property
    def share(self) -> float:
        return self.count / self.recent


def concentration(params: list[dict], searched: dict[tuple, Distribution],
                  recent: int = RECENT) -> Concentration | None:
    """The most concentrated discrete key of the last ``recent`` proposals (``params``: searched values per trial,
    in the order proposed), weighed by its number of options; None before there are that many, or without a
    discrete key."""
    if len(params) < recent:
        return None
    last = params[-recent:]
    found = []
    for path, dist in searched.items():
        if dist.kind not in ("choice", "int"):
            continue
        key = ".".join(map(str, path))
        value, count = Counter(repr(p[key]) for p in last).most_common(1)[0]
        found.append(Concentration(key, value, count, options(dist), recent))
    return max(found, key=lambda c: (c.count * c.options, c.count, c.key, c.value), default=None)
