"""The 2023 validator against parquet files broken in one way each: every problem named, nothing else."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sensorium_models.submission import VIDEO_FILES, validate_submission, write_video_submission
from sensorium_models.submission.write_video import VIDEO_SCHEMA
from submission_builders import MOUSE_A, MOUSE_B, OLD_MOUSE, old_mouse_session, video_prediction, video_sessions

LIVE = VIDEO_FILES["live_test_main"]


@pytest.fixture
def good_rows(tmp_path):
    """The rows of a valid live main-track file, as Python dicts to break."""
    path = write_video_submission(video_sessions(), "live_test_main", video_prediction, tmp_path / "good")
    return pq.read_table(path).to_pylist()


def write_rows(path, rows, schema=VIDEO_SCHEMA):
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="brotli")
    return path


def row_for(session, trial):
    frames = video_prediction(session, trial)[51:min(int(session.lengths[trial]), 300)].T
    return {"mouse": session.name, "trial_indices": trial, "prediction": frames.tolist(),
            "neuron_ids": session.unit_ids.tolist()}


def set_cell(rows, index, key, value):
    rows[index] = {**rows[index], key: value}
    return rows


def with_value(rows, value):
    prediction = [list(values) for values in rows[1]["prediction"]]
    prediction[2][7] = value
    return set_cell(rows, 1, "prediction", prediction)


A, B = video_sessions()
NON_FINITE = f"non-finite prediction (NaN, inf or null) (1 rows): mouse {MOUSE_A}, trial 3"


def missing(mouse: str, count: int, trials: str) -> str:
    return f"missing trials: {count} of the 2 live_test_main trials of {mouse} have no row (trial indices {trials})"


def shape(mouse: str, trial: int, found: str, expected: str) -> str:
    return f"wrong prediction shape (1 rows): mouse {mouse}, trial {trial}: {found}, expected {expected}"


def shorten_first_list(lists):
    return [values[:100] if i == 0 else values for i, values in enumerate(lists)]


BROKEN_ROWS = {  # name: (how the valid rows are broken, the problems expected, in order)
    "missing trial": (lambda r: r[:1] + r[2:], [missing(MOUSE_A, 1, "3")]),
    "duplicated trial": (lambda r: r + r[3:], [f"duplicated trial (1 rows): mouse {MOUSE_B}, trial 3"]),
    "trial from another tier": (
        lambda r: r + [row_for(A, 0)], [f"trial of another tier (1 rows): mouse {MOUSE_A}, trial 0 is in tier train"]
    ),
    "wrong neuron order": (
        lambda r: set_cell(r, 0, "neuron_ids", [1, 5, 9, 2]),
        [f"neuron ids in another order than the mouse's unit_ids (1 rows): mouse {MOUSE_A}, trial 2"],
    ),
    "wrong neuron id set": (
        lambda r: set_cell(r, 2, "neuron_ids", [40, 41, 43, 44]),
        [f"neuron ids are not the mouse's unit_ids (1 rows): mouse {MOUSE_B}, trial 2"],
    ),
    "frame missing": (
        lambda r: set_cell(r, 1, "prediction", [v[:-1] for v in r[1]["prediction"]]),
        [shape(MOUSE_A, 3, "(4, 248)", "(4, 249)")],
    ),
    "neuron missing": (
        lambda r: set_cell(r, 3, "prediction", r[3]["prediction"][:3]), [shape(MOUSE_B, 3, "(3, 249)", "(4, 249)")]
    ),
    "ragged lists": (
        lambda r: set_cell(r, 2, "prediction", shorten_first_list(r[2]["prediction"])),
        [shape(MOUSE_B, 2, "(4, '100..149')", "(4, 149)")],
    ),
    "null prediction": (
        lambda r: set_cell(r, 0, "prediction", None), [f"null prediction (1 rows): mouse {MOUSE_A}, trial 2"]
    ),
    "NaN value": (lambda r: with_value(r, float("nan")), [NON_FINITE]),
    "inf value": (lambda r: with_value(r, float("-inf")), [NON_FINITE]),
    "null value": (lambda r: with_value(r, None), [NON_FINITE]),
    "unknown mouse": (
        lambda r: r + [{**r[0], "mouse": OLD_MOUSE}],
        [f"unknown mouse (no such video session in the data) (1 rows): mouse {OLD_MOUSE}, trial 2"],
    ),
    "trial index out of range": (
        lambda r: r + [{**r[0], "trial_indices": 8}],
        [f"trial index not in the mouse's session (1 rows): mouse {MOUSE_A}, trial 8"],
    ),
    "no rows": (lambda r: [], [f"missing mice: {MOUSE_A}, {MOUSE_B} have no row; they are among the 2 mice this "
                               "file must hold (the mice whose main-track test responses are hidden)"]),
    "one mouse without rows": (lambda r: r[2:], [f"missing mice: {MOUSE_A} have no row; they are among the 2 mice "
                                                 "this file must hold (the mice whose main-track test responses "
                                                 "are hidden)"]),
}


@pytest.mark.parametrize("name", BROKEN_ROWS)
def test_each_broken_row_set_is_named(tmp_path, good_rows, name):
    breaks, expected = BROKEN_ROWS[name]
    path = write_rows(tmp_path / LIVE, breaks(good_rows))
    assert validate_submission(path, video_sessions()) == expected


def test_the_unbroken_rows_are_valid(tmp_path, good_rows):
    assert validate_submission(write_rows(tmp_path / LIVE, good_rows), video_sessions()) == []


def schema_with(name, kind):
    return pa.schema([pa.field(name, kind) if field.name == name else field for field in VIDEO_SCHEMA])


COLUMNS = "; expected exactly ['mouse', 'trial_indices', 'prediction', 'neuron_ids']"


def drop_neuron_ids(rows):
    return [{k: v for k, v in r.items() if k != "neuron_ids"} for r in rows], VIDEO_SCHEMA.remove(3)


def add_score(rows):
    return [{**r, "score": 1.0} for r in rows], VIDEO_SCHEMA.append(pa.field("score", pa.float64()))


def file_names_as_trials(rows):
    return [{**r, "trial_indices": f"{r['trial_indices']}.npy"} for r in rows], schema_with("trial_indices", pa.string())


def flat_prediction(rows):
    return [{**r, "prediction": r["prediction"][0]} for r in rows], schema_with("prediction", pa.list_(pa.float32()))


def neuron_ids_as_strings(rows):
    rows = [{**r, "neuron_ids": [str(i) for i in r["neuron_ids"]]} for r in rows]
    return rows, schema_with("neuron_ids", pa.list_(pa.string()))


@pytest.mark.parametrize("change, expected", [
    (drop_neuron_ids, "missing column(s) ['neuron_ids']" + COLUMNS),
    (add_score, "unexpected column(s) ['score']" + COLUMNS),
    (file_names_as_trials, "column trial_indices has type string, expected an integer"),
    (flat_prediction, "column prediction has type list<element: float>, expected a list of lists of floats"),
    (neuron_ids_as_strings, "column neuron_ids has type list<element: string>, expected a list of integers"),
])
def test_wrong_columns_and_types_are_named(tmp_path, good_rows, change, expected):
    rows, schema = change(good_rows)
    path = write_rows(tmp_path / LIVE, rows, schema)
    assert validate_submission(path, video_sessions()) == [expected]


def test_final_rows_under_the_live_name_are_caught(tmp_path):
    sessions = video_sessions()
    final = write_video_submission(sessions, "final_test_main", video_prediction, tmp_path)
    renamed = final.rename(tmp_path / LIVE)
    problems = validate_submission(renamed, sessions)
    assert problems[0] == (
        f"file name {LIVE} is for tier live_test_main, but all its rows are trials of tier final_test_main"
    )
    assert [p.split(":")[0] for p in problems[1:]] == ["missing trials", "missing trials"]


@pytest.mark.parametrize("name, content, expected", [
    (LIVE, b"", f"{LIVE} is empty (0 bytes)"),
    (LIVE, b"mouse,trial_indices\n", f"{LIVE} is not a readable parquet file"),
    ("predictions_live_main.parquet", b"PAR1", "file name predictions_live_main.parquet is not a submission file name"),
])
def test_empty_unreadable_and_misnamed_files(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    (problem,) = validate_submission(path, video_sessions())
    assert problem.startswith(expected)


def test_many_broken_rows_read_as_one_line_per_kind(tmp_path, good_rows):
    rows = [{**r, "prediction": np.full((4, len(r["prediction"][0])), np.nan).tolist()} for r in good_rows]
    (problem,) = validate_submission(write_rows(tmp_path / LIVE, rows), video_sessions())
    assert problem.startswith("non-finite prediction (NaN, inf or null) (4 rows): ")


def test_rows_of_a_mouse_the_server_does_not_score_are_named(tmp_path, good_rows):
    """An old mouse ships its test responses: the server's solution holds no rows for it (scorer: set of mice
    equal), so its rows make the file invalid, and choosing it makes it required."""
    old = old_mouse_session()
    sessions = [*video_sessions(), old]
    path = write_rows(tmp_path / LIVE, good_rows + [row_for(old, 2)])
    assert validate_submission(path, sessions) == [
        f"extra mice: {OLD_MOUSE} (1 rows) are not among the 2 mice this file must hold (the mice whose "
        "main-track test responses are hidden)"]
    assert validate_submission(path, sessions, mice=[MOUSE_A, MOUSE_B, OLD_MOUSE]) == []
    assert validate_submission(path, sessions, mice=[OLD_MOUSE, MOUSE_B]) == [
        f"extra mice: {MOUSE_A} (2 rows) are not among the 2 mice this file must hold (the chosen mice)"]
    good = write_rows(tmp_path / "good" / LIVE, good_rows)
    assert validate_submission(good, sessions, mice=[MOUSE_A, MOUSE_B, OLD_MOUSE]) == [
        f"missing mice: {OLD_MOUSE} have no row; they are among the 3 mice this file must hold (the chosen mice)"]


def test_a_mouse_name_unlike_the_organisers_is_warned_about(tmp_path):
    from dataclasses import replace

    renamed = [replace(s, name=f"mouse{i}", key=f"mouse{i}") for i, s in enumerate(video_sessions())]
    expected = {f"mouse 'mouse{i}' does not look like an organiser folder name" for i in range(2)}
    with pytest.warns(UserWarning) as written:
        path = write_video_submission(renamed, "live_test_main", video_prediction, tmp_path)
    with pytest.warns(UserWarning) as validated:
        assert validate_submission(path, renamed) == []
    for record in (written, validated):
        assert {str(w.message).split(" (")[0].removeprefix(f"{path.name}: ") for w in record} == expected
