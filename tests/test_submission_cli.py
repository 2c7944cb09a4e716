"""``submission validate``: its arguments, the OK line and the problems it prints, and its exit status."""
from __future__ import annotations

import argparse

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
