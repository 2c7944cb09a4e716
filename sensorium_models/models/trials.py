"""Per-trial views of a session that the modulators and the readout bias are built from.

Everything here is computed once at build time, in numpy, from the session's arrays; the model then looks
values up by ``batch.trials``. Video trials are summarised by their mean over valid frames.
"""
from __future__ import annotations

import numpy as np

from ..data.session import Session
from ..errors import UserError

# Trials whose responses may feed a model input: the labelled ones. Test and skipped tiers never do.
AVAILABLE_ROLES = ("train", "validation")


def presentation_ranks(session: Session, needed_by: str) -> np.ndarray:
    """(n,) position 0..n-1 of each trial in presentation order; ``needed_by`` names the feature asking."""
    if session.order is None:
        raise UserError(
            f"session {session.key!r}: the model's {needed_by} needs the trials' presentation order, "
            f"but the session has none (session.order is None)"
        )
    order = np.asarray(session.order)
    if order.shape != (session.n_trials,):
        raise UserError(
            f"session {session.key!r}: session.order must have shape ({session.n_trials},), found {order.shape}"
        )
    return np.argsort(np.argsort(order, kind="stable"), kind="stable")


def available(session: Session) -> np.ndarray:
    """(n,) bool: trials whose responses may be used as model inputs (train or validation role)."""
    return np.isin(session.roles, AVAILABLE_ROLES)


def trial_means(session: Session, array: np.ndarray) -> np.ndarray:
    """(n, F) float64: a static (n, F) array as it is, a video (n, T, F) array averaged over valid frames."""
    array = np.asarray(array, dtype=np.float64)
    if session.kind == "static":
        return array
    frames = array.shape[1]
    lengths = np.full(len(array), frames) if session.lengths is None else np.asarray(session.lengths)
    valid = np.arange(frames)[None, :] < lengths[:, None]
    summed = (array * valid[:, :, None]).sum(axis=1)
    return summed / np.maximum(lengths, 1)[:, None]


def mean_response(session: Session) -> np.ndarray:
    """(N,) mean response over the training trials (all trials if none is labelled train)."""
    means = trial_means(session, session.responses)
    train = session.roles == "train"
    return (means[train] if train.any() else means).mean(axis=0)
