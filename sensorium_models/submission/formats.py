"""What the organisers' servers accept: file names, columns and the frames a 2023 row holds.

The 2022 names and columns are those of the starter kit's ``generate_submission_file``
(sinzlab/sensorium, ``sensorium/utility/submission.py``); the 2023 ones are from that competition's starter-kit
README and the winners' ``make_submission`` code. Shared by the writers and the validator so both agree by
construction.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.session import Session
from ..errors import UserError

# SENSORIUM 2022: one CSV per test tier, named by the starter kit's generate_submission_file.
STATIC_FILES = {
    "test": "submission_file_live_test.csv",
    "final_test": "submission_file_final_test.csv",
}
STATIC_COLUMNS = ("trial_indices", "image_ids", "prediction", "neuron_ids")

# SENSORIUM 2023: one brotli parquet per test tier; the main pair is zipped together for upload.
VIDEO_FILES = {
    "live_test_main": "predictions_live_main.parquet.brotli",
    "final_test_main": "predictions_final_main.parquet.brotli",
    "live_test_bonus": "predictions_live_test_bonus_ood.parquet.brotli",
    "final_test_bonus": "predictions_final_test_bonus_ood.parquet.brotli",
}
VIDEO_COLUMNS = ("mouse", "trial_indices", "prediction", "neuron_ids")
MAIN_TRACK_TIERS = ("live_test_main", "final_test_main")
MAIN_TRACK_ZIP = "submission_main.zip"

# Only the first MAX_FRAMES frames of a trial are scored, and the server drops the first SKIP_FRAMES of
# them: a 300-frame trial is submitted as frames 51..299 (249 frames). That is ViV1T's convention (the last
# T-51 frames); DwiseNeuro writes frames 50..298, the same count. Which alignment the server scores has not
# been verified.
MAX_FRAMES = 300
SKIP_FRAMES = 51


def tier_of_file(path: str | Path) -> str | None:
    """The organisers' tier a submission file name stands for, or None for a name they do not accept."""
    name = Path(path).name
    for files in (STATIC_FILES, VIDEO_FILES):
        for tier, file_name in files.items():
            if file_name == name:
                return tier
    return None


def trial_length(session: Session, trial: int) -> int:
    """Frames of a video trial (all of the stimulus array where the session records no lengths): its own
    length, not where a dropout cut it for training and metrics (``Session.whole_trials``)."""
    if session.lengths is None:
        return int(session.stimuli.shape[1])
    return int(session.whole_trials().lengths[trial])


def scored_frames(session: Session, trial: int) -> slice:
    """The frames of a trial's (time, neurons) prediction that make up its submission row."""
    end = min(trial_length(session, trial), MAX_FRAMES)
    if end <= SKIP_FRAMES:
        raise UserError(
            f"session {session.name}: trial {trial} has {end} frames, but a submission row needs more "
            f"than the {SKIP_FRAMES} frames the server skips"
        )
    return slice(SKIP_FRAMES, end)


def sessions_of_kind(sessions: list[Session], kind: str) -> list[Session]:
    """The sessions of one competition ("static" or "video"), in the order given."""
    return [session for session in sessions if session.kind == kind]


def check_tier(session: Session, tier: str, files: dict[str, str]) -> np.ndarray:
    """Trial indices of ``tier`` in ``session``; a UserError if the tier has no submission file."""
    if tier not in files:
        raise UserError(f"tier {tier!r} has no submission file; expected one of {sorted(files)}")
    return session.tier_indices(tier)
