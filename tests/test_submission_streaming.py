"""2023 files are written mouse by mouse: a per-mouse source gives the same bytes as a per-trial function,
and writing every mouse's files never holds more than one mouse's predictions."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np

from sensorium_models.submission import VIDEO_FILES, write_main_track, write_submissions
from sensorium_models.submission.write_video import write_track_by_mouse
from session_builders import make_session
from submission_builders import MOUSE_A, MOUSE_B, OLD_MOUSE, video_prediction, video_sessions

TRACK_TIERS = ["live_test_main", "final_test_main"]


def test_a_per_mouse_source_writes_the_same_files_as_a_per_trial_function(tmp_path):
    sessions = video_sessions()
    asked = []

    def per_mouse(session):
        asked.append(session.name)   # lists: the whole mouse at once; a generator: one trial at a time
        return {"live_test_main": [video_prediction(session, int(t)) for t in session.tier_indices("live_test_main")],
                "final_test_main": (video_prediction(session, int(t)) for t in session.tier_indices("final_test_main"))}

    by_mouse = write_track_by_mouse(sessions, "main", per_mouse, tmp_path / "mouse")
    by_trial = write_main_track(sessions, video_prediction, tmp_path / "trial")
    assert asked == [MOUSE_A, MOUSE_B]   # each mouse once, in the files' row order
    for mouse, trial in zip(by_mouse[:2], by_trial[:2]):
        assert mouse.name == trial.name and mouse.read_bytes() == trial.read_bytes()


class _FreshPredictor:
    """Returns new float32 arrays on every call, as a model does."""

    def predict(self, session, trials):
        rng = np.random.default_rng(0)
        return [rng.random((session.lengths[t], session.n_neurons), dtype=np.float32) for t in trials]


def big_mouse(name: str, k: int, frames: int = 300, neurons: int = 300):
    tiers = ["live_test_main"] * 3 + ["final_test_main"] * 3 + ["train"]
    return make_session("video", name, np.zeros((7, frames, 1, 1)), np.zeros((7, frames, neurons)), tiers,
                        name=name, path=Path(name), unit_ids=np.arange(neurons) + 1000 * k, lengths=np.full(7, frames))


def test_writing_three_mice_holds_at_most_one_mouses_predictions(tmp_path):
    sessions = [big_mouse(name, k) for k, name in enumerate([MOUSE_A, MOUSE_B, OLD_MOUSE])]
    mice = [s.name for s in sessions]
    one_mouse = 6 * 300 * 300 * 4   # its 6 test trials' float32 predictions: 2.2 MB
    write_submissions(_FreshPredictor(), sessions, tmp_path / "warm", mice=mice)   # imports, caches
    tracemalloc.start()
    try:
        written = write_submissions(_FreshPredictor(), sessions, tmp_path / "measured", mice=mice)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [p.name for p in written][:2] == [VIDEO_FILES[tier] for tier in TRACK_TIERS]
    # one mouse plus a trial's transposed copy (0.18 x); holding all three mice was 3.18 x one mouse
    assert peak <= 1.5 * one_mouse, peak / one_mouse
