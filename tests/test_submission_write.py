"""Writers: round trips through the validator and back, the exact values and frames, and all-or-nothing files."""
from __future__ import annotations

import ast
import csv
import zipfile

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sensorium_models.errors import UserError
from sensorium_models.submission import (
    MAIN_TRACK_ZIP, STATIC_FILES, VIDEO_FILES, validate_submission, write_main_track, write_static_submission,
    write_video_submission,
)
from submission_builders import MOUSE_A, MOUSE_B, static_predictions, static_session, video_prediction, video_sessions


def read_csv_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_static_round_trip_keeps_trials_images_values_and_neuron_order(tmp_path):
    session = static_session()
    predictions = static_predictions(session)
    paths = write_static_submission(session, predictions, tmp_path)
    assert [p.name for p in paths] == [STATIC_FILES["test"], STATIC_FILES["final_test"]]
    for tier, path in zip(("test", "final_test"), paths):
        assert validate_submission(path, [session]) == []
        rows = read_csv_rows(path)
        trials = session.tier_indices(tier)
        assert list(rows[0]) == ["trial_indices", "image_ids", "prediction", "neuron_ids"]
        assert [r["trial_indices"] for r in rows] == list(session.trial_ids[trials])
        assert [int(r["image_ids"]) for r in rows] == list(session.image_ids[trials])
        values = np.array([ast.literal_eval(r["prediction"]) for r in rows], dtype=np.float32)
        np.testing.assert_array_equal(values, predictions[tier])
        assert {r["neuron_ids"] for r in rows} == {"[11, 3, 25, 7, 19]"}


def test_static_writer_rejects_wrong_shape_and_non_finite_values(tmp_path):
    session = static_session()
    predictions = static_predictions(session)
    with pytest.raises(UserError, match=r"shape \(8, 4\), expected \(8, 5\)"):
        write_static_submission(session, {"test": predictions["test"][:, :4]}, tmp_path)
    predictions["final_test"][2, 1] = np.nan
    with pytest.raises(UserError, match="NaN"):
        write_static_submission(session, {"final_test": predictions["final_test"]}, tmp_path)
    with pytest.raises(UserError, match="tier 'validation' has no submission file"):
        write_static_submission(session, {"validation": predictions["test"]}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_main_track_round_trip_holds_frames_51_to_299_transposed(tmp_path):
    sessions = video_sessions()
    paths = write_main_track(sessions, video_prediction, tmp_path)
    assert [p.name for p in paths] == [VIDEO_FILES["live_test_main"], VIDEO_FILES["final_test_main"], MAIN_TRACK_ZIP]
    by_name = {s.name: s for s in sessions}
    for tier, path in zip(("live_test_main", "final_test_main"), paths):
        assert validate_submission(path, sessions) == []
        table = pq.read_table(path)
        assert table.column_names == ["mouse", "trial_indices", "prediction", "neuron_ids"]
        rows = table.to_pylist()
        expected = [(s.name, int(t)) for s in sessions for t in s.tier_indices(tier)]
        assert [(r["mouse"], r["trial_indices"]) for r in rows] == expected
        for row in rows:
            session = by_name[row["mouse"]]
            end = min(int(session.lengths[row["trial_indices"]]), 300)
            truth = video_prediction(session, row["trial_indices"])[51:end].T
            np.testing.assert_array_equal(np.array(row["prediction"], dtype=np.float32), truth)
            assert row["neuron_ids"] == list(session.unit_ids)
    frames = {len(r["prediction"][0]) for r in pq.read_table(paths[0]).to_pylist()}
    assert frames == {249, 149}  # 300 and 320 frames -> 249; 200 frames -> 149
    with zipfile.ZipFile(paths[2]) as archive:
        assert sorted(archive.namelist()) == sorted([paths[0].name, paths[1].name])
        assert archive.read(paths[0].name) == paths[0].read_bytes()


def test_video_writer_takes_per_mouse_iterables_for_a_bonus_tier(tmp_path):
    sessions = video_sessions()
    predictions = {
        s.name: (video_prediction(s, int(t)) for t in s.tier_indices("final_test_bonus")) for s in sessions
    }
    path = write_video_submission(sessions, "final_test_bonus", predictions, tmp_path)
    assert path.name == "predictions_final_test_bonus_ood.parquet.brotli"
    assert validate_submission(path, sessions) == []
    assert pq.read_table(path, columns=["mouse", "trial_indices"]).to_pylist() == [
        {"mouse": MOUSE_B, "trial_indices": 5}
    ]


@pytest.mark.parametrize("predictions, message", [
    ({MOUSE_A: [np.zeros((300, 4))]}, f"mouse {MOUSE_A}: fewer predictions than its 2 live_test_main"),
    ({MOUSE_A: [np.zeros((300, 4))] * 3, MOUSE_B: []}, "more predictions than its 2"),
    ({MOUSE_A: [np.zeros((300, 4))] * 2}, f"no predictions for mouse {MOUSE_B}"),
    ({"dynamic0-0-0-Video-x": []}, "unknown mice"),
    (lambda s, t: np.zeros((299, 4)), r"shape \(299, 4\), expected \(frames >= 300, 4\)"),
    (lambda s, t: np.zeros((320, 5)), r"shape \(320, 5\)"),
    (lambda s, t: np.full((320, 4), np.inf), "NaN or infinite"),
])
def test_video_writer_names_the_bad_prediction_and_leaves_no_file(tmp_path, predictions, message):
    with pytest.raises(UserError, match=message):
        write_video_submission(video_sessions(), "live_test_main", predictions, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failing_prediction_source_keeps_the_previous_file_intact(tmp_path):
    sessions = video_sessions()
    path = write_video_submission(sessions, "live_test_main", video_prediction, tmp_path)
    before = path.read_bytes()

    def fails_on_third_trial(session, trial, calls=[]):
        calls.append(trial)
        if len(calls) == 3:
            raise RuntimeError("model crashed")
        return video_prediction(session, trial)

    with pytest.raises(RuntimeError, match="model crashed"):
        write_video_submission(sessions, "live_test_main", fails_on_third_trial, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert path.read_bytes() == before


def test_validator_accepts_the_starter_kit_pandas_layout(tmp_path):
    """The slow reference way (nested Python lists, float64) is a valid file too: same checks, other types."""
    sessions = video_sessions()
    rows = [
        {"mouse": s.name, "trial_indices": int(t),
         "prediction": video_prediction(s, int(t))[51:min(int(s.lengths[t]), 300)].T.tolist(),
         "neuron_ids": s.unit_ids.tolist()}
        for s in sessions for t in s.tier_indices("live_test_main")
    ]
    path = tmp_path / VIDEO_FILES["live_test_main"]
    pd.DataFrame(rows).to_parquet(path, compression="brotli", index=False)
    assert validate_submission(path, sessions) == []


def test_video_writer_refuses_a_tier_without_trials_or_file(tmp_path):
    with pytest.raises(UserError, match="no video session has trials in tier 'live_test_bonus'"):
        write_video_submission(video_sessions()[1:], "live_test_bonus", video_prediction, tmp_path)
    with pytest.raises(UserError, match="tier 'oracle' has no submission file"):
        write_video_submission(video_sessions(), "oracle", video_prediction, tmp_path)


def test_a_test_trial_cut_at_a_dropout_still_gets_its_whole_row(tmp_path):
    sessions = video_sessions()
    session = sessions[0]
    trial = int(session.tier_indices("live_test_main")[0])
    session.trial_lengths = session.lengths.copy()
    session.lengths = session.lengths.copy()
    session.lengths[trial] = 60                  # cut for training and metrics at an interior NaN
    paths = write_main_track(sessions, lambda s, t: video_prediction(s.whole_trials(), t), tmp_path)
    assert validate_submission(paths[0], sessions) == []
    row = next(r for r in pq.read_table(paths[0]).to_pylist()
               if r["mouse"] == session.name and r["trial_indices"] == trial)
    assert len(row["prediction"][0]) == min(int(session.trial_lengths[trial]), 300) - 51 == 249


def test_dwiseneuro_alignment_writes_frames_50_to_298(tmp_path):
    sessions = video_sessions()
    path = write_video_submission(sessions, "live_test_main", video_prediction, tmp_path, first_frame=50)
    assert validate_submission(path, sessions) == []  # same shapes: the server cannot tell them apart
    for row in pq.read_table(path).to_pylist():
        session = next(s for s in sessions if s.name == row["mouse"])
        end = min(int(session.lengths[row["trial_indices"]]), 300)
        truth = video_prediction(session, row["trial_indices"])[50:end - 1].T
        np.testing.assert_array_equal(np.array(row["prediction"], dtype=np.float32), truth)
    with pytest.raises(UserError, match=r"first frame: expected one of \[51, 50\], found 49"):
        write_video_submission(sessions, "live_test_main", video_prediction, tmp_path / "x", first_frame=49)


class _Predictor:
    def __init__(self):
        self.asked = []

    def predict(self, session, trials):
        self.asked.append(session.name)
        return [video_prediction(session, int(t)) for t in trials]


def test_write_submissions_holds_exactly_the_hidden_mice_in_main_and_bonus_files(tmp_path):
    from sensorium_models.submission import write_submissions
    from submission_builders import OLD_MOUSE, old_mouse_session

    sessions = [old_mouse_session(), *video_sessions()]
    predictor = _Predictor()
    written = write_submissions(predictor, sessions, tmp_path)
    assert [p.name for p in written] == [
        VIDEO_FILES["live_test_main"], VIDEO_FILES["final_test_main"], MAIN_TRACK_ZIP,
        VIDEO_FILES["live_test_bonus"], "submission_live_bonus.zip",
        VIDEO_FILES["final_test_bonus"], "submission_final_bonus.zip"]
    assert OLD_MOUSE not in predictor.asked
    mice = {path.name: {r["mouse"] for r in pq.read_table(path, columns=["mouse"]).to_pylist()}
            for path in written if path.suffix != ".zip"}
    assert mice == {VIDEO_FILES["live_test_main"]: {MOUSE_A, MOUSE_B}, VIDEO_FILES["final_test_main"]: {MOUSE_A, MOUSE_B},
                    VIDEO_FILES["live_test_bonus"]: {MOUSE_A}, VIDEO_FILES["final_test_bonus"]: {MOUSE_B}}
    with zipfile.ZipFile(tmp_path / "submission_live_bonus.zip") as archive:
        assert archive.namelist() == [VIDEO_FILES["live_test_bonus"]]
    chosen = write_submissions(_Predictor(), sessions, tmp_path / "chosen", mice=[OLD_MOUSE])
    assert {r["mouse"] for r in pq.read_table(chosen[0], columns=["mouse"]).to_pylist()} == {OLD_MOUSE}
    with pytest.raises(UserError, match=r"submission mice: \['mouseX'\] are not video sessions in the data"):
        write_submissions(_Predictor(), sessions, tmp_path / "bad", mice=["mouseX"])


def test_submission_data_reads_whole_trials_whatever_max_frames(tmp_path):
    from sensorium_models.submission.for_predictor import full_trials

    assert full_trials({"paths": ["x"], "max_frames": 120}) == {"paths": ["x"], "max_frames": 300}
    assert full_trials({"paths": ["x"], "max_frames": 400}) == {"paths": ["x"], "max_frames": 400}
    assert full_trials({"paths": ["x"]}) == {"paths": ["x"]}  # the same config: the same cached sessions
