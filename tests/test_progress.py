"""The progress helper: a tqdm bar on a terminal, plain lines in a log, and the items passed through untouched."""
from __future__ import annotations

import io

from sensorium_models.progress import Progress, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_it_prints_plain_lines_and_a_last_one():
    log = io.StringIO()
    with Progress(total=4, what="writing", unit="trial", every_s=0.0, stream=log) as progress:
        progress.update(1)
        progress.update(3, loss=0.5)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 3
    assert lines[0].startswith("writing: 1/4 trials (25%), ")
    assert lines[1].startswith("writing: 4/4 trials (100%), loss 0.5, ")
    assert lines[2].startswith("writing: done, 4/4 trials (100%), ")


def test_plain_lines_are_spaced_in_time():
    log = io.StringIO()
    with Progress(total=1000, what="reading", every_s=3600.0, stream=log) as progress:
        for _ in range(1000):
            progress.update()
    assert log.getvalue().splitlines() == [log.getvalue().splitlines()[-1]]  # only the closing line
    assert log.getvalue().startswith("reading: done, 1000/1000 items (100%)")


def test_on_a_terminal_it_draws_a_bar():
    screen = Terminal()
    with Progress(total=3, what="consolidating", unit="file", stream=screen) as progress:
        progress.update(3)
    assert "consolidating" in screen.getvalue() and "3/3" in screen.getvalue() and "\r" in screen.getvalue()


def test_track_yields_every_item_and_says_when_it_stopped_early():
    log = io.StringIO()
    assert list(track(["a", "b", "c"], "files", stream=log)) == ["a", "b", "c"]
    assert log.getvalue().startswith("files: done, 3/3 items")
    log = io.StringIO()
    for item in track(iter(range(10)), "unknown length", stream=log):
        if item == 4:
            break
    assert log.getvalue().startswith("unknown length: stopped at 4 items")
    log = io.StringIO()
    for item in track(range(10), "known length", stream=log):
        if item == 4:
            break
    assert log.getvalue().startswith("known length: stopped at 4/10 items (40%)")


def test_quiet_if_quick_shows_nothing_for_quick_work_and_lines_for_long_work():
    log = io.StringIO()
    assert list(track(range(5), "consolidating", stream=log, quiet_if_quick=True)) == list(range(5))
    assert log.getvalue() == ""
    log = io.StringIO()
    assert list(track(range(5), "consolidating", every_s=0.0, stream=log, quiet_if_quick=True)) == list(range(5))
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("consolidating: 1/5 items (20%), ")
    assert lines[-1].startswith("consolidating: done, 5/5 items (100%), ")


def test_a_running_trial_line_says_its_epoch_scores_and_time_left():
    from search.progress import trial_line
    from search.objective import OBJECTIVE

    result = {"training_iteration": 3, "val_corr": 0.2104, OBJECTIVE: 0.2231, "time_this_iter_s": 30.0}
    assert trial_line("1a2b", result, "val_corr", 8) == "trial 1a2b: epoch 3/8, val_corr 0.2104 (best 0.2231), ~2m30s left"
    assert trial_line("1a2b", {"training_iteration": 0}, "val_corr", 8) == "trial 1a2b: epoch 0/8"


def test_work_that_fails_before_its_first_unit_leaves_no_line():
    log = io.StringIO()
    try:
        with Progress(total=4, what="train", unit="epoch", every_s=0.0, stream=log):
            raise ValueError("no GPU")
    except ValueError:
        pass
    assert log.getvalue() == ""
    with Progress(total=4, what="train", unit="epoch", every_s=3600.0, stream=log) as progress:
        progress.update(1)
    assert log.getvalue().startswith("train: stopped at 1/4 epochs")


def test_the_periodic_summary_lists_each_running_trial(capsys):
    from types import SimpleNamespace

    from search.settings import SearchSettings
    from search import terminal
    from search.progress import ProgressPrinter
    from search.objective import OBJECTIVE

    settings = SearchSettings.model_validate({"metric": "val_corr", "num_samples": 3, "asha": {"max_t": 8}})
    terminal.show()  # as the CLI shows the search's log: INFO lines on stdout
    printer = ProgressPrinter(SimpleNamespace(settings=settings), every_s=0.0)
    printer.on_trial_result(0, [], SimpleNamespace(trial_id="1a2b"),
                            {"training_iteration": 2, "val_corr": 0.2, OBJECTIVE: 0.2, "time_this_iter_s": 10.0})
    printer.on_step_end(0, [])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("0 running, 0 finished, 0 stopped early, 0 failed, 3 to go")
    assert lines[1].endswith("  trial 1a2b: epoch 2/8, val_corr 0.2000 (best 0.2000), ~1m00s left")
