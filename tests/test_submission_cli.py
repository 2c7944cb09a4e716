"""``submission validate``: its arguments, the OK line and the problems it prints, and its exit status."""
from __future__ import annotations

import argparse

import pytest

from search.commands import submission as command
from sensorium_models.submission import write_static_submission, write_video_submission
from submission_builders import static_predictions, static_session, video_prediction, video_sessions


def test_validate_parses_file_and_data():
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["submission", "validate", "x/predictions_live_main.parquet.brotli", "--data", "d"])
    assert (args.file.name, args.data.name, args.func) == ("predictions_live_main.parquet.brotli", "d", command._validate)


def test_report_prints_ok_with_rows_and_tier(tmp_path, capsys):
    session = static_session()
    (live, _) = write_static_submission(session, static_predictions(session), tmp_path)
    parquet = write_video_submission(video_sessions(), "final_test_main", video_prediction, tmp_path)
    assert command.report(live, [session]) == 0
    assert command.report(parquet, video_sessions()) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"OK: {live} (8 rows, test)", f"OK: {parquet} (4 rows, final_test_main)"
    ]


def test_report_prints_each_problem_and_fails(tmp_path, capsys):
    session = static_session()
    (live, _) = write_static_submission(session, static_predictions(session), tmp_path)
    lines = live.read_text().splitlines()
    live.write_text("\n".join(lines[:-1] + [lines[1]]) + "\n")
    assert command.report(live, [session]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1] for line in out] == ["duplicated trial (1 rows)", "missing trials"]


def test_mice_and_first_frame_options(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["submission", "write", "--model", "m", "--data", "d", "--out", "o",
                              "--mice", "a", "b", "--first-frame", "50"])
    assert (args.mice, args.first_frame) == (["a", "b"], 50)
    assert parser.parse_args(["submission", "write", "--model", "m", "--data", "d", "--out", "o"]).first_frame is None
    sessions = video_sessions()
    parquet = write_video_submission(sessions[:1], "live_test_main", video_prediction, tmp_path)
    assert command.report(parquet, sessions) == 1  # the second hidden mouse is missing
    assert command.report(parquet, sessions, mice=[sessions[0].name]) == 0
    assert "missing mice: " + sessions[1].name in capsys.readouterr().out


def test_report_prints_the_mouse_name_warning_as_one_line(tmp_path, capsys):
    from dataclasses import replace

    renamed = [replace(s, name="mouseA", key="mouseA") for s in video_sessions()[:1]]
    with pytest.warns(UserWarning):
        parquet = write_video_submission(renamed, "live_test_main", video_prediction, tmp_path)
    assert command.report(parquet, renamed) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"warning: {parquet.name}: mouse 'mouseA' does not look like an organiser folder name")
