"""The ground truth of a synthetic session: a folder beside the sessions, which session readers ignore.

``<out>/ground_truth/<session folder name>/`` holds, by file index like the session itself:

=========================== ==================================================================
params.json                 true scalars and formulas: history tau, noise, retinotopy, eye, ...
rates.npy                   noise-free expected responses in raw response units: static (n, N);
                            video (n, N, T) NaN past each trial's end, like the responses files
history.npy                 (n, N) history state h at the start of each trial
gain_drift.npy              (n,) log-gain drift of each trial
population_state.npy        (n, STATE_DIMS) the carried-over population state at each trial (state_strength > 0)
stimulus_ids.npy            (n,) repeats share an id (for video clips the only record of it)
oracle_correlation.npy      (N,) what a perfect model reaches on the labelled test tier
lengths.npy                 (n,) frames each trial lasts (before the NaN padding)
released_lengths.npy        video: (n,) frames to the first NaN of any modality (a dropout cuts), 0 if empty
hidden.npy                  video: (n,) bool, responses shipped as zeros (a new mouse's main/bonus tests)
hidden_responses.npy        video: the true responses of the hidden trials, in ``hidden`` order
empty.npy                   video: (n,) bool, 'none' trials shipped all NaN
dropouts.npy                video: (n, 2) [start, stop) of the NaN run in pupil_center and behavior[0]
neurons/<parameter>.npy     each neuron's true parameters (receptive field, couplings, ...)
=========================== ==================================================================

Benchmarks divide a model's test correlation by ``oracle_correlation`` to report a fraction of oracle.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import expect

GROUND_TRUTH = "ground_truth"


def ground_truth_folder(session_folder: str | Path) -> Path:
    """Where the ground truth of ``<out>/<session>`` lives: ``<out>/ground_truth/<session>``."""
    session_folder = Path(session_folder)
    return session_folder.parent / GROUND_TRUTH / session_folder.name


def load_ground_truth(session_folder: str | Path) -> dict:
    """``params`` (dict), every top-level array (rates and history memory-mapped), ``neurons`` (dict)."""
    folder = ground_truth_folder(session_folder)
    expect((folder / "params.json").is_file(),
           f"{folder}: expected the ground truth of a synthetic session (params.json), found none")
    truth: dict = {"params": json.loads((folder / "params.json").read_text())}
    for path in sorted(folder.glob("*.npy")):
        truth[path.stem] = np.load(path, mmap_mode="r")
    truth["neurons"] = {path.stem: np.load(path) for path in sorted((folder / "neurons").glob("*.npy"))}
    return truth


def as_samples(array: np.ndarray) -> np.ndarray:
    """Trials (and frames) as samples, neurons as columns: (n, N) stays; video (n, N, T) -> (n*T, N)."""
    array = np.asarray(array)
    return array if array.ndim == 2 else array.transpose(0, 2, 1).reshape(-1, array.shape[1])


def neuron_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation per column of two (samples, N) arrays over the samples finite in both.

    A neuron whose responses or predictions do not vary gets 0, as the challenge metrics do.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    count = np.maximum(finite.sum(axis=0), 1)
    dx = np.where(finite, x - np.where(finite, x, 0).sum(axis=0) / count, 0)
    dy = np.where(finite, y - np.where(finite, y, 0).sum(axis=0) / count, 0)
    norm = np.sqrt((dx**2).sum(axis=0) * (dy**2).sum(axis=0))
    return np.divide((dx * dy).sum(axis=0), norm, out=np.zeros(x.shape[1]), where=norm > 0)
