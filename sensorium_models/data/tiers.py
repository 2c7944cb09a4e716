"""Which tiers of a session carry responses, and which of them can be scored: the one place that decides.

The organisers ship hidden test tiers with dummy responses, zeros inside every trial's valid frames (the
2023 new mice's main and bonus tiers; the 2022 competition tiers). They are recognised from the arrays
themselves. A labelled test tier is scored unless the run trained on it (``data.train_on_test_tiers``);
the shipped validation tier is always scored (a re-split may have trained some members on it).
"""
from __future__ import annotations

import numpy as np

from .session import TIER_ROLES, Session


def hidden(session: Session, trials: np.ndarray) -> bool:
    """True when every response of ``trials`` is hidden (the organisers' dummy zeros), or there are no trials.

    The reader's per-trial flags where the session has them; else from the arrays, trial by trial, stopping
    at the first non-zero value (a labelled tier costs one trial's read)."""
    if session.hidden is not None:
        return bool(np.all(session.hidden[np.asarray(trials, dtype=np.int64)]))
    return not any(np.any(session.responses[int(t)]) for t in trials)


def tiers_of_role(session: Session, role: str) -> list[str]:
    """The tier labels of ``session`` that the organisers meant for ``role`` (by label, not by the
    session's current roles, which re-splits and ``train_on_test_tiers`` change), sorted."""
    return sorted(tier for tier in set(map(str, session.tiers)) if TIER_ROLES[tier] == role)


def hidden_tiers(session: Session) -> list[str]:
    """Test tiers shipped without responses."""
    return [tier for tier in tiers_of_role(session, "test") if hidden(session, session.tier_indices(tier))]


def labelled_test_tiers(session: Session) -> list[str]:
    """Test tiers shipped with responses (the 2023 old mice ship every tier so)."""
    return [tier for tier in tiers_of_role(session, "test") if not hidden(session, session.tier_indices(tier))]


def trained_test_tiers(session: Session) -> list[str]:
    """Labelled test tiers the session's roles put into training or validation: not scored, and said so."""
    return [tier for tier in labelled_test_tiers(session)
            if np.any(session.roles[session.tier_indices(tier)] != "test")]


def scored_tiers(session: Session) -> list[str]:
    """The tiers a score can honestly be reported on: the shipped validation tier(s), then the labelled
    test tiers that no trial of was trained or validated on."""
    trained = set(trained_test_tiers(session))
    tests = [tier for tier in labelled_test_tiers(session) if tier not in trained]
    return tiers_of_role(session, "validation") + tests
