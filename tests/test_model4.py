"""Model 4 as published: its behaviour normalisation, and its shipped configs training and predicting."""
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from data_builders import static_parts, video_parts, write
from sensorium_models.data import load_sessions
from sensorium_models.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_model4_behaviour_normalisation_values(tmp_path):
    parts = static_parts()
    folder = write(parts, tmp_path, "static")
    cache = {"paths": [str(folder)], "cache_dir": str(tmp_path / "cache")}
    (model4,) = load_sessions({**cache, "behavior_normalization": "model4"})
    (reference,) = load_sessions(cache)
    raw = np.stack(parts["data"]["behavior"]).astype(np.float64)
    low, high = raw.min(axis=0), raw.max(axis=0)
    std = parts["statistics"]["behavior"]["std"]
    assert low[2] < 0 < high[2]  # running is signed here, so the |x| matters
    expected = np.column_stack([(raw[:, 0] - low[0]) / (high[0] - low[0]), raw[:, 1] / std[1],
                                np.abs(raw[:, 2]) / max(-low[2], high[2])])
    np.testing.assert_allclose(model4.behavior, expected, rtol=1e-5)
    assert model4.behavior[:, 0].min() == 0 and model4.behavior[:, 0].max() == pytest.approx(1)
    np.testing.assert_allclose(reference.behavior, raw / std, rtol=1e-5)  # the default is untouched
    np.testing.assert_array_equal(model4.responses, reference.responses)
    assert model4.cache_entry != reference.cache_entry


def test_zeroed_behaviour_stays_zero_and_video_is_refused(tmp_path):
    parts = static_parts()
    parts["data"]["behavior"] = [np.zeros(3, np.float32) for _ in parts["data"]["behavior"]]
    parts["statistics"]["behavior"] = {k: np.zeros(3) for k in parts["statistics"]["behavior"]}
    folder = write(parts, tmp_path / "zeroed", "static")  # as the SENSORIUM-track session ships it
    (session,) = load_sessions({"paths": [str(folder)], "cache_dir": str(tmp_path / "cache"),
                                "behavior_normalization": "model4"})
    np.testing.assert_array_equal(session.behavior, 0)

    video = write(video_parts(), tmp_path / "video", "video")
    with pytest.raises(UserError, match="data.behavior_normalization: 'model4' scales the 2022 static"):
        load_sessions({"paths": [str(video)], "cache_dir": str(tmp_path / "cache"),
                       "behavior_normalization": "model4"})


def test_model4_train_config_builds_trains_and_predicts_at_tiny_size(tmp_path, capsys):
    from search.cli import main

    config = yaml.safe_load((ROOT / "configs/train/model4_2022.yaml").read_text())
    assert len(config["data"]["paths"]) == 6 and not any("26872-17-20" in p for p in config["data"]["paths"])
    assert config["model"] == {"preset": "model4"}
    config["data"].update(paths=[str(write(static_parts(), tmp_path, "static"))], cache_dir=str(tmp_path / "c"))
    config["trainer"].update(max_epochs=1, device="cpu")
    path = tmp_path / "model4.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--seed", "100", "--out", str(tmp_path / "out")]) == 0
    assert "best validation correlation" in capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert summary["epochs"] == 1 and np.isfinite(summary["history"][0]["loss"])
    test_rows = [row for row in summary["scores"] if row["tier"] == "test"]
    assert test_rows and all(np.isfinite(row["single_trial_corr"]) for row in test_rows)
    stored = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert stored["model"]["state_inputs"] == ["network"] and stored["model"]["history_lags"] == [1, 2, 5, 10, 30]
