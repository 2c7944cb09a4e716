"""SENSORIUM 2022 submission CSVs, one per test tier, in the starter kit's layout.

One row per trial: ``trial_indices`` (the session's trial_idx, hashed in competition sessions),
``image_ids`` (frame_image_id), ``prediction`` and ``neuron_ids`` as Python list literals the backend
reads with ``ast.literal_eval``. Values are written with float32's shortest round-trip form.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..data.session import Session
from ..errors import UserError
from .formats import STATIC_COLUMNS, STATIC_FILES, check_tier


def list_literal(values: np.ndarray) -> str:
    """``[v0, v1, ...]`` as ``ast.literal_eval`` parses it; float32 values keep exactly their value."""
    return "[" + ", ".join(values.astype(str)) + "]"


def check_predictions(predictions: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
    """Predictions as float32 of the expected shape and finite, or a UserError naming ``where``."""
    predictions = np.asarray(predictions, dtype=np.float32)
    if predictions.shape != shape:
        raise UserError(f"{where}: predictions have shape {predictions.shape}, expected {shape}")
    if not np.isfinite(predictions).all():
        raise UserError(f"{where}: predictions hold NaN or infinite values")
    return predictions


def write_static_submission(
    session: Session, predictions: Mapping[str, np.ndarray], folder: str | Path
) -> list[Path]:
    """Write one CSV per tier in ``predictions`` (``"test"``, ``"final_test"``) into ``folder``.

    ``predictions[tier]`` is (n_tier_trials, N) on the standardised response scale, rows in the order of
    ``session.tier_indices(tier)``. Each file is written atomically; returns the paths written.
    """
    if session.kind != "static" or session.image_ids is None:
        raise UserError(f"session {session.name}: a 2022 submission needs a static session with image ids")
    written = []
    for tier, tier_predictions in predictions.items():
        trials = check_tier(session, tier, STATIC_FILES)
        if len(trials) == 0:
            raise UserError(f"session {session.name} has no trials in tier {tier!r}")
        values = check_predictions(
            tier_predictions, (len(trials), session.n_neurons), f"session {session.name}, tier {tier}"
        )
        neuron_ids = list_literal(np.asarray(session.unit_ids).astype(np.int64))
        target = Path(folder) / STATIC_FILES[tier]
        with atomic_path(target) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(STATIC_COLUMNS)
            for row, trial in enumerate(trials):
                writer.writerow([
                    session.trial_ids[trial],
                    int(session.image_ids[trial]),
                    list_literal(values[row]),
                    neuron_ids,
                ])
        written.append(target)
    return written
