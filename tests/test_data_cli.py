"""``sensorium-search data inspect``: what it reports, as text and as JSON."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from data_builders import static_parts, video_parts, write
from search.cli import main


def test_inspect_json_reports_tiers_shapes_and_order(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = write(static_parts(), tmp_path, "static", key="26872-17-20")
    assert main(["data", "inspect", str(folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "static" and summary["key"] == "26872-17-20"
    assert summary["trials_per_tier"] == {"final_test": 2, "test": 4, "train": 20, "validation": 4}
    assert summary["neurons"] == 7
    assert summary["stimulus_shape"] == [1, 36, 64]
    assert summary["modalities"] == {"images": [1, 36, 64], "responses": [7], "behavior": [3], "pupil_center": [2]}
    assert summary["presentation_order"] is True and summary["valid_frames"] is None


def test_inspect_text_lists_every_session_of_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write(static_parts(), tmp_path / "sessions", "static")
    write(video_parts(), tmp_path / "sessions", "video")
    assert main(["data", "inspect", str(tmp_path / "sessions")]) == 0
    out = capsys.readouterr().out
    assert "(video, key dynamic11111-1-1-Video-" in out and "(static, key 11111-1-1)" in out
    assert "trials: 12 (final_test_bonus 1, final_test_main 1, live_test_main 1, none 1, oracle 2, train 6)" in out
    assert "videos: per trial (40, 36, 64)" in out and "valid frames per trial: 25 to 40" in out
    assert out.count("presentation order: not recoverable") == 1
    assert out.count("presentation order: recovered") == 1


def test_synth_writes_sessions_that_inspect_reads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "synthetic"
    assert main(["data", "synth", "--kind", "static", "--out", str(out), "--sessions", "2", "--trials", "60",
                 "--neurons", "9", "--seed", "3"]) == 0
    written = capsys.readouterr().out.split()
    assert len(written) == 2 and all(Path(folder).parent == out for folder in written)
    assert main(["data", "inspect", str(out), "--json"]) == 0
    summaries = json.loads(capsys.readouterr().out)
    assert [s["path"] for s in summaries] == sorted(written)
    assert all(s["trials"] == 60 and s["neurons"] == 9 and s["kind"] == "static" for s in summaries)


def test_inspect_prints_the_quirk_counts_of_a_synthetic_video_release(tmp_path, monkeypatch, capsys):
    from sensorium_models.data.ground_truth import load_ground_truth

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["data", "synth", "--kind", "video", "--out", str(tmp_path / "video")]) == 0
    old, new = (Path(p) for p in capsys.readouterr().out.split())
    assert main(["data", "inspect", str(tmp_path / "video"), "--json"]) == 0
    captured = capsys.readouterr()
    summaries = {s["name"]: s for s in json.loads(captured.out)}
    for folder in (old, new):
        truth, quirks = load_ground_truth(folder), summaries[folder.name]["quirks"]
        read = ~np.isin(np.load(folder / "meta/trials/tiers.npy"), ["none"])
        assert quirks["trials_cut"] == int(((truth["dropouts"][:, 0] >= 0) & read).sum()) >= 1
        assert quirks["none_skipped"] == int((~read).sum()) and quirks["hidden_trials"] == int(truth["hidden"].sum())
    assert summaries[old.name]["hidden_tiers"] == [] and quirks["none_skipped"] == 0
    assert len(summaries[new.name]["hidden_tiers"]) == 4 and summaries[old.name]["quirks"]["none_skipped"] == 3
    assert captured.err.count("cut at its first NaN") == 2
    assert main(["data", "inspect", str(old)]) == 0
    text = capsys.readouterr().out
    assert "hidden test responses: none" in text and "3 'none' trials skipped" in text
