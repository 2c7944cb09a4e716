"""Object storage that goes away mid-search: the search waits for it and ends as if nothing happened.

A search on ``s3://`` storage (SeaweedFS on loopback, a server of this test's own) loses its endpoint while
its first trials run, for longer than pyarrow's own retries last; the endpoint then comes back with the
same data. Before ``search/patient_fs.py`` every trial failed on its next storage call and the driver
ended with exit 1 within seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from s3_server import S3Server
from search_builders import tiny_session, tiny_space, write_space

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[1]


def wait_for(log: Path, text: str, search: subprocess.Popen, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        assert search.poll() is None, f"search ended before {text!r}:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout_s} s:\n{log.read_text()[-4000:]}"
        time.sleep(0.2)


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
