"""Train/validation roles: the organisers' tiers, a seeded re-split of the same pool, and labelled test
tiers moved into training.

A re-split redraws which of the train + validation trials validate, so every seed of an ensemble sees
its own held-out set; test tiers and ``none`` keep their roles. Trials showing the same stimulus
(``frame_image_id``, or for video a hash of the frames: ``repeats``) stay on one side, so validation never
scores a stimulus the model trained on.
"""
from __future__ import annotations

import zlib

import numpy as np

from ..errors import UserError
from .repeats import repeat_groups
from .session import ROLES, Session
from .tiers import labelled_test_tiers


def as_roles(roles) -> np.ndarray:
    """Roles as an array wide enough to hold any role."""
    return np.array(roles, dtype=f"<U{max(map(len, ROLES))}")


def train_on_test_tiers(session: Session) -> Session:
    """A copy whose labelled test tiers (the old 2023 mice ship theirs with responses) train, as both 2023
    winners trained; hidden tiers stay test. Those tiers are then no longer scored (``tiers.scored_tiers``)."""
    roles = as_roles(session.roles)
    for tier in labelled_test_tiers(session):
        roles[session.tier_indices(tier)] = "train"
    return session.with_roles(roles)


def resplit(session: Session, seed: int, validation_fraction: float | None = None) -> Session:
    """A copy of ``session`` (arrays shared) whose train/validation roles are redrawn with ``seed``.

    The pool is the trials whose current role is train or validation (with ``train_on_test_tiers``, the
    labelled test tiers too); whole repeat groups go to one side.

    ``validation_fraction`` of the pool validates; by default the fraction the organisers shipped.
    The draw depends on the seed and the session key, so sessions of one run are split independently.
    """
    roles = as_roles(session.roles)
    pool = np.flatnonzero(np.isin(roles, ("train", "validation")))
    if validation_fraction is None:
        validation_fraction = float(np.mean(roles[pool] == "validation")) if len(pool) else 0.0
    if not 0 < validation_fraction < 1:
        raise UserError(f"validation_fraction: expected a value in (0, 1) for session {session.name}, "
                        f"found {validation_fraction} (the session ships no validation trials: set it)")
    groups = repeat_groups(session, pool)
    unique, members = np.unique(groups, return_inverse=True)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(session.key.encode())])
    shuffled = rng.permutation(len(unique))
    sizes = np.bincount(members, minlength=len(unique))[shuffled]
    target = min(max(round(validation_fraction * len(pool)), 1), len(pool) - 1)
    taken = np.cumsum(sizes) - sizes < target  # whole groups, until the target is reached
    if taken.all():
        taken[-1] = False  # keep at least one group for training
    validating = np.zeros(len(unique), dtype=bool)
    validating[shuffled[taken]] = True
    roles[pool] = np.where(validating[members], "validation", "train")
    return session.with_roles(roles)
