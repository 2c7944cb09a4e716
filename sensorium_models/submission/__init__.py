"""Submission files for both competitions: fast atomic writers and a validator that mirrors the servers.

2022: one CSV per test tier per static session (``write_static_submission``). 2023: one brotli parquet
per test tier over the mice the server scores (``write_video_submission``; ``submission_mice`` picks them),
zipped for upload per track (``write_track``: the main pair together, each bonus file alone).
``validate_submission`` checks either against the sessions.
"""
from .for_predictor import write_submissions
from .formats import MAIN_TRACK_ZIP, STATIC_FILES, VIDEO_FILES, submission_mice, tier_of_file
from .validate import validate_submission
from .write_static import write_static_submission
from .write_video import write_main_track, write_track, write_video_submission

__all__ = [
    "MAIN_TRACK_ZIP", "STATIC_FILES", "VIDEO_FILES", "submission_mice", "tier_of_file", "validate_submission",
    "write_main_track", "write_static_submission", "write_submissions", "write_track", "write_video_submission",
]
