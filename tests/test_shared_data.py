"""Two trials on one node share the memory-mapped sessions: the second holds only a sliver of the data."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.trial_memory import mapped_memory, process_memory
from sensorium_models.data import load_sessions
from sensorium_models.data.placement import session_bytes
from sensorium_models.data.synthetic import synthesize

ROOT = Path(__file__).resolve().parent.parent
MODEL = {"hidden_channels": 4, "layers": 2, "input_kern": 5, "hidden_kern": 3, "gamma_input": 1.0,
         "gamma_readout": 0.0, "grid_predictor": False}


def _start(data, cache):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, str(ROOT / "bench" / "scale.py"), "trial", str(data), str(cache),
                              "--placement", "host", "--steps", "3", "--batch-size", "16", "--model", json.dumps(MODEL)],
                             cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    assert line, f"trial process ended early (exit status {child.wait()})"
    return child, json.loads(line)


@pytest.mark.slow
def test_a_second_trial_on_the_node_adds_a_small_fraction_of_the_data(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    synthesize(data, kind="static", preset="demo", sessions=1, trials=400, neurons=4000, seed=0)
    size = session_bytes(load_sessions({"paths": [str(data)], "cache_dir": str(cache)}))   # builds the cache
    assert size > 4e6
    first, first_report = _start(data, cache)
    second, second_report = None, None
    try:
        second, second_report = _start(data, cache)
        both = [mapped_memory(child.pid, cache) for child in (first, second)]
        memory = process_memory(second.pid)
    finally:
        for child in (first, second):
            if child is not None:
                child.stdin.close()
                child.wait(timeout=60)
    assert first_report["samples"] == second_report["samples"] == 3 * 16
    for mapped in both:
        assert mapped["rss"] >= 0.95 * size            # each trial has read all of the data ...
        assert mapped["private"] <= 0.01 * size         # ... from the shared page cache, not a copy
        assert mapped["pss"] <= 0.55 * size             # and the two split its pages between them
    # reading all of the data beside the first trial added next to nothing to the second's own memory
    grown = second_report["memory_touched"]["uss"] - second_report["memory_loaded"]["uss"]
    assert grown <= 0.02 * size, f"reading {size / 1e6:.1f} MB of data added {grown / 1e6:.1f} MB of private memory"
    assert second_report["mapped"]["private"] <= 0.01 * size   # nor did training on it (host placement)
    assert memory["uss"] < memory["rss"] - 0.9 * size   # what RSS counts of the data is shared, not its own
