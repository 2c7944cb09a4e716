"""``validate_submission``: is a file one the organisers' server would accept for these sessions?"""
from __future__ import annotations

from pathlib import Path

from ..data.session import Session
from .formats import STATIC_FILES, VIDEO_FILES, tier_of_file
from .validate_static import validate_static
from .validate_video import validate_video


def validate_submission(path: str | Path, sessions: list[Session], mice: list[str] | None = None) -> list[str]:
    """Problems of a 2022 CSV or 2023 parquet submission file, one line each; empty means valid.

    The file name decides the format and the tier (``submission_file_live_test.csv`` is tier ``test``,
    ``predictions_final_main.parquet.brotli`` is ``final_test_main``...). A CSV is checked against the
    static session named by its folder, else the one sharing its trial indices; a parquet file against
    the video sessions in ``sessions`` it must hold: ``mice`` (folder names or keys), by default those
    whose test responses of its track are hidden (the mice the server scores).
    """
    path = Path(path)
    tier = tier_of_file(path)
    if tier is None:
        accepted = sorted([*STATIC_FILES.values(), *VIDEO_FILES.values()])
        return [f"file name {path.name} is not a submission file name; expected one of {accepted}"]
    if not path.is_file():
        return [f"{path} does not exist"]
    if path.stat().st_size == 0:
        return [f"{path.name} is empty (0 bytes)"]
    if tier in STATIC_FILES:
        return validate_static(path, tier, sessions)
    return validate_video(path, tier, sessions, mice)
