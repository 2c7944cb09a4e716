"""The 2022 validator against CSV files broken in one way each: every problem named, nothing else."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from sensorium_models.submission import STATIC_FILES, validate_submission, write_static_submission
from submission_builders import static_predictions, static_session

LIVE, FINAL = STATIC_FILES["test"], STATIC_FILES["final_test"]
SESSION = static_session()
TEST_IDS = list(SESSION.trial_ids[SESSION.tier_indices("test")])
TRAIN_TRIAL = int(SESSION.tier_indices("train")[0])


@pytest.fixture
def good_lines(tmp_path):
    """Header and rows of a valid live-test CSV, as lists of strings to break."""
    (path, _) = write_static_submission(SESSION, static_predictions(SESSION), tmp_path / "good")
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def write_lines(path, lines):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(lines)
    return path


def set_field(lines, line, column, value):
    lines[line] = [value if i == column else v for i, v in enumerate(lines[line])]
    return lines


def other_tier_row(lines):
    """A copy of row 1 naming a train trial, with that trial's image id."""
    return [str(SESSION.trial_ids[TRAIN_TRIAL]), str(SESSION.image_ids[TRAIN_TRIAL]), *lines[1][2:]]


COLUMNS = "; expected exactly ['trial_indices', 'image_ids', 'prediction', 'neuron_ids']"
MISSING = f"missing trials: 1 of the 8 test trials of {SESSION.name} have no row (trial indices {{}})"


def at(line: int) -> str:
    """How the validator names data line ``line`` of the valid file (line 2 is the first test trial)."""
    return f"line {line} (trial {TEST_IDS[line - 2]})"


BROKEN_LINES = {  # name: (how the valid lines are broken, the problems expected, in order)
    "missing column": (lambda l: [row[:3] for row in l], ["missing column(s) ['neuron_ids']" + COLUMNS]),
    "extra column": (lambda l: [row + ["x"] for row in l], ["unexpected column(s) ['x']" + COLUMNS]),
    "missing trial": (lambda l: l[:3] + l[4:], [MISSING.format(TEST_IDS[2])]),
    "duplicated trial": (lambda l: l + [l[5]], [f"duplicated trial (1 rows): line 10 (trial {TEST_IDS[4]})"]),
    "trial from another tier": (
        lambda l: l + [other_tier_row(l)],
        [f"trial of another tier (1 rows): line 10 (trial {SESSION.trial_ids[TRAIN_TRIAL]}) is in tier train"],
    ),
    "unknown trial": (
        lambda l: set_field(l, 2, 0, "f" * 32),
        [f"trial index not in session {SESSION.name} (1 rows): line 3 (trial {'f' * 32})", MISSING.format(TEST_IDS[1])],
    ),
    "short line": (
        lambda l: l[:8] + [l[8][:3]],
        ["wrong number of fields (expected 4) (1 rows): line 9 has 3", MISSING.format(TEST_IDS[7])],
    ),
    "no header": (lambda l: [[]] + l[1:], [f"{LIVE} has no header line"]),
}


FIELD_BREAKS = {  # name: (line, column, text written there, the one problem expected; {at} names the line)
    "image id of another image": (2, 1, "999", "image id differs from the trial's frame_image_id (1 rows): {at}: 999"),
    "image id not an integer": (2, 1, "200.0", "image_ids is not an integer (1 rows): {at}: '200.0'"),
    "wrong neuron order": (5, 3, "[3, 11, 25, 7, 19]", "neuron ids in another order than the session's unit_ids (1 rows): {at}"),
    "wrong neuron id set": (5, 3, "[11, 3, 25, 7, 20]", "neuron ids are not the session's unit_ids (1 rows): {at}"),
    "neuron ids unparseable": (5, 3, "11 3 25 7 19", "unparseable neuron_ids list (1 rows): {at}"),
    "wrong row length": (7, 2, "[0.5, 0.25, 1.0, 2.0]", "wrong prediction length (expected 5 neurons) (1 rows): {at} has 4"),
    "NaN value": (7, 2, "[0.5, nan, 1.0, 2.0, 1.5]", "non-finite prediction (nan/inf is no literal) (1 rows): {at}"),
    "overflowing value": (7, 2, "[0.5, 1e999, 1.0, 2.0, 1.5]", "non-finite prediction (1 rows): {at}"),
    "unparseable list": (9, 2, "[0.5, 0.1, 1.0, 2.0, 1.5", "unparseable prediction list (1 rows): {at}"),
    "strings in the list": (9, 2, "['0.5', 0.1, 1.0, 2.0, 1.5]", "unparseable prediction list (1 rows): {at}"),
}


@pytest.mark.parametrize("name", FIELD_BREAKS)
def test_each_broken_field_is_named(tmp_path, good_lines, name):
    line, column, text, problem = FIELD_BREAKS[name]
    path = write_lines(tmp_path / LIVE, set_field(good_lines, line - 1, column, text))
    assert validate_submission(path, [SESSION]) == [problem.format(at=at(line))]


@pytest.mark.parametrize("name", BROKEN_LINES)
def test_each_broken_csv_is_named(tmp_path, good_lines, name):
    breaks, expected = BROKEN_LINES[name]
    path = write_lines(tmp_path / LIVE, breaks(good_lines))
    assert validate_submission(path, [SESSION]) == expected


def test_literal_syntax_beyond_the_fast_path_still_parses(tmp_path, good_lines):
    """Whatever ast.literal_eval reads is accepted: a trailing comma, a tuple, ints among floats."""
    lines = set_field(good_lines, 1, 2, "[0.5, 1, 2.0, 3, 1.5,]")
    lines = set_field(lines, 2, 2, "(0.5, 1, 2.0, 3, 1.5)")
    assert validate_submission(write_lines(tmp_path / LIVE, lines), [SESSION]) == []


def test_final_rows_under_the_live_name_are_caught(tmp_path):
    (_, final) = write_static_submission(SESSION, static_predictions(SESSION), tmp_path)
    problems = validate_submission(final.rename(tmp_path / LIVE), [SESSION])
    assert problems == [
        f"file name {LIVE} is for tier test, but all its rows are trials of tier final_test",
        f"missing trials: 8 of the 8 test trials of {SESSION.name} have no row (trial indices "
        f"{', '.join(TEST_IDS[:5])} ...)",
    ]


def test_empty_file_and_unknown_name(tmp_path):
    (tmp_path / LIVE).write_bytes(b"")
    assert validate_submission(tmp_path / LIVE, [SESSION]) == [f"{LIVE} is empty (0 bytes)"]
    (tmp_path / "submission.csv").write_text("trial_indices\n")
    (problem,) = validate_submission(tmp_path / "submission.csv", [SESSION])
    assert problem.startswith("file name submission.csv is not a submission file name; expected one of [")


def test_the_session_named_by_the_folder_is_the_one_checked(tmp_path):
    """Two sessions; the file's folder names the second, whose trials it does not hold: that is reported."""
    other = static_session("static27204-5-13-GrayImageNet-94c6ff995dac583098847cfecd43e7b6")
    other.trial_ids = np.array([f"{i:032x}" for i in range(other.n_trials)])
    (path, _) = write_static_submission(SESSION, static_predictions(SESSION), tmp_path / other.name)
    assert validate_submission(path, [SESSION, other]) != []
    (path, _) = write_static_submission(SESSION, static_predictions(SESSION), tmp_path / "out")
    assert validate_submission(path, [other, SESSION]) == []
    (path, _) = write_static_submission(SESSION, static_predictions(SESSION), tmp_path / SESSION.key)
    assert validate_submission(path, [other, SESSION]) == []


def test_starter_kit_pandas_csv_with_integer_trial_ids_is_valid(tmp_path):
    """generate_submission_file's way (DataFrame of .tolist() lists, to_csv) for a pre-training session."""
    import pandas as pd

    session = static_session("static21067-10-18-GrayImageNet-94c6ff995dac583098847cfecd43e7b6")
    session.trial_ids = np.arange(session.n_trials) * 7
    trials = session.tier_indices("test")
    predictions = static_predictions(session)["test"]
    pd.DataFrame({
        "trial_indices": session.trial_ids[trials], "image_ids": session.image_ids[trials],
        "prediction": predictions.tolist(), "neuron_ids": [session.unit_ids.tolist()] * len(trials),
    }).to_csv(tmp_path / LIVE, index=False)
    assert validate_submission(tmp_path / LIVE, [session]) == []
