"""Every submission file a predictor owes for the competition sessions in the data, checked by the validator.

A predictor is anything with ``predict(session, trials)`` (a model wrapper or an ``Ensemble``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.session import Session
from .formats import MAIN_TRACK_TIERS, STATIC_FILES, sessions_of_kind
from .validate import validate_submission
from .write_static import write_static_submission
from .write_video import write_main_track


def write_submissions(predictor, sessions: list[Session], out: str | Path) -> list[Path]:
    """2022: the live/final CSVs of each static session with test tiers, in ``out/<session name>/``.
    2023: the main-track parquet pair over every video session, and their upload zip, in ``out/``.
    Each file is validated against the sessions; a file our own writer got wrong is a bug (RuntimeError).
    """
    out = Path(out)
    written: list[Path] = []
    for session in sessions_of_kind(sessions, "static"):
        tiers = [tier for tier in STATIC_FILES if len(session.tier_indices(tier))]
        if tiers:
            predictions = {tier: predictor.predict(session, session.tier_indices(tier)) for tier in tiers}
            written += write_static_submission(session, predictions, out / session.name)
    video = [s for s in sessions_of_kind(sessions, "video")
             if any(len(s.tier_indices(tier)) for tier in MAIN_TRACK_TIERS)]
    if video:
        by_trial = {}
        for session in video:
            trials = np.concatenate([session.tier_indices(tier) for tier in MAIN_TRACK_TIERS])
            whole = predictor.predict(session.whole_trials(), trials)  # trials cut at a dropout: all frames
            by_trial.update({(session.name, int(t)): p for t, p in zip(trials, whole)})
        written += write_main_track(video, lambda session, trial: by_trial[(session.name, trial)], out)
    problems = [f"{path}: {problem}" for path in written if path.suffix != ".zip"
                for problem in validate_submission(path, sessions)]
    if problems:
        raise RuntimeError("submission files failed validation:\n" + "\n".join(problems))
    return written
