"""``sensorium-search demo``, one of the README's two commands, at its smallest size: the 2023 half with one
configuration promoted to a one-member ensemble (the 2022 half's search takes minutes more on 2 cores).

148 s on the idle 2-core machine (637 s while four other jobs shared it), so it runs in CI with the rest."""
from __future__ import annotations

from pathlib import Path

import pytest

from search_builders import run_cli
from sensorium_models.data import load_sessions
from sensorium_models.submission import validate_submission

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
REPO = Path(__file__).resolve().parents[1]


def test_demo_video_half_runs_the_loop_to_validated_files(tmp_path, monkeypatch, ray_local):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "configs").symlink_to(REPO / "configs")  # the demo reads its configs relative to the cwd
    runs = tmp_path / "runs"
    rc, out, err = run_cli("demo", "--only", "video", "--top-k", "1", "--seeds", "1", "--runs-dir", str(runs))
    assert rc == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("SENSORIUM 2023: submission files under ")]
    folder = Path(line.removeprefix("SENSORIUM 2023: submission files under ").split(";")[0])
    sessions = load_sessions({"paths": [str(tmp_path / "runs" / "synthetic" / "video-tiny")]})
    files = sorted(p for p in folder.iterdir() if p.suffix != ".zip")
    assert [p.name for p in files] == sorted(["predictions_live_main.parquet.brotli",
                                              "predictions_final_main.parquet.brotli",
                                              "predictions_live_test_bonus_ood.parquet.brotli",
                                              "predictions_final_test_bonus_ood.parquet.brotli"])
    assert all(validate_submission(path, sessions) == [] for path in files)
