"""Object storage that goes away mid-search: the search waits for it and ends as if nothing happened.

A search on ``s3://`` storage (SeaweedFS on loopback, a server of this test's own) loses its endpoint while
its first trials run, for longer than pyarrow's own retries last; the endpoint then comes back with the
same data. Before ``search/patient_fs.py`` every trial failed on its next storage call and the driver
ended with exit 1 within seconds. Beside it, what the patient filesystem does with each kind of error (a
store away past the patience, a missing key, a wrong key) and that a file larger than its spool reads back whole.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs
import pytest
from s3_server import S3Server
from search_builders import tiny_session, tiny_space, write_space

from search.patient_fs import PATIENCE_ENV, patient_filesystem

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(60)
def test_an_unreachable_store_is_waited_for_until_the_patience_runs_out(monkeypatch, capfd):
    monkeypatch.setenv(PATIENCE_ENV, "2")
    closed = pyarrow.fs.S3FileSystem(endpoint_override="http://127.0.0.1:9", access_key="k", secret_key="s",
                                     region="us-east-1")  # nothing listens on port 9
    fs = patient_filesystem(closed, "s3://tune/x")
    started = time.monotonic()
    with pytest.raises(OSError, match="NETWORK_CONNECTION"):
        fs.get_file_info("tune/x")
    assert 2 <= time.monotonic() - started < 40  # the patience counts from the first failure, after the SDK's retries
    assert "storage s3://tune/x unreachable" in capfd.readouterr().err


@pytest.mark.timeout(120)
def test_a_wrong_request_is_not_retried(s3_server, monkeypatch):
    monkeypatch.setenv(PATIENCE_ENV, "600")
    fs = patient_filesystem(s3_server.filesystem(), "s3://tune/x")
    started = time.monotonic()
    with pytest.raises(FileNotFoundError):
        fs.open_input_stream("tune/no/such/key")
    wrong = pyarrow.fs.S3FileSystem(endpoint_override=s3_server.endpoint, access_key="wrong", secret_key="s",
                                    region="us-east-1")
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        patient_filesystem(wrong, "s3://tune/x").get_file_info("tune/x")
    assert time.monotonic() - started < 10


@pytest.mark.timeout(120)
def test_a_file_reads_back_whole_through_the_patient_filesystem(s3_server):
    fs = patient_filesystem(s3_server.filesystem(), "s3://tune/whole")
    payload = bytes(range(256)) * 300_000  # 77 MB: past the in-memory spool, so the upload reads a temporary file
    with fs.open_output_stream("tune/whole/blob") as out:
        for start in range(0, len(payload), 1 << 20):
            out.write(payload[start:start + (1 << 20)])
    assert fs.get_file_info("tune/whole/blob").size == len(payload)
    with fs.open_input_stream("tune/whole/blob") as back:
        assert back.read() == payload


def wait_for(log: Path, text: str, search: subprocess.Popen, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        assert search.poll() is None, f"search ended before {text!r}:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout_s} s:\n{log.read_text()[-4000:]}"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_search_waits_through_an_outage_of_its_object_store(tmp_path):
    session = tiny_session(tmp_path / "data")
    space = tiny_space(session.parent, tmp_path / "cache", num_samples=3)
    config = write_space(tmp_path / "tiny.yaml", space)
    log = tmp_path / "search.log"
    with S3Server(tmp_path / "s3") as s3:
        s3.make_bucket("tune")
        env = {**os.environ, **s3.env, "PYTHONPATH": str(ROOT)}
        with open(log, "wb") as out:
            search = subprocess.Popen([sys.executable, "-m", "search.cli", "search", "launch", str(config),
                                       "--storage", "s3://tune/outage", "--runs-dir", str(tmp_path / "runs")],
                                      cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(log, "started:", search)  # a trial runs: it reports and checkpoints to the bucket
            s3.stop()
            wait_for(log, "storage s3://tune/outage unreachable", search)  # the driver met the outage
            time.sleep(10)  # well past pyarrow's own retries (it gives up within a second)
            assert search.poll() is None, log.read_text()[-4000:]
            s3.restart()
            search.wait(timeout=400)
        finally:
            if search.poll() is None:
                search.kill()
                search.wait()
    text = log.read_text(errors="replace")
    assert search.returncode == 0, text[-4000:]
    assert "storage s3://tune/outage is back after" in text
    assert "search tiny done: 0 running" in text and " 0 failed, 0 to go" in text, text[-3000:]
