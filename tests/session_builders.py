"""The one factory of in-memory ``Session`` objects for tests; the ``*_builders`` modules describe their data.

``make_session`` takes the arrays a test cares about and fills in the rest as the contract wants them:
behaviour and pupil centre zero, trial ids 0..n-1, unit ids 1..N, coordinates zero, unit response std,
and for video full-length trials unless ``lengths`` says otherwise.

Test helper modules follow one scheme: ``<area>_builders.py`` holds what the tests of ``<area>`` build
(sessions, files, searches, clusters), with functions named after what they return.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sensorium_models.data.session import Session


def make_session(kind: str, key: str, stimuli: np.ndarray, responses: np.ndarray, tiers, **fields) -> Session:
    """A ``Session`` of ``kind`` ("static" or "video") from its stimuli, responses and tier labels."""
    n, neurons = responses.shape[0], responses.shape[-1]
    frames = responses.shape[1] if kind == "video" else None
    per_trial = (n, frames) if kind == "video" else (n,)
    defaults = {
        "name": f"{kind}{key}", "path": Path(key),
        "behavior": np.zeros((*per_trial, 3 if kind == "static" else 2), np.float32),
        "pupil_center": np.zeros((*per_trial, 2), np.float32),
        "trial_ids": np.arange(n), "unit_ids": np.arange(1, neurons + 1),
        "coords": np.zeros((neurons, 3), np.float32),
        "response_std": np.ones((frames, neurons) if kind == "video" else neurons, np.float32),
        "lengths": np.full(n, frames) if kind == "video" else None,
    }
    return Session(key=key, kind=kind, stimuli=np.asarray(stimuli, np.float32),
                   responses=np.asarray(responses, np.float32), tiers=np.asarray(tiers, dtype=str),
                   **{**defaults, **fields})
