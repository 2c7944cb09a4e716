"""Every benchmark in bench/ still runs at its smallest size (``--quick``), so an API change that breaks a bench
fails CI instead of the next ``make bench``. The list is bench/run_all.py's: every ``bench/*.py`` with a
``__main__`` guard, so a new benchmark is run here as soon as it exists (it needs a ``--quick`` and ``--out``:
``bench.common.parse_args`` gives both). Each runs as ``make bench`` runs it, in its own process; none of them
measures anything here, and none may write to bench/results/."""
from __future__ import annotations

import pytest

from bench.common import RESULTS
from bench.run_all import benchmark_scripts, run

# Run at their quick size by a test of their own that also checks what they measured.
OWN_TEST = {"driver_scale": "tests/test_driver_scale.py::test_the_driver_scale_bench_runs_at_ci_size",
            "replay_agreement": "tests/test_search_replay.py::test_a_real_ray_search_on_the_grid_trains_what_the_replay_predicts"}
BENCHES = {script.stem: script for script in benchmark_scripts() if script.stem not in OWN_TEST}
# All eleven took 4-5 min here at a load average of 6-13 (gpu_packing the slowest, 56 s); at a load average of
# 30-58 model_zoo took 330-370 s, hence the room.
SECONDS = 420


def results_folder() -> dict[str, int]:
    """bench/results/: each file's modification time, to show a quick run left it alone."""
    return {p.name: p.stat().st_mtime_ns for p in RESULTS.iterdir()}


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + 60)
@pytest.mark.parametrize("name", sorted(BENCHES))
def test_the_bench_runs_at_its_smallest_size(name, tmp_path):
    before = results_folder()
    outcome = run(BENCHES[name], SECONDS, out=tmp_path)
    assert outcome["status"] == 0, f"{outcome['command']}: exit status {outcome['status']}"
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".md"]  # its one table, where it was asked to go
    assert results_folder() == before
