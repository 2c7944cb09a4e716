"""A submission file that is not text, not UTF-8, or a parquet with a damaged page is reported as a problem
of that file (the validator's exit status 1), never a traceback; `write --out` at a file is exit 2."""
from __future__ import annotations

import pytest

from search_builders import run_cli
from sensorium_models.submission import STATIC_FILES, VIDEO_FILES, validate_submission, write_video_submission
from submission_builders import static_session, video_prediction, video_sessions


@pytest.mark.parametrize("content, problem", [
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xfe", "not UTF-8 text (byte 0x8b at offset 1)"),
    ("trial_indices,image_ids,prediction,neuron_ids\n1,2,[0.5],[1]\n\xe9\n".encode("latin-1"), "not UTF-8 text"),
])
def test_a_csv_that_is_not_text_is_one_problem(tmp_path, content, problem):
    path = tmp_path / STATIC_FILES["test"]
    path.write_bytes(content)
    (message,) = validate_submission(path, [static_session()])
    assert problem in message and path.name in message


def test_a_parquet_with_a_damaged_page_is_one_problem(tmp_path):
    path = write_video_submission(video_sessions(), "live_test_main", video_prediction, tmp_path)
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    middle = slice(8, len(data) - footer - 8)
    data[middle] = bytes(len(data[middle]))
    path.write_bytes(bytes(data))
    problems = validate_submission(path, video_sessions())
    assert len(problems) == 1 and "not a readable parquet file" in problems[0], problems
    assert VIDEO_FILES["live_test_main"] in problems[0]


def test_write_out_at_a_file_is_refused(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("mine")
    rc, _, err = run_cli("submission", "write", "--model", "models:/x@champion", "--data", str(tmp_path),
                         "--out", str(blocker), "--runs-dir", str(tmp_path / "runs"))
    assert rc == 2 and f"--out: {blocker} is a file" in err and blocker.read_text() == "mine"
