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
    """(n, F) float64: a static (n, F) array as it is, a video (n, T, F) array averaged over valid frames.

    Video trials are summed one at a time in float64: the array (often a memory map of a whole mouse's
    responses) is never copied whole, so the transient is one trial's frames, not 4x the responses.
    """
    if session.kind == "static":
        return np.asarray(array, dtype=np.float64)
    n, frames = array.shape[:2]
    lengths = np.full(n, frames) if session.lengths is None else np.asarray(session.lengths)
    means = np.zeros((n, *array.shape[2:]), dtype=np.float64)
    for i, length in enumerate(lengths):
        means[i] = np.asarray(array[i, :max(length, 0)], dtype=np.float64).sum(axis=0)
    return means / np.maximum(lengths, 1)[:, None]


def recent_means(session: Session, lags: list[int], dtype: type = np.float32) -> np.ndarray:
    """(n, N, K): before each trial, the mean response of the last ``lags[k]`` usable trials.

    Model 4's history regressor (``create_recurrent_regressor``): walking the trials in presentation
    order, trial t gets the mean over the L most recent train or validation trials presented before it,
    the window zero-padded at the start (always divided by L); test and skipped trials never enter a
    window, and no trial enters its own. Running window sums keep the memory at the output's.
    """
    ranks = presentation_ranks(session, "history of the last trials")
    responses = trial_means(session, session.responses)
    usable = available(session)
    lags_array = np.asarray(lags)
    sums = np.zeros((session.n_neurons, len(lags)))
    entered: list[int] = []
    features = np.empty((session.n_trials, session.n_neurons, len(lags)), dtype=dtype)
    for trial in np.argsort(ranks):
        features[trial] = sums / lags_array
        if usable[trial]:
            entered.append(trial)
            sums += responses[trial][:, None]
            for k, lag in enumerate(lags):
                if len(entered) > lag:
                    sums[:, k] -= responses[entered[-1 - lag]]
    return features


def mean_response(session: Session) -> np.ndarray:
    """(N,) mean response over the training trials (all trials if none is labelled train)."""
    means = trial_means(session, session.responses)
    train = session.roles == "train"
    return (means[train] if train.any() else means).mean(axis=0)
