"""What a synthetic 2023 session ships, as opposed to what was simulated: hidden responses, empty ``none``
trials, eye-tracker dropouts, per-pixel-and-frame statistics, int64 coordinates.

The simulation (``synthetic``) keeps the true values; these functions turn one trial's true arrays into its
files, the way the real release differs from the truth (``shared/reference/real-release-2023.md``).
"""
from __future__ import annotations

import warnings

import numpy as np

from .layout import trial_statistics
from .synthetic_plan import TrialPlan

PUPIL_CHANNEL = 0          # behavior channel that an eye-tracker dropout blanks (pupil size; 1 is running)
FRAME_BLOCK_VALUES = 2**24  # stimulus values per block when per-frame video statistics are computed


def released_responses(plan: TrialPlan, i: int, responses: np.ndarray) -> np.ndarray:
    """(N, T) as shipped: NaN for an empty trial; zeros inside the valid frames of a hidden one."""
    if plan.empty[i]:
        return np.full_like(responses, np.nan)
    if plan.hidden[i]:
        hidden = np.full_like(responses, np.nan)
        hidden[:, :plan.lengths[i]] = 0
        return hidden
    return responses


def released_stimulus(plan: TrialPlan, i: int, grey: np.ndarray) -> np.ndarray:
    """(T, 36, 64) grey levels as shipped: NaN past the trial's end, all NaN for an empty trial."""
    stored = grey.astype(np.float32)
    stored[0 if plan.empty[i] else plan.lengths[i]:] = np.nan
    return stored


def add_dropouts(plan: TrialPlan, behavior: np.ndarray, pupil_center: np.ndarray) -> None:
    """Blank dropout frames (pupil centre and pupil size) and whole empty trials, in place; (n, C, T)."""
    for i, (start, stop) in enumerate(plan.dropouts):
        if start >= 0:
            pupil_center[i, :, start:stop] = np.nan
            behavior[i, PUPIL_CHANNEL, start:stop] = np.nan
    behavior[plan.empty] = np.nan
    pupil_center[plan.empty] = np.nan


def released(plan: TrialPlan) -> np.ndarray:
    """(n,) bool: trials whose responses are shipped (not hidden, not empty)."""
    return ~(plan.hidden | plan.empty)


def quiet_statistics(trials: np.ndarray) -> dict[str, np.ndarray]:
    """``trial_statistics`` without numpy's warnings about frames that no trial reaches (they are NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return trial_statistics(trials)


def video_statistics(stimuli: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per pixel and frame statistics (36, 64, T) of grey clips ``stimuli`` (n, T, 36, 64) uint8 over the
    trials ``rows``, each valid for ``lengths`` frames: NaN at frames none of them reaches."""
    n, frames = len(rows), stimuli.shape[1]
    block = max(1, FRAME_BLOCK_VALUES // max(1, n * int(np.prod(stimuli.shape[2:]))))
    parts = []
    for lo in range(0, frames, block):
        values = np.asarray(stimuli[rows, lo:lo + block], dtype=np.float32)
        values[np.arange(lo, lo + values.shape[1])[None, :] >= lengths[rows][:, None]] = np.nan
        parts.append(quiet_statistics(values))
    return {stat: np.moveaxis(np.concatenate([p[stat] for p in parts]), 0, -1) for stat in parts[0]}


def integer_coordinates(coords_um: np.ndarray) -> np.ndarray:
    """cell_motor_coordinates as the 2023 release stores them: int64 µm."""
    return np.round(coords_um).astype(np.int64)
