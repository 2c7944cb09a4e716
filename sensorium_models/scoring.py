"""The competitions' scores of predictions on a session's tiers, and how they are averaged over mice.

2023 (video), as the organisers' scorer: per mouse, per-neuron correlation over frames 51..min(T, 300)-1
of every trial concatenated, NaN -> 0, mean over neurons (``challenge_corr``); the leaderboard value is
the mean over mice. Beside it the correlation to average over the repeats of each video
(``corr_to_average``, repeats grouped by a hash of the frames). 2022 (static), as the organisers'
``evaluate()``: single-trial correlation, correlation to average and FEVE per session.
Which tiers are scored is decided in one place, :func:`.data.tiers.scored_tiers`.

Video trials are scored to their own length (``Session.whole_trials``), as the organisers' solution holds
them: a trial the reader cut at an interior NaN (a dropout) trains on its frames before the cut, but is
predicted and scored whole (the reader stores the frames after it, NaN filled).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import metrics
from .data.repeats import repeat_groups
from .data.session import Session
from .data.tiers import scored_tiers
from .metrics import SCORED_FROM
from .prediction import trial_responses

MEAN = "mean"  # the session part of a flat score key holding the mean over the scored mice


def neuron_correlations(session: Session, trials: np.ndarray, predictions, skip: int = SCORED_FROM) -> np.ndarray:
    """The per-neuron validation score: single-trial correlation (static) or the 2023 challenge
    correlation over frames ``skip``..min(T, 300)-1 of each trial (video)."""
    responses = trial_responses(session, trials)
    if session.kind == "video":
        return metrics.challenge_correlation(responses, predictions, skip=skip)
    return metrics.single_trial_correlation(responses, predictions)


def score_predictions(session: Session, trials: np.ndarray, predictions, skip: int = SCORED_FROM) -> dict[str, float]:
    """Neuron-averaged scores of predictions for ``trials`` of one session (one mouse)."""
    trials = np.asarray(trials)
    scores = {"challenge_corr" if session.kind == "video" else "single_trial_corr":
              float(neuron_correlations(session, trials, predictions, skip).mean())}
    if session.kind == "static" and session.image_ids is None:
        return scores
    groups = repeat_groups(session, trials)
    if len(np.unique(groups)) == len(groups):
        return scores  # nothing repeats: no average to correlate with
    responses = trial_responses(session, trials)
    if session.kind == "video":
        scores["corr_to_average"] = float(
            metrics.video_correlation_to_average(responses, predictions, groups, skip).mean())
        return scores
    scores["corr_to_average"] = float(metrics.correlation_to_average(responses, predictions, groups).mean())
    explained = metrics.feve(responses, predictions, groups)
    if explained.size:
        scores["feve"] = float(explained.mean())
    return scores


def search_score(sessions: list[Session], per_neuron: list[np.ndarray]) -> float:
    """The one number a search optimises, from each session's per-neuron validation score.

    Video: the 2023 leaderboard's mean over mice of the mean over neurons. Static: the mean over all
    neurons pooled, as the 2022 reference trainer (neuralpredictors ``get_correlations``) validates.
    """
    if sessions and all(s.kind == "video" for s in sessions):
        return float(np.mean([values.mean() for values in per_neuron]))
    return float(np.concatenate(per_neuron).mean())


Predictions = Callable[[Session, str], object]


def tier_scores(sessions: list[Session], predictions: Predictions, skip: int = SCORED_FROM) -> list[dict]:
    """One row per (session, scored tier): ``session``, ``tier``, ``trials`` and the scores.

    ``predictions(session, tier)`` returns the predictions for ``session.tier_indices(tier)`` of the
    ``Session.whole_trials`` view it is given.
    """
    rows = []
    for session in (s.whole_trials() for s in sessions):
        for tier in scored_tiers(session):
            trials = session.tier_indices(tier)
            rows.append({"session": session.key, "tier": tier, "trials": int(len(trials)),
                         **score_predictions(session, trials, predictions(session, tier), skip)})
    return rows


def flat_scores(rows: list[dict]) -> dict[str, float]:
    """Rows as ``{"<session>/<tier>/<metric>": value}`` plus ``"mean/<tier>/<metric>"``, the mean over the
    mice scored on that tier (the 2023 leaderboard's average)."""
    flat: dict[str, float] = {}
    pooled: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        for metric, value in row.items():
            if metric not in ("session", "tier", "trials"):
                flat[f"{row['session']}/{row['tier']}/{metric}"] = value
                pooled.setdefault((row["tier"], metric), []).append(value)
    for (tier, metric), values in sorted(pooled.items()):
        flat[f"{MEAN}/{tier}/{metric}"] = float(np.mean(values))
    return flat


def split_key(key: str) -> tuple[str, str, str]:
    """``(session, tier, metric)`` of a flat score key."""
    session, tier, metric = key.rsplit("/", 2)
    return session, tier, metric
