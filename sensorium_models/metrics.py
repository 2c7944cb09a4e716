"""The SENSORIUM scores, computed per neuron exactly as the organisers' code does.

Every correlation uses neuralpredictors' ``corr``: Pearson with the population std (ddof=0) and an
``eps`` in the denominator, so a constant neuron scores 0 rather than NaN. Responses and predictions are
(trials, neurons) for static sessions; video trials are lists of (frames, neurons) arrays, time first as
in ``Session.responses[i, :lengths[i]]``. Each function returns per-neuron values; average them for a score.
"""
from __future__ import annotations

import numpy as np


def correlation(y1: np.ndarray, y2: np.ndarray, axis: int = 0, eps: float = 1e-8) -> np.ndarray:
    """mean(((y1 - mean y1) / (std y1 + eps)) * ((y2 - mean y2) / (std y2 + eps))) along ``axis``."""
    y1 = np.asarray(y1, dtype=np.float64)
    y2 = np.asarray(y2, dtype=np.float64)
    z1 = (y1 - y1.mean(axis=axis, keepdims=True)) / (y1.std(axis=axis, keepdims=True) + eps)
    z2 = (y2 - y2.mean(axis=axis, keepdims=True)) / (y2.std(axis=axis, keepdims=True) + eps)
    return (z1 * z2).mean(axis=axis)


def single_trial_correlation(responses: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Per-neuron correlation over trials of (trials, neurons) arrays; NaN (e.g. NaN inputs) becomes 0."""
    return np.nan_to_num(correlation(responses, predictions, axis=0), nan=0.0)


def _image_means(values: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """(images, neurons): the mean over the repeats of each distinct image, in sorted id order."""
    ids, inverse = np.unique(np.asarray(image_ids), return_inverse=True)
    sums = np.zeros((len(ids), values.shape[1]))
    np.add.at(sums, inverse, values)
    return sums / np.bincount(inverse, minlength=len(ids))[:, None]


def correlation_to_average(responses: np.ndarray, predictions: np.ndarray,
                           image_ids: np.ndarray) -> np.ndarray:
    """Per-neuron correlation across images of the repeat-averaged responses and predictions."""
    responses = np.asarray(responses, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    return single_trial_correlation(_image_means(responses, image_ids), _image_means(predictions, image_ids))


def feve(responses: np.ndarray, predictions: np.ndarray, image_ids: np.ndarray,
         fev_threshold: float = 0.15) -> np.ndarray:
    """Fraction of explainable variance explained, for the neurons whose FEV is at least ``fev_threshold``
    (the organisers' ``>=``, sinzlab/sensorium 37c9447).

    Over the trials of images shown at least twice (a single showing carries no noise estimate):
    total_var = var(responses, ddof=1); noise_var = mean over images of var over repeats (ddof=1);
    FEV = (total_var - noise_var) / total_var;
    FEVE = 1 - (mean((r - p)^2) - noise_var) / (total_var - noise_var).
    Scale-dependent: predictions must be on the standardised response scale. Returns an empty array
    when no image repeats or no neuron passes.
    """
    responses = np.asarray(responses, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    ids, inverse, counts = np.unique(np.asarray(image_ids), return_inverse=True, return_counts=True)
    repeated = counts[inverse] >= 2
    if not repeated.any():
        return np.zeros(0)
    responses, predictions = responses[repeated], predictions[repeated]
    groups = inverse[repeated]
    image_var = [responses[groups == g].var(axis=0, ddof=1) for g in np.unique(groups)]
    noise_var = np.mean(image_var, axis=0)
    total_var = responses.var(axis=0, ddof=1)
    error = ((responses - predictions) ** 2).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fev = (total_var - noise_var) / total_var
        explained = 1 - (error - noise_var) / (total_var - noise_var)
    return explained[fev >= fev_threshold]


# The 2023 scorer: only a trial's first SCORED_UNTIL frames count, and it drops the first SCORED_FROM of
# them, so a 300-frame trial is scored on frames 51..299 (249 frames, as both accepted winners submitted).
SCORED_FROM = 51
SCORED_UNTIL = 300


def scored_window(length: int, skip: int = SCORED_FROM) -> slice:
    """Frames ``skip``..min(length, 300)-1 of a trial: what the 2023 scorer compares (empty if too short)."""
    return slice(skip, max(skip, min(int(length), SCORED_UNTIL)))


def challenge_correlation(responses: list[np.ndarray], predictions: list[np.ndarray],
                          skip: int = SCORED_FROM) -> np.ndarray:
    """The 2023 competition correlation of one mouse: frames ``skip``..min(T, 300)-1 of every trial
    concatenated along time, then per-neuron correlation (NaN -> 0). Each trial is (frames, neurons).
    The competition's value is the mean of this over neurons, then the mean over mice."""
    _check_trials(responses, predictions)
    kept_r = np.concatenate([np.asarray(r)[scored_window(len(r), skip)] for r in responses], axis=0)
    kept_p = np.concatenate([np.asarray(p)[scored_window(len(p), skip)] for p in predictions], axis=0)
    return single_trial_correlation(kept_r, kept_p)


def video_correlation_to_average(responses: list[np.ndarray], predictions: list[np.ndarray],
                                 groups: np.ndarray, skip: int = SCORED_FROM) -> np.ndarray:
    """The 2023 scorer's second column for one mouse: per video (trials sharing a ``groups`` value, i.e.
    repeats of one stimulus) the frame-wise mean over its repeats of responses and of predictions, scored
    frames of every video concatenated, then per-neuron correlation (NaN -> 0)."""
    _check_trials(responses, predictions)
    groups = np.asarray(groups)
    mean_r, mean_p = [], []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        length = min(len(responses[i]) for i in members)
        window = scored_window(length, skip)
        mean_r.append(np.mean([np.asarray(responses[i], np.float64)[window] for i in members], axis=0))
        mean_p.append(np.mean([np.asarray(predictions[i], np.float64)[window] for i in members], axis=0))
    return single_trial_correlation(np.concatenate(mean_r), np.concatenate(mean_p))


def _check_trials(responses: list[np.ndarray], predictions: list[np.ndarray]) -> None:
    if len(responses) != len(predictions):
        raise ValueError(f"{len(responses)} response trials but {len(predictions)} prediction trials")
    for r, p in zip(responses, predictions):
        if np.shape(r) != np.shape(p):
            raise ValueError(f"a response trial has shape {np.shape(r)}, its prediction {np.shape(p)}")
