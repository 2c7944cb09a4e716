"""Every submission file a predictor owes for the competition sessions in the data, checked by the validator.

A predictor is anything with ``predict(session, trials)`` (a model wrapper or an ``Ensemble``). Video
sessions must hold whole trials (at least their first 300 frames): ``full_trials`` gives the data config
that loads them so, whatever ``data.max_frames`` the model was trained with, so every row covers frames
51..min(T, 300)-1 of its trial.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.session import Session
from ..metrics import SCORED_FROM, SCORED_UNTIL
from .formats import STATIC_FILES, TRACKS, sessions_of_kind, submission_mice
from .validate import validate_submission
from .write_static import write_static_submission
from .write_video import MousePredictions, write_track_by_mouse


def full_trials(data_cfg: dict) -> dict:
    """``data_cfg`` with ``max_frames`` raised to the 300 frames the 2023 scorer reads (itself if it reads
    them already), for writing files and for scores that are the competition's."""
    if int(data_cfg.get("max_frames", SCORED_UNTIL)) >= SCORED_UNTIL:
        return data_cfg
    return {**data_cfg, "max_frames": SCORED_UNTIL}


def mouse_predictions(predictor, tiers: list[str]) -> MousePredictions:
    """One mouse's predictions of ``tiers`` at a time, from one ``predict`` call over all their trials."""
    def predict(session: Session) -> dict[str, list[np.ndarray]]:
        trials = [session.tier_indices(tier) for tier in tiers]
        whole = predictor.predict(session.whole_trials(), np.concatenate(trials))  # trials cut at a dropout: all frames
        ends = np.cumsum([len(t) for t in trials])
        return {tier: whole[end - len(t):end] for tier, t, end in zip(tiers, trials, ends)}

    return predict


def write_submissions(predictor, sessions: list[Session], out: str | Path, mice: list[str] | None = None,
                      first_frame: int = SCORED_FROM) -> list[Path]:
    """2022: the live/final CSVs of each static session with test tiers, in ``out/<session name>/``.
    2023: per track (main, bonus) the parquet files for exactly the mice ``submission_mice`` picks (``mice``,
    else those whose responses of the track are hidden) and their upload zips, in ``out/``; rows start at
    ``first_frame``; one mouse's predictions are held at a time. Each file is validated against the sessions
    and that set of mice; a file our own writer got wrong is a bug (RuntimeError).
    """
    out = Path(out)
    written: list[Path] = []
    for session in sessions_of_kind(sessions, "static"):
        tiers = [tier for tier in STATIC_FILES if len(session.tier_indices(tier))]
        if tiers:
            predictions = {tier: predictor.predict(session, session.tier_indices(tier)) for tier in tiers}
            written += write_static_submission(session, predictions, out / session.name)
    problems = []
    for track, tiers in TRACKS.items():
        chosen = submission_mice(sessions, track, mice)
        if not chosen:
            continue
        files = write_track_by_mouse(chosen, track, mouse_predictions(predictor, tiers), out, first_frame)
        names = [session.name for session in chosen]
        problems += [f"{path}: {problem}" for path in files if path.suffix != ".zip"
                     for problem in validate_submission(path, sessions, mice=names)]
        written += files
    problems += [f"{path}: {problem}" for path in written if path.suffix == ".csv"
                 for problem in validate_submission(path, sessions)]
    if problems:
        raise RuntimeError("submission files failed validation:\n" + "\n".join(problems))
    return written
