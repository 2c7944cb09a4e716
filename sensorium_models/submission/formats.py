"""What the organisers' servers accept: file names, columns and the frames a 2023 row holds.

The 2022 names and columns are those of the starter kit's ``generate_submission_file``
(sinzlab/sensorium, ``sensorium/utility/submission.py``); the 2023 ones are from that competition's starter-kit
README and the winners' ``make_submission`` code. Shared by the writers and the validator so both agree by
construction. The 2023 scorer asserts that a file's set of mice
equals its solution's (the final phase scored the five new mice, whose test responses ship hidden) and that
every row has the solution's shape, (neurons, min(T, 300) - 51).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..data.session import Session
from ..data.tiers import hidden
from ..errors import UserError
from ..metrics import SCORED_FROM, SCORED_UNTIL

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
BONUS_TRACK_TIERS = ("live_test_bonus", "final_test_bonus")
BONUS_TRACK_ZIPS = {"live_test_bonus": "submission_live_bonus.zip", "final_test_bonus": "submission_final_bonus.zip"}
TRACKS = {"main": MAIN_TRACK_TIERS, "bonus": BONUS_TRACK_TIERS}

# First frame of a row: 51 (frames 51..min(T,300)-1, ViV1T, the starter kit's "last T-51 frames") or 50
# (frames 50..min(T,300)-2, DwiseNeuro, 1st place). Which one the solution holds is unverified.
FIRST_FRAMES = (51, 50)
ORGANISER_MOUSE = re.compile(r"dynamic\d+-\d+-\d+-Video-[0-9a-f]{32}")


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


def scored_frames(session: Session, trial: int, first_frame: int = SCORED_FROM) -> slice:
    """The frames of a trial's (time, neurons) prediction that make up its submission row:
    min(T, 300) - 51 of them from ``first_frame`` (see ``FIRST_FRAMES``)."""
    if first_frame not in FIRST_FRAMES:
        raise UserError(f"first frame: expected one of {list(FIRST_FRAMES)}, found {first_frame!r}")
    count = min(trial_length(session, trial), SCORED_UNTIL) - SCORED_FROM
    if count <= 0:
        raise UserError(
            f"session {session.name}: trial {trial} has {trial_length(session, trial)} frames, but a submission "
            f"row needs more than the {SCORED_FROM} frames the server skips"
        )
    return slice(first_frame, first_frame + count)


def track_of(tier: str) -> str | None:
    """``"main"`` or ``"bonus"`` for a 2023 test tier, else None."""
    return next((track for track, tiers in TRACKS.items() if tier in tiers), None)


def mouse_name_warning(name: str) -> str | None:
    """Why ``name`` may not be a mouse the server knows (it matches rows by the organisers' folder names)."""
    if ORGANISER_MOUSE.fullmatch(name):
        return None
    return (f"mouse {name!r} does not look like an organiser folder name (dynamic<id>-<session>-<scan>-Video-"
            f"<32 hex digits>): the server matches rows by that name, so keep the folders' names as downloaded")


def submission_mice(sessions: list[Session], track: str, chosen: list[str] | None = None) -> list[Session]:
    """The video sessions a track's files hold, in the order given: of ``chosen`` (folder names or keys)
    those with trials of the track, else every session with a hidden test tier of the track (the mice
    the server scores)."""
    video = sessions_of_kind(sessions, "video")
    holding = [s for s in video if any(len(s.tier_indices(tier)) for tier in TRACKS[track])]
    if chosen is None:
        return [s for s in holding if any(len(s.tier_indices(tier)) and hidden(s, s.tier_indices(tier))
                                          for tier in TRACKS[track])]
    names = {name for s in video for name in (s.name, s.key)}
    unknown = [name for name in chosen if name not in names]
    if unknown:
        raise UserError(f"submission mice: {unknown} are not video sessions in the data "
                        f"(found {sorted(s.name for s in video)})")
    return [s for s in holding if s.name in chosen or s.key in chosen]


def sessions_of_kind(sessions: list[Session], kind: str) -> list[Session]:
    """The sessions of one competition ("static" or "video"), in the order given."""
    return [session for session in sessions if session.kind == kind]


def check_tier(session: Session, tier: str, files: dict[str, str]) -> np.ndarray:
    """Trial indices of ``tier`` in ``session``; a UserError if the tier has no submission file."""
    if tier not in files:
        raise UserError(f"tier {tier!r} has no submission file; expected one of {sorted(files)}")
    return session.tier_indices(tier)
