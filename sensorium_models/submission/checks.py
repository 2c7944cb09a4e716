"""Bookkeeping shared by the two validators: problems grouped by kind, and which trials a file covers."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from ..data.session import Session

EXAMPLES = 5


class Findings:
    """Problems grouped by kind with a few example rows each, so a file broken on every row reads in a line."""

    def __init__(self) -> None:
        self._rows: dict[str, list[str]] = {}
        self._lines: list[str] = []

    def row(self, kind: str, example: str) -> None:
        """Record that the row ``example`` (e.g. ``mouse A, trial 3``) has the problem ``kind``."""
        self._rows.setdefault(kind, []).append(example)

    def line(self, message: str) -> None:
        """Record a problem of the whole file."""
        self._lines.append(message)

    def drop(self, kind: str) -> None:
        """Forget the rows of ``kind`` (replaced by a better explanation)."""
        self._rows.pop(kind, None)

    def messages(self) -> list[str]:
        out = []
        for kind, examples in self._rows.items():
            more = f" and {len(examples) - EXAMPLES} more" if len(examples) > EXAMPLES else ""
            out.append(f"{kind} ({len(examples)} rows): {'; '.join(examples[:EXAMPLES])}{more}")
        return out + self._lines


OTHER_TIER = "trial of another tier"


class TrialLedger:
    """Checks that a file holds every trial of its tier exactly once and nothing else."""

    def __init__(
        self, tier: str, file_name: str, findings: Findings,
        trial_value: Callable[[Session, int], object] = lambda session, trial: trial,
    ) -> None:
        self.tier = tier
        self.trial_value = trial_value  # what the file's trial_indices column holds for a trial
        self.file_name = file_name
        self.findings = findings
        self.rows = 0
        self.seen: set[tuple[str, int]] = set()
        self.other_tiers: Counter[str] = Counter()

    def add(self, session: Session, trial: int, label: str) -> None:
        """Count one row naming ``trial`` of ``session`` (an index into its arrays)."""
        self.rows += 1
        tier = str(session.tiers[trial])
        if tier != self.tier:
            self.other_tiers[tier] += 1
            self.findings.row(OTHER_TIER, f"{label} is in tier {tier}")
        elif (session.name, trial) in self.seen:
            self.findings.row("duplicated trial", label)
        else:
            self.seen.add((session.name, trial))

    def unknown(self, kind: str, label: str) -> None:
        """Count one row that names no trial of any session."""
        self.rows += 1
        self.findings.row(kind, label)

    def finish(self, sessions: list[Session]) -> None:
        """Report the tier's trials no row named, and a file name that fits another tier's rows."""
        if self.rows and len(self.other_tiers) == 1 and sum(self.other_tiers.values()) == self.rows:
            (other,) = self.other_tiers
            self.findings.drop(OTHER_TIER)
            self.findings.line(
                f"file name {self.file_name} is for tier {self.tier}, but all its rows are trials of tier {other}"
            )
        for session in sessions:
            expected = session.tier_indices(self.tier)
            missing = [self.trial_value(session, int(t)) for t in expected if (session.name, int(t)) not in self.seen]
            if missing:
                shown = ", ".join(map(str, missing[:EXAMPLES])) + (" ..." if len(missing) > EXAMPLES else "")
                self.findings.line(
                    f"missing trials: {len(missing)} of the {len(expected)} {self.tier} trials of "
                    f"{session.name} have no row (trial indices {shown})"
                )


def column_problems(names: list[str], expected: tuple[str, ...]) -> list[str]:
    """Columns missing from or unexpected in a file that must hold exactly ``expected``."""
    missing = [c for c in expected if c not in names]
    extra = [c for c in names if c not in expected]
    problems = []
    if missing:
        problems.append(f"missing column(s) {missing}")
    if extra:
        problems.append(f"unexpected column(s) {extra}")
    if not problems and len(names) != len(expected):
        problems.append(f"duplicated column(s) in {names}")
    return [f"{problem}; expected exactly {list(expected)}" for problem in problems]


def neuron_ids_problem(ids: np.ndarray, unit_ids: np.ndarray, owner: str) -> str | None:
    """Why a row's neuron ids are not ``unit_ids`` in order (``owner``: "session", "mouse"), or None."""
    if np.array_equal(ids, unit_ids):
        return None
    if len(ids) == len(unit_ids) and np.array_equal(np.sort(ids), np.sort(unit_ids)):
        return f"neuron ids in another order than the {owner}'s unit_ids"
    return f"neuron ids are not the {owner}'s unit_ids"
