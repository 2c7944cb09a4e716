"""Train/validation roles: the organisers' tiers, or a seeded re-split of the same pool.

A re-split redraws which of the train + validation trials validate, so every seed of an ensemble sees
its own held-out set; test tiers and ``none`` keep their roles. Trials showing the same image
(``frame_image_id``) stay on one side, so validation never scores an image the model trained on.
"""
from __future__ import annotations

import zlib

import numpy as np

from ..errors import UserError
from .session import ROLES, TIER_ROLES, Session


def tier_roles(tiers: np.ndarray) -> np.ndarray:
    """The role of each trial as its tier label defines it (wide enough to hold any role)."""
    return np.array([TIER_ROLES[t] for t in tiers], dtype=f"<U{max(map(len, ROLES))}")


def resplit(session: Session, seed: int, validation_fraction: float | None = None) -> Session:
    """A copy of ``session`` (arrays shared) whose train/validation roles are redrawn with ``seed``.

    ``validation_fraction`` of the pool validates; by default the fraction the organisers shipped.
    The draw depends on the seed and the session key, so sessions of one run are split independently.
    """
    roles = tier_roles(session.tiers)
    pool = np.flatnonzero(np.isin(roles, ("train", "validation")))
    if validation_fraction is None:
        validation_fraction = float(np.mean(roles[pool] == "validation")) if len(pool) else 0.0
    if not 0 < validation_fraction < 1:
        raise UserError(f"validation_fraction: expected a value in (0, 1) for session {session.name}, "
                        f"found {validation_fraction} (the session ships no validation trials: set it)")
    groups = session.image_ids[pool] if session.image_ids is not None else pool
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
