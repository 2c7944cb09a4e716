"""The trainable's per-worker session cache: one load per data config, reused by the trials after it."""
from __future__ import annotations

from search import trainable
from sensorium_models.data.synthetic import synthesize


def test_sessions_are_loaded_once_per_data_config_and_replaced_by_the_next(tmp_path):
    (session,) = synthesize(tmp_path / "data", "static", "tiny")
    config = {"paths": [str(session)], "cache_dir": str(tmp_path / "cache")}
    first = trainable.sessions_for(config, 0)
    assert trainable.sessions_for(dict(config), 0) is first  # an equal config is a cache hit
    other = trainable.sessions_for({**config, "scale": 0.125}, 0)
    assert other is not first and other[0].stimuli.shape[-2:] == (18, 32)
    assert len(trainable._sessions) == 1  # only the latest data stays in the worker's memory
    assert trainable.sessions_for(config, 0) is not first  # reloaded after being replaced


def test_running_best_keeps_the_better_value_and_ignores_non_finite_ones():
    nan = float("nan")
    assert trainable.running_best(None, 0.2, "max") == 0.2
    assert trainable.running_best(0.2, 0.1, "max") == 0.2 and trainable.running_best(0.2, 0.3, "max") == 0.3
    assert trainable.running_best(0.2, 0.1, "min") == 0.1
    assert trainable.running_best(0.2, nan, "max") == 0.2 and trainable.running_best(0.2, None, "max") == 0.2
    first = trainable.running_best(None, nan, "max")
    assert first != first and trainable.running_best(first, 0.1, "max") == 0.1  # a NaN start gives way
