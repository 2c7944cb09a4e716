"""The tracker's background writer: in order, a failure that may pass is retried until the write lands, a
write the store refuses (4xx) is reported once and skipped, and closing gives up what is still queued."""
from __future__ import annotations

import pytest

from search.mlflow_writer import Writer


@pytest.mark.timeout(60)
def test_writes_land_in_order_a_refused_one_is_skipped_and_a_failing_one_retried(tmp_path, capsys):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    writer, done, failures = Writer(uri), [], iter([OSError("connection reset"), OSError("connection reset")])

    def flaky():
        error = next(failures, None)
        if error is not None:
            raise error
        done.append("flaky")

    writer.put("param a=1", lambda: client.log_param(run_id, "a", "1"))
    writer.put("param a=2", lambda: client.log_param(run_id, "a", "2"))  # a param never changes: 400
    writer.put("flaky", flaky)
    writer.put("tag", lambda: done.append("tag") or client.set_tag(run_id, "t", "x"))
    assert writer.wait(30) == 0
    writer.close()
    run = client.get_run(run_id)
    assert run.data.params == {"a": "1"} and run.data.tags["t"] == "x" and done == ["flaky", "tag"]
    err = capsys.readouterr().err
    assert err.count("refused param a=2; skipped") == 1 and err.count("unreachable") == 1
    assert "answers again" in err


@pytest.mark.timeout(60)
def test_closing_gives_up_the_queue_and_reports_how_much(tmp_path):
    writer = Writer(f"sqlite:///{tmp_path / 'mlflow.db'}")

    def unreachable():
        raise OSError("connection refused")

    for what in ("a", "b", "c"):
        writer.put(what, unreachable)
    assert writer.wait(0.5) == 3
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.put("d", unreachable)


@pytest.mark.timeout(60)
def test_a_process_that_exits_mid_write_lets_that_write_end_first(tmp_path):
    """Interpreter shutdown would stop the daemon writer where it stands (mid-plot, it aborted a bench: CI of
    stop 35); the write under way ends before the process does, and the exit is clean."""
    import subprocess
    import sys

    landed = tmp_path / "landed"
    script = (
        "import pathlib, time, threading\n"
        "from search.mlflow_writer import writer_for\n"
        "started = threading.Event()\n"
        "def slow():\n"
        "    started.set(); time.sleep(2); pathlib.Path(%r).write_text('yes')\n"
        "writer_for('sqlite:///unused.db').put('slow', slow)\n"
        "started.wait(10)\n" % str(landed)
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    assert landed.read_text() == "yes"
